"""`minisora eval --model DIR --n 200 --split heldout`: judge a model on prompts it never saw.

Each sample i draws a scene from the split with a fixed seed, writes a short user-style prompt for it,
generates with the pipeline's default settings and seed `seed + i`, and asks the judge whether every
attribute the prompt states is visible in the clip. Prints the per-attribute table, writes a JSON
report and a PNG contact sheet, and exits 1 when a quality bar is missed.

With `--tasks N` (default 20; 0 skips) it also measures the frame-conditioned tasks on N held-out
scenes: image-to-video (PSNR of the generated first frame against the given image; the judge on the
continuation) and extension (the frame difference across the joint, as a ratio of the mean frame
difference inside the two clips). `determinism` regenerates sample 0 and compares bytes.

`--seed 0,1,2` runs the whole evaluation once per seed (a prompt set and its sampling seeds each) into
`<out-dir>/seed_<s>/`, then prints and writes (`summary.json`) each barred figure's mean over the seeds,
its worst seed and every seed's value; the bars are judged on the mean (minisora/eval/seeds.py).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
import sys
import time
from pathlib import Path

import numpy as np

from minisora.eval.bars import BARS, bar_mark, barred_values, verdicts as judge_bars
from minisora.eval.seeds import combine_seeds, seed_list, summary_lines
from minisora.eval.tables import (by_object_count, by_window, contact_sheet, pooled_table, seam_ratio,
                                  unmapped_words)

SPLITS = ("train", "heldout", "any")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from minisora.cli import thread_count

    parser.add_argument("--model", default=None, metavar="DIR", help="model folder (default: bundled minisora-tiny)")
    parser.add_argument("--n", type=int, default=200, help="number of prompts (default 200)")
    parser.add_argument("--split", choices=SPLITS, default="heldout", help="scene split the prompts come from")
    parser.add_argument("--seed", type=seed_list, default=[0], metavar="S[,S...]",
                        help="prompt i uses scene seed (seed, i) and sampling seed seed + i; several seeds (0,1,2) "
                             "each run in full into <out-dir>/seed_<s>/, then summary.json: the mean and worst seed")
    parser.add_argument("--sizes", default=None, metavar="WxH[,WxH...]",
                        help="cycle through these sizes (default: the model's default size)")
    parser.add_argument("--frames", type=int, default=None,
                        help="frames per clip (default: the model's; longer than its window = window by window)")
    parser.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's)")
    parser.add_argument("--guidance", type=float, default=None, help="guidance scale (default: the model's)")
    parser.add_argument("--no-rewrite", action="store_true", help="feed prompts to the text encoder unrewritten")
    parser.add_argument("--tasks", type=int, default=20, help="scenes for the image-to-video and extension checks (0 = skip)")
    parser.add_argument("--out-dir", default="outputs/eval", help="where report.json and samples.png go (summary.json too with several seeds)")
    parser.add_argument("--sheet", type=int, default=24, help="samples shown in the contact sheet")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes generating in parallel (each loads the model; results do not depend on it)")
    parser.add_argument("--threads", type=thread_count, default=1,
                        help="torch CPU threads (default 1: sampling runs small ops, where a second OpenMP "
                             "thread gains little alone and loses up to 10x on a busy CPU; 0 = torch's default)")


def _sizes(text: str | None, pipe) -> list[tuple[int, int]]:
    from minisora.sizes import parse_size

    if not text:
        d = pipe.index.defaults
        return [(d.height, d.width)]
    out = []
    for part in text.split(","):
        out.append(parse_size(part))  # (H, W)
    return out


@dataclass
class Judged:
    """What the report keeps of one judged clip (picklable across worker processes)."""

    checks: dict
    flicker: float
    accuracy: float


_STATE: dict = {}


def _init(model: str | None, threads: int) -> None:
    import torch

    from minisora.pipeline import Pipeline

    if threads:
        torch.set_num_threads(threads)
    _STATE["pipe"] = Pipeline.from_pretrained(model, load=True)


def _t2v_job(job: tuple) -> tuple:
    """Sample i: scene (seed, i) of the split -> prompt -> clip (seed + i) -> judge."""
    from minisora.world.captions import write_prompt
    from minisora.world.scenes import sample_scene
    from minisora.long_clips import window_spans
    from minisora.world.judge import judge

    i, seed, split, (h, w), gen_kw = job
    rng = np.random.default_rng((seed, i))
    spec = sample_scene(rng, split=split)
    prompt = write_prompt(spec, rng)
    out = _STATE["pipe"](prompt, seed=seed + i, height=h, width=w, **gen_kw)
    res = judge(out.frames, prompt, fps=out.fps)
    unmapped = list((out.rewrite or {}).get("unmapped") or [])  # prompt words the rewriter could not place
    sample = {"i": i, "prompt": prompt, "caption": out.caption, "seed": out.seed, "size": [h, w], "unmapped": unmapped,
              "accuracy": res.accuracy, "flicker": res.flicker, "checks": {k: bool(v) for k, v in res.checks.items()}}
    spans = window_spans(out.settings)
    if len(spans) > 1:  # a clip longer than the training window: the judge on each window as well
        sample["windows"] = [{"span": [a, b], "checks": {k: bool(v) for k, v in
                                                         judge(out.frames[a:b], prompt, fps=out.fps).checks.items()}}
                             for a, b in spans]
    return sample, Judged(sample["checks"], res.flicker, res.accuracy), out.frames, out.timings["total"]


def _task_job(job: tuple) -> tuple:
    """Image-to-video from a rendered first frame, then a forward extension of the result."""
    from minisora.io import unit_to_pixels
    from minisora.world.captions import write_prompt
    from minisora.world.render import render
    from minisora.world.scenes import sample_scene
    from minisora.world.judge import judge

    from minisora.eval.metrics import psnr

    j, seed, split, gen_kw = job
    pipe = _STATE["pipe"]
    d = pipe.index.defaults
    rng = np.random.default_rng((seed, 10_000 + j))
    spec = sample_scene(rng, split=split)
    prompt = write_prompt(spec, rng)
    truth = render(spec, d.height, d.width, d.num_frames, fps=d.fps)  # T, H, W, 3
    i2v = pipe(prompt, image=truth[0], seed=seed + j, return_latents=True, **gen_kw)
    decoded0 = pipe.vae.decode(i2v.latents[:, :, :1])  # the VAE's own rendition of the given frame
    decoded0 = unit_to_pixels(decoded0[0, :, 0].permute(1, 2, 0)).numpy()  # H, W, 3
    ext = pipe(prompt, video=i2v.frames, extend="forward", seed=seed + j, **gen_kw)
    return (psnr(i2v.frames[0], truth[0]), judge(i2v.frames, prompt, fps=i2v.fps).accuracy,
            seam_ratio(i2v.frames, ext.frames),
            judge(np.concatenate([i2v.frames, ext.frames]), prompt, fps=ext.fps).accuracy,
            psnr(decoded0, truth[0]), seam_ratio(i2v.frames[:1], i2v.frames[1:]))


def _map(fn, jobs: list, workers: int, init_args: tuple, desc: str, quiet: bool):
    """fn over jobs in order, in this process or in `workers` processes."""
    from tqdm import tqdm

    if workers <= 1:
        if "pipe" not in _STATE:
            _init(*init_args)
        return [fn(j) for j in tqdm(jobs, desc=desc, disable=quiet)]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, initializer=_init, initargs=init_args) as pool:
        return list(tqdm(pool.map(fn, jobs), total=len(jobs), desc=desc, disable=quiet))


def _evaluate_seed(args: argparse.Namespace, pipe, sizes: list, seed: int, out_dir: Path) -> dict:
    """One seed's evaluation: prints its table, writes report.json and samples.png into out_dir and
    returns the report (with the barred figures under "values")."""
    t_all = time.perf_counter()
    d = pipe.index.defaults
    gen_kw = dict(num_frames=args.frames, num_inference_steps=args.steps, guidance_scale=args.guidance,
                  rewrite=not args.no_rewrite, progress=False)
    out_dir.mkdir(parents=True, exist_ok=True)

    # 1. text-to-video on held-out prompts -------------------------------------------------------
    init_args = (args.model, args.threads)
    _STATE["pipe"] = pipe
    rows = _map(_t2v_job, [(i, seed, args.split, sizes[i % len(sizes)], gen_kw) for i in range(args.n)],
                args.workers, init_args, f"eval ({args.split}, seed {seed})", args.quiet)
    samples = [r[0] for r in rows]
    results = [r[1] for r in rows]
    sheet_rows = [r[2] for r in rows[:args.sheet]]
    gen_times = [r[3] for r in rows]
    table = pooled_table(results)

    # 2. determinism: sample 0 again, same settings, compare bytes -------------------------------
    again = _t2v_job((0, seed, args.split, sizes[0], gen_kw))
    deterministic = bool(np.array_equal(again[2], rows[0][2]))

    # 3. frame-conditioned tasks -------------------------------------------------------------------
    tasks: dict[str, float | None] = {"i2v_psnr_frame0": None, "i2v_accuracy": None, "extend_seam_ratio": None,
                                      "extend_seam_ratio_max": None, "extend_accuracy": None}
    if args.tasks > 0:
        got = _map(_task_job, [(j, seed, args.split, gen_kw) for j in range(args.tasks)], args.workers,
                   init_args, f"eval tasks (seed {seed})", args.quiet)
        psnrs, i2v_acc, seams, ext_acc, psnr_dec, first_step = (np.array(c, dtype=float) for c in zip(*got))
        tasks = {"i2v_psnr_frame0": float(np.mean(psnrs)), "i2v_psnr_frame0_min": float(np.min(psnrs)),
                 "i2v_psnr_frame0_vae_decoded": float(np.mean(psnr_dec)),
                 "i2v_frame0_to_1_ratio": float(np.mean(first_step)),
                 "i2v_accuracy": float(np.mean(i2v_acc)), "extend_seam_ratio": float(np.mean(seams)),
                 "extend_seam_ratio_max": float(np.max(seams)), "extend_accuracy": float(np.mean(ext_acc))}

    # 4. verdicts, table, report ---------------------------------------------------------------------
    split = by_object_count(results)
    values = barred_values(table, split, tasks)
    verdicts = judge_bars(values)
    print(f"\nminisora eval: {args.n} {args.split} prompts, seed {seed}, model {pipe.folder}, sizes "
          f"{', '.join(f'{w}x{h}' for h, w in sizes)}, {args.frames or d.num_frames} frames, "
          f"steps {args.steps or d.num_inference_steps}, guidance {args.guidance or d.guidance_scale}")
    print(f"{'attribute':<22s} {'score':>8s} {'n':>6s}  bar")
    for k, row in table.items():
        print(f"{k:<22s} {row['score']:8.3f} {row['stated']:6d}  {bar_mark(k, verdicts.get(k))}")
    three = split.get("motion", {}).get(3, {"stated": 0})
    v3 = values["motion_3_objects"]
    print(f"{'motion_3_objects':<22s} {'-' if v3 is None else f'{v3:8.3f}':>8s} {three['stated']:6d}  "
          f"{bar_mark('motion_3_objects', verdicts['motion_3_objects'])}")
    for k, v in tasks.items():
        print(f"{k:<22s} {'-' if v is None else f'{v:8.3f}':>8s} {args.tasks:6d}  {bar_mark(k, verdicts.get(k))}")
    counts = sorted({n for rows in split.values() for n in rows})
    if counts:
        print("by objects in the prompt  " + "  ".join(f"{n:>9d}" for n in counts))
        for t, rows in split.items():
            print(f"  {t:<22s}  " + "  ".join(f"{rows[n]['score']:5.3f}/{rows[n]['stated']:<3d}" if n in rows
                                               else f"{'-':>9s}" for n in counts))
    windows = by_window(samples)
    if windows:
        print("by window (judged alone)" + "  ".join(f"{n:>9d}" for n in range(len(next(iter(windows.values()))))))
        for t, rows in windows.items():
            print(f"  {t:<22s}  " + "  ".join(f"{r['score']:5.3f}/{r['stated']:<3d}" if r['stated'] else f"{'-':>9s}"
                                               for r in rows))
    unmapped = unmapped_words(samples)
    print(f"{'unmapped words':<22s} {sum(unmapped.values()):8d}  in {sum(bool(s['unmapped']) for s in samples)} "
          f"prompts{': ' + ', '.join(f'{w} x{n}' for w, n in unmapped.most_common(8)) if unmapped else ''}")
    print(f"{'deterministic':<22s} {str(deterministic):>8s}")
    print(f"{'seconds per clip':<22s} {np.mean(gen_times):8.2f} (median {np.median(gen_times):.2f})")

    sheet_path = out_dir / "samples.png"
    from PIL import Image

    Image.fromarray(contact_sheet(sheet_rows)).save(sheet_path)
    report = {"model": str(pipe.folder), "split": args.split, "n": args.n, "seed": seed,
              "sizes": [[h, w] for h, w in sizes], "settings": {"num_frames": args.frames or d.num_frames,
                                                                "steps": args.steps or d.num_inference_steps,
                                                                "guidance": args.guidance or d.guidance_scale,
                                                                "rewrite": not args.no_rewrite},
              "table": table, "by_objects": split, "by_window": windows, "tasks": tasks,
              "bars": {k: list(v) for k, v in BARS.items()}, "values": values, "verdicts": verdicts,
              "missed": sorted(k for k, v in verdicts.items() if v is False),
              "not_measured": sorted(k for k, v in verdicts.items() if v is None), "deterministic": deterministic,
              "unmapped_words": dict(unmapped.most_common()),
              "seconds_per_clip": float(np.mean(gen_times)), "wall_s": round(time.perf_counter() - t_all, 1),
              "samples": samples}
    _write_json(out_dir / "report.json", report)
    print(f"report: {out_dir / 'report.json'}\nsheet:  {sheet_path}")
    return report


def _write_json(path: Path, body: dict) -> None:
    from minisora.weights import atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(body, indent=2) + "\n").encode())


def _exit_code(missed: list[str], deterministic: bool, not_measured: list[str]) -> int:
    if missed or not deterministic:
        print(f"bars missed: {', '.join(missed) if missed else ''}{'' if deterministic else ' determinism'}")
        return 1
    if not_measured:
        print(f"not measured: {', '.join(not_measured)}")
    return 0


def run(args: argparse.Namespace) -> int:
    import torch

    from minisora.generation_checks import SEED_RANGE
    from minisora.pipeline import Pipeline

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.n < 1:
        print(f"minisora eval: --n must be >= 1, got {args.n}", file=sys.stderr)
        return 2
    seeds = args.seed
    if max(seeds) + max(args.n, args.tasks) - 1 > SEED_RANGE[1]:  # prompt i samples with seed + i
        print(f"minisora eval: --seed {max(seeds)} with --n {args.n} and --tasks {args.tasks} would sample with "
              f"seeds past {SEED_RANGE[1]}: use seeds up to {SEED_RANGE[1] - max(args.n, args.tasks) + 1}",
              file=sys.stderr)
        return 2
    try:
        pipe = Pipeline.from_pretrained(args.model, load=True)
        sizes = _sizes(args.sizes, pipe)
    except (ValueError, FileNotFoundError) as e:
        print(f"minisora eval: {e}", file=sys.stderr)
        return 2
    out_dir = Path(args.out_dir)
    if len(seeds) == 1:  # one seed: report.json and samples.png straight in --out-dir, as always
        report = _evaluate_seed(args, pipe, sizes, seeds[0], out_dir)
        return _exit_code(report["missed"], report["deterministic"], report["not_measured"])

    reports = {s: _evaluate_seed(args, pipe, sizes, s, out_dir / f"seed_{s}") for s in seeds}
    summary = combine_seeds({s: r["values"] for s, r in reports.items()},
                            {s: r["deterministic"] for s, r in reports.items()})
    summary.update(model=str(pipe.folder), split=args.split, n=args.n,
                   reports={str(s): str(out_dir / f"seed_{s}" / "report.json") for s in seeds})
    print()
    print("\n".join(summary_lines(summary)))
    _write_json(out_dir / "summary.json", summary)
    print(f"summary: {out_dir / 'summary.json'}")
    return _exit_code(summary["missed"], summary["all_deterministic"], summary["not_measured"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="minisora eval", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
