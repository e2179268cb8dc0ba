"""Benchmark: the prompt rewriter on free prompts written outside the project, each with its truth;
prints its figures last and exits non-zero when a bar is missed.

`bench/data/freeform_*.jsonl`: sets of prompts written by a separate writer (a language model shown
only what the world draws, "short clips of simple coloured shapes moving around", asked to write as
several kinds of users, and never shown this repository), each prompt with the objects, background
and bar it asks for. Unlike the paraphrase set (`bench/paraphrase.py`), nothing here was generated
from rules: slang, typos, key-value specs, references back ("the first one"), poetry. About one
prompt in eight asks for more than the world holds (four objects, a pink and a red circle, hexagons);
those are scored for crashes and invented objects only. `bench/data/freeform_brief.md` is the brief the
writer got (plus a line naming the kinds of users); a new set written from it is scored on arrival with
`python bench/freeform.py NEW.jsonl`, before any rule is written from it.

Figures per set and pooled:
- prompts whose rewrite keeps every stated attribute (of those the world can hold), and the share of
  attributes kept (the caption's parse against the truth, objects matched as `check_caption` does);
- invented objects: captions with more objects than the prompt asks for;
- crashes: any exception.
Bars (issue 33's, applied to this harder set too): kept >= 0.98, 0 invented objects, 0 crashes.

Usage: python bench/freeform.py [--show-misses] [SET.jsonl ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from minisora.text.backends import load_rewriter
from minisora.world import vocabulary as V
from minisora.world.rules import check_caption
from minisora.world.scene import ParsedObject, ParsedScene

DATA = Path(__file__).parent / "data"
BAR_KEPT = 0.98


def truth_scene(row: dict) -> ParsedScene:
    objects = [ParsedObject(**{k: o.get(k) for k in ParsedObject.FIELDS}) for o in row["objects"]]
    return ParsedScene(objects=objects, background=row.get("background"), occluder=row.get("occluder"),
                       count=len(objects) or None)


def fits_world(scene: ParsedScene) -> bool:
    colors = [o.color for o in scene.objects if o.color]
    return 1 <= len(scene.objects) <= V.MAX_OBJECTS and len(set(colors)) == len(colors)


def score_set(rewriter, rows: list[dict], show: bool) -> dict:
    out = {"prompts": len(rows), "crashes": 0, "invented": 0, "feasible": 0, "all_kept": 0, "attrs": 0, "attrs_kept": 0}
    for row in rows:
        truth = truth_scene(row)
        try:
            res = rewriter.rewrite(row["prompt"], seed=0)
        except Exception as e:  # noqa: BLE001 - any exception is what this bench counts
            out["crashes"] += 1
            if fits_world(truth):  # a prompt the world can show that gets no video keeps nothing
                out["feasible"] += 1
                out["attrs"] += len(truth.attributes())
            if show:
                print(f"  CRASH {row['prompt']!r}: {type(e).__name__}: {e}")
            continue
        if len(res.scene.objects) > max(len(truth.objects), 1):
            out["invented"] += 1
            if show:
                print(f"  INVENTED {row['prompt']!r}\n      -> {res.caption!r}")
        if not fits_world(truth):
            continue
        out["feasible"] += 1
        check = check_caption(truth, res.scene)
        out["attrs"] += len(check.kept) + len(check.lost)
        out["attrs_kept"] += len(check.kept)
        out["all_kept"] += not check.lost
        if show and check.lost:
            print(f"  LOST {check.lost} {row['prompt']!r}\n      -> {res.caption!r} (unmapped {res.unmapped})")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show-misses", action="store_true", help="print every prompt that misses")
    parser.add_argument("sets", nargs="*", type=Path,
                        help="JSON-lines prompt sets to score (default: bench/data/freeform_*.jsonl); a new set "
                             "is scored here on arrival, before any rule is written from it")
    args = parser.parse_args(argv)
    sets = args.sets or sorted(DATA.glob("freeform_*.jsonl"))
    missing = [str(p) for p in sets if not p.is_file()]
    if not sets or missing:
        print(f"no prompt set at {', '.join(missing) or DATA / 'freeform_*.jsonl'}")
        return 2
    rewriter = load_rewriter("builtin")
    pooled: dict[str, int] = {}
    lines = []
    for path in sets:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if args.show_misses:
            print(path.name)
        got = score_set(rewriter, rows, args.show_misses)
        for k, v in got.items():
            pooled[k] = pooled.get(k, 0) + v
        lines.append((path.stem, got))
    lines.append(("pooled", pooled))
    print(f"\n{'set':14s} {'prompts':>7s} {'crashes':>7s} {'invented':>8s} {'all kept':>15s} {'attributes kept':>17s}")
    for name, g in lines:
        share = g["all_kept"] / max(g["feasible"], 1)
        attrs = g["attrs_kept"] / max(g["attrs"], 1)
        print(f"{name:14s} {g['prompts']:7d} {g['crashes']:7d} {g['invented']:8d} "
              f"{g['all_kept']:4d}/{g['feasible']:<4d} {share:.3f} {attrs:17.3f}")
    share = pooled["all_kept"] / max(pooled["feasible"], 1)
    bars = [("prompts keeping every stated attribute", f"{share:.3f}", f">= {BAR_KEPT}", share >= BAR_KEPT),
            ("invented objects", str(pooled["invented"]), "== 0", pooled["invented"] == 0),
            ("crashes", str(pooled["crashes"]), "== 0", pooled["crashes"] == 0)]
    print()
    for name, value, bar, ok in bars:
        print(f"{name:40s} {value:>8s}   bar {bar:8s} {'PASS' if ok else 'MISSED'}")
    return 0 if all(ok for *_, ok in bars) else 1


if __name__ == "__main__":
    sys.exit(main())
