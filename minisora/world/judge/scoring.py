"""Scoring: an analysis against what was stated (a SceneSpec or a prompt/caption)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from minisora.world.spec import SceneSpec
from minisora.world.judge.analysis import analyze
from minisora.world.judge.objects import Analysis, SeenObject


@dataclass
class JudgeResult:
    """Per-attribute verdicts for one clip against one target.

    checks: {"obj0.color": True, ..., "count": True, "background": False, ...}, only stated attributes.
    per_type: share of checks passed per attribute type (color, shape, size, motion, speed, count,
    background, occluder, permanence), for the types that were stated.
    accuracy: share of all checks passed (0.0 when nothing was stated).
    flicker: background flicker score in [0, 1] (1 = perfectly steady).
    """

    checks: dict[str, bool]
    per_type: dict[str, float]
    accuracy: float
    flicker: float
    analysis: Analysis
    matching: dict[int, str | None]  # stated object index -> colour of the object it was matched to
    unknown_words: list[str] = field(default_factory=list)  # words of a text target the parser skipped

    def summary(self) -> str:
        lines = [f"accuracy {self.accuracy:.3f}  flicker {self.flicker:.4f}"]
        if self.unknown_words:
            lines.append(f"  (not scored, unknown words: {' '.join(self.unknown_words)})")
        lines += [f"  {k:<20s} {'ok' if v else 'WRONG'}" for k, v in self.checks.items()]
        return "\n".join(lines)



# ----------------------------------------------------------------------------------------------
# Targets: what was stated.
# ----------------------------------------------------------------------------------------------
@dataclass
class _Stated:
    objects: list[dict]  # keys color, shape, size, motion, speed; None = unstated
    background: str | None
    occluder: bool | None
    count: int | None
    occluder_stated: bool  # False for a spec without occluder: absence was not said, only implied
    unknown_words: list[str] = field(default_factory=list)


def _stated_from_spec(spec: SceneSpec) -> _Stated:
    objs = [{"color": o.color, "shape": o.shape, "size": o.size, "motion": o.motion,
             "speed": None if o.motion == "still" else o.speed} for o in spec.objects]
    return _Stated(objs, spec.background, spec.occluder is not None, len(spec.objects), spec.occluder is not None)


def _stated_from_text(text: str) -> _Stated:
    from minisora.world.grammar import parse

    p = parse(text)
    objs = []
    for o in p.objects:
        d = {k: getattr(o, k) for k in ("color", "shape", "size", "motion", "speed")}
        if d["motion"] == "still":
            d["speed"] = None
        objs.append(d)
    return _Stated(objs, p.background, p.occluder, p.count, p.occluder is not None, list(p.unknown_words))


def _object_checks(st: dict, seen: SeenObject | None, permanence: bool) -> dict[str, bool]:
    out: dict[str, bool] = {}
    if st["color"] is not None:
        out["color"] = seen is not None and seen.color == st["color"]
    for key, val in (("shape", seen and seen.shape), ("size", seen and seen.size),
                     ("motion", seen and seen.motion), ("speed", seen and seen.speed_class)):
        if st[key] is not None:
            out[key] = seen is not None and val == st[key]
    if permanence:
        out["permanence"] = bool(seen is not None and seen.permanent)
    return out


def score(analysis: Analysis, target: SceneSpec | str) -> JudgeResult:
    """Score a measured clip against a spec or a prompt/caption (only stated attributes count)."""
    if isinstance(target, SceneSpec):
        st = _stated_from_spec(target)
    elif isinstance(target, str):
        st = _stated_from_text(target)
    else:
        raise TypeError(f"target must be a SceneSpec or a prompt string, got {type(target).__name__}")
    check_perm = bool(st.occluder) and analysis.occluder
    # With an occluder stated but none in the clip, permanence cannot be shown: it fails.
    perm_fail = bool(st.occluder) and not analysis.occluder

    seen = analysis.objects
    n = len(st.objects)
    best: tuple[int, tuple] | None = None
    # Assign stated objects to distinct seen objects (or none); a stated colour pins the match.
    choices = list(range(len(seen))) + [None] * n
    for assign in set(itertools.permutations(choices, n)):
        ok = True
        total = 0
        for i, j in enumerate(assign):
            if st.objects[i]["color"] is not None and j is not None and seen[j].color != st.objects[i]["color"]:
                ok = False
                break
            c = _object_checks(st.objects[i], None if j is None else seen[j], check_perm)
            total += sum(c.values())
        if ok and (best is None or total > best[0]):
            best = (total, assign)
    assign = best[1] if best is not None else (None,) * n

    checks: dict[str, bool] = {}
    matching: dict[int, str | None] = {}
    for i, j in enumerate(assign):
        obj = None if j is None else seen[j]
        matching[i] = None if obj is None else obj.color
        for k, v in _object_checks(st.objects[i], obj, check_perm).items():
            checks[f"obj{i}.{k}"] = v
        if perm_fail:
            checks[f"obj{i}.permanence"] = False
    if st.count is not None:
        checks["count"] = len(seen) == st.count
    if st.background is not None:
        checks["background"] = analysis.background == st.background
    # A spec without an occluder states nothing about one (absence is no attribute), so the check
    # exists when the target has one, the clip shows one, or a text says "no occluder".
    if st.occluder or (st.occluder is not None and (st.occluder_stated or analysis.occluder)):
        checks["occluder"] = analysis.occluder == bool(st.occluder)

    per: dict[str, list[bool]] = {}
    for k, v in checks.items():
        per.setdefault(k.split(".")[-1], []).append(v)
    per_type = {k: float(np.mean(v)) for k, v in per.items()}
    accuracy = float(np.mean(list(checks.values()))) if checks else 0.0
    return JudgeResult(checks=checks, per_type=per_type, accuracy=accuracy, flicker=analysis.flicker,
                       analysis=analysis, matching=matching, unknown_words=st.unknown_words)


def judge(video, target: SceneSpec | str, fps: float = 8.0) -> JudgeResult:
    """Judge a uint8 (T, H, W, 3) clip against a SceneSpec or a prompt/caption."""
    return score(analyze(video, fps=fps), target)
