"""Self-test: the judge measured on rendered ground truth (`python -m minisora.world.judge.selftest --selftest`)."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from scipy import ndimage

from minisora.world import vocabulary as V
from minisora.world.spec import ObjectSpec, OccluderSpec, SceneSpec
from minisora.world.judge.analysis import analyze
from minisora.world.judge.objects import ATTRIBUTE_TYPES
from minisora.world.judge.scoring import JudgeResult, judge, score

# ----------------------------------------------------------------------------------------------
# Self-test: the judge measured on rendered ground truth.
# ----------------------------------------------------------------------------------------------
SELFTEST_SIZES = ((64, 64), (48, 80), (80, 48))  # (H, W)
SELFTEST_FRAMES = 17
SELFTEST_FPS = 8.0
BAR_CORRECT = 0.99  # every attribute type judged correct on ground truth
BAR_REJECT = 0.95  # a changed attribute is rejected, per type
BAR_JUNK = 0.20  # noise and blank clips score below this overall
DEGRADED_EVERY = 4  # the informative "degraded" column uses every 4th clip (keeps the run short)
CHANGE_TYPES = ("color", "shape", "size", "motion", "speed", "count", "background", "occluder", "permanence")


def _mp4_roundtrip(video: np.ndarray, fps: float) -> np.ndarray:
    """Encode to H.264 mp4 and decode again (the path every generated clip takes to disk)."""
    import tempfile
    from pathlib import Path

    from minisora.io import export_to_video, read_video

    with tempfile.TemporaryDirectory() as d:
        path = export_to_video(video, Path(d) / "clip.mp4", fps=fps)
        frames, _ = read_video(path)
    if frames.shape != video.shape:
        raise RuntimeError(f"mp4 round trip changed the clip shape {video.shape} -> {frames.shape}")
    return frames


def _replace(spec: SceneSpec, **kw) -> SceneSpec:
    return SceneSpec(objects=kw.get("objects", spec.objects), background=kw.get("background", spec.background),
                     occluder=kw.get("occluder", spec.occluder), meta=dict(spec.meta))


def _change(spec: SceneSpec, kind: str, rng: np.random.Generator) -> tuple[SceneSpec, str] | None:
    """The spec with one attribute of type `kind` changed, and the check key that must now fail.

    None when the change does not apply (e.g. speed of a scene whose objects are all still).
    """
    from dataclasses import replace

    objs = list(spec.objects)

    def pick(candidates: list[int]) -> int | None:
        return None if not candidates else int(candidates[int(rng.integers(len(candidates)))])

    def choose(options: list[str]) -> str:
        return options[int(rng.integers(len(options)))]

    if kind in ("color", "shape", "size", "motion", "speed"):
        idx = pick([i for i, o in enumerate(objs) if kind != "speed" or o.motion != "still"])
        if idx is None:
            return None
        o = objs[idx]
        if kind == "color":
            new = replace(o, color=choose([c for c in V.COLORS if c not in {p.color for p in objs}]))
        elif kind == "shape":
            new = replace(o, shape=choose([s for s in V.SHAPES if s != o.shape]))
        elif kind == "size":
            new = replace(o, size=choose([s for s in V.SIZES if s != o.size]))
        elif kind == "motion":
            motion = choose([m for m in V.MOTIONS if m != o.motion])
            new = replace(o, motion=motion)
            if motion == "still" or o.motion == "still":
                pass  # speed is not judged for still objects; the motion check is what must fail
        else:
            new = replace(o, speed=choose([s for s in V.SPEEDS if s != o.speed]))
        objs[idx] = new
        return _replace(spec, objects=tuple(objs)), f"obj{idx}.{kind}"
    if kind == "count":
        if len(objs) < V.MAX_OBJECTS and (len(objs) == 1 or rng.random() < 0.5):
            color = choose([c for c in V.COLORS if c not in {p.color for p in objs}])
            objs.append(ObjectSpec(color=color, shape=choose(list(V.SHAPES)), size=choose(list(V.SIZES)),
                                   motion=choose(list(V.MOTIONS)), speed=choose(list(V.SPEEDS)), x0=0.5, y0=0.5))
        else:
            objs.pop(int(rng.integers(len(objs))))
        return _replace(spec, objects=tuple(objs)), "count"
    if kind == "background":
        return _replace(spec, background=choose([b for b in V.BACKGROUNDS if b != spec.background])), "background"
    if kind == "occluder":
        occ = None if spec.occluder is not None else OccluderSpec(x=float(rng.uniform(0.2, 0.8)))
        return _replace(spec, occluder=occ), "occluder"
    raise ValueError(f"unknown change kind {kind!r}; valid: {', '.join(CHANGE_TYPES)}")


def _vanishing_clip(spec: SceneSpec, H: int, W: int) -> tuple[np.ndarray, str] | None:
    """A clip where one object that crosses the occluder never comes out again.

    The object is rendered normally until its centre reaches the bar, then removed (moved far off
    frame). Returns (clip, key of the permanence check that must fail), or None when no object
    crosses the bar and would come out, on screen and clear of the other objects, within the clip.
    """
    from dataclasses import replace

    from minisora.world.render import render, trajectory

    if spec.occluder is None:
        return None
    x0 = (spec.occluder.x - spec.occluder.width / 2) * W - 0.5
    x1 = (spec.occluder.x + spec.occluder.width / 2) * W - 0.5
    for i, o in enumerate(spec.objects):
        xs = trajectory(o, SELFTEST_FRAMES, SELFTEST_FPS, H, W)[:, 0]
        r = V.SIZES[o.size] * min(H, W)
        inside = np.nonzero((xs >= x0) & (xs <= x1))[0]
        # It must be seen in the open again afterwards in the honest clip (fully past the bar).
        if len(inside) == 0 or inside[0] < 2:
            continue
        after = xs[inside[0]:]
        moving_right = xs[-1] > xs[0]
        out_again = (after > x1 + r + 2) if moving_right else (after < x0 - r - 2)
        on_screen = (after > r + 2) & (after < W - r - 2)
        # ... and in the open: not overlapping another object (which could explain its absence).
        centres = trajectory(o, SELFTEST_FRAMES, SELFTEST_FPS, H, W)[inside[0]:]
        apart = np.ones(len(after), bool)
        for j, other in enumerate(spec.objects):
            if j != i:
                oc = trajectory(other, SELFTEST_FRAMES, SELFTEST_FPS, H, W)[inside[0]:]
                apart &= np.hypot(*(centres - oc).T) > r + V.SIZES[other.size] * min(H, W)
        if not (out_again & on_screen & apart).any():
            continue
        gone = replace(o, x0=-10.0, y0=-10.0, motion="still")  # far outside the frame: draws nothing
        honest = render(spec, H, W, SELFTEST_FRAMES, SELFTEST_FPS)
        objs = list(spec.objects)
        objs[i] = gone
        vanished = render(_replace(spec, objects=tuple(objs)), H, W, SELFTEST_FRAMES, SELFTEST_FPS)
        clip = np.concatenate([honest[: inside[0]], vanished[inside[0]:]], axis=0)
        return clip, f"obj{i}.permanence"
    return None


def degrade(video: np.ndarray, rng: np.random.Generator, blur: float = 0.7, cast: float = 12.0,
            grain: float = 5.0) -> np.ndarray:
    """A clip made to look like a small generator's output: soft edges (Gaussian blur of `blur`
    px), a colour cast (uniform in +-`cast` per channel) and grain (Gaussian noise, sigma `grain`)."""
    v = ndimage.gaussian_filter(video.astype(np.float32), sigma=(0, blur, blur, 0))  # (T, H, W, 3)
    v += rng.uniform(-cast, cast, size=3).astype(np.float32)
    v += rng.normal(0, grain, size=v.shape).astype(np.float32)
    return np.clip(v + 0.5, 0, 255).astype(np.uint8)


def _visible_turn(s: np.ndarray, delta: float) -> bool:
    """A reversal a viewer can see: after the turn the path runs back >= delta over >= 2 frames."""
    d = np.diff(s)
    for m in range(1, len(d)):
        if d[m] * d[0] < 0:  # first frame step against the initial direction
            return len(s) - 1 - m >= 2 and abs(s[m] - s[-1]) >= delta
    return False


def ill_posed(spec: SceneSpec, height: int, width: int, num_frames: int = SELFTEST_FRAMES,
              fps: float = SELFTEST_FPS) -> list[str]:
    """Why a rendered clip cannot show what its spec says (empty when it can), from the renderer:

    - an object less than a third visible (behind the bar or objects drawn later) in more than
      3/4 of the frames: nobody can see its attributes;
    - a "bouncing" object whose trajectory never visibly reverses within the clip (see
      _visible_turn): it is a straight move.
    Used by the self-test to tell the judge's errors from the data's.
    """
    from dataclasses import replace

    from minisora.world.render import render, trajectory

    def coverage(scene: SceneSpec) -> np.ndarray:  # (T, H, W) in [0, 1]: white on black
        frames = render(scene, height, width, num_frames, fps).astype(np.float32)[..., 0]
        lo, hi = V.BACKGROUNDS["black"][0], V.COLORS["white"][0]
        return np.clip((frames - lo) / (hi - lo), 0.0, 1.0)

    def white(o: ObjectSpec) -> ObjectSpec:
        return replace(o, color="white")

    gone = replace(spec.objects[0], x0=-10.0, y0=-10.0, motion="still")  # draws nothing
    bar = np.zeros((num_frames, height, width), np.float32)
    if spec.occluder is not None:
        frames = render(SceneSpec(objects=(gone,), background="black", occluder=spec.occluder),
                        height, width, num_frames, fps).astype(np.float32)
        lo = np.array(V.BACKGROUNDS["black"], np.float32)
        bar = np.clip(((frames - lo) @ (np.array(V.OCCLUDER_COLOR, np.float32) - lo))
                      / float(((np.array(V.OCCLUDER_COLOR, np.float32) - lo) ** 2).sum()), 0.0, 1.0)
    reasons = []
    for i, o in enumerate(spec.objects):
        own = coverage(SceneSpec(objects=(white(o),), background="black"))
        shown = own * (1.0 - bar)
        for later in spec.objects[i + 1:]:
            shown *= 1.0 - coverage(SceneSpec(objects=(white(later),), background="black"))
        share = shown.sum(axis=(1, 2)) / np.maximum(own.sum(axis=(1, 2)), 1e-6)  # (T,)
        if (share >= 1 / 3).mean() < 0.25:
            shown_frames = int((share >= 1 / 3).sum())
            reasons.append(f"obj{i} ({o.color}) hidden: a third visible in {shown_frames}/{num_frames} frames")
        if o.motion == "bouncing":
            xy = trajectory(o, num_frames, fps, height, width)
            if not any(_visible_turn(xy[:, ax], max(1.5, 0.04 * min(height, width))) for ax in range(2)):
                reasons.append(f"obj{i} ({o.color}) bouncing without a visible bounce")
    return reasons


def _describe_miss(i: int, H: int, W: int, variant: str, key: str, spec: SceneSpec, res: JudgeResult) -> str:
    """One line naming a wrong verdict: what the spec says and what the judge saw."""
    head = f"clip {i} {H}x{W} {variant}: {key}"
    if key.startswith("obj"):
        idx = int(key[3:].split(".")[0])
        o = spec.objects[idx]
        seen = next((s for s in res.analysis.objects if s.color == res.matching.get(idx)), None)
        want = f"{o.color} {o.size} {o.shape} {o.motion} {o.speed}"
        if seen is None:
            return f"{head}: want {want}; not found"
        d = seen.describe()
        return (f"{head}: want {want}; saw {d['size']}({d['radius']}) {d['shape']}{d['shape_votes']} "
                f"{d['motion']} {d['speed']}({d['speed_value']}) frames {d['frames']} clean {d['clean_frames']} "
                f"perm {d['permanent']}; occluder {spec.occluder is not None}")
    return f"{head}: want {spec.to_dict().get(key, len(spec.objects))}; saw {res.analysis.describe()}"


def selftest(n: int = 500, seed: int = 0, progress: bool = True, show_misses: int = 15) -> int:
    """Measure the judge on `n` rendered ground-truth clips; print the figures last; 0 when all bars hold."""
    from tqdm import tqdm

    from minisora.world.render import render
    from minisora.world.scenes import sample_scene

    start = time.perf_counter()
    correct = {k: {"clean": [], "mp4": [], "degraded": [], "wp clean": [], "wp mp4": []} for k in ATTRIBUTE_TYPES}
    n_ill = 0
    reject = {k: {"clean": [], "mp4": []} for k in CHANGE_TYPES}
    junk = {"noise": [], "blank": [], "black": []}
    text_acc: dict[str, list[float]] = {"caption": [], "prompt": []}
    failures: list[str] = []
    try:
        from minisora.world.captions import write_caption, write_prompt
    except ImportError:  # the caption writer is optional for the self-test's bars
        write_caption = write_prompt = None

    for i in tqdm(range(n), desc="judge selftest", disable=not progress):
        rng = np.random.default_rng([seed, i])
        split = ("train", "heldout")[i % 2]  # half of the clips hold a held-out combination
        # Occluders 3x as often as in training data so that permanence is measured on many clips.
        spec = sample_scene(rng, split=split, occluder_prob=0.45)
        H, W = SELFTEST_SIZES[i % len(SELFTEST_SIZES)]
        video = render(spec, H, W, SELFTEST_FRAMES, SELFTEST_FPS)
        analyses = {"clean": analyze(video, SELFTEST_FPS),
                    "mp4": analyze(_mp4_roundtrip(video, SELFTEST_FPS), SELFTEST_FPS)}
        if i % DEGRADED_EVERY == 0:
            analyses["degraded"] = analyze(degrade(video, np.random.default_rng([seed, i, 77])), SELFTEST_FPS)
        well_posed = not ill_posed(spec, H, W)
        n_ill += not well_posed
        for variant, a in analyses.items():
            res = score(a, spec)
            if variant == "degraded":  # informative only: no bar, no per-change rejection runs
                for key, ok in res.checks.items():
                    correct[key.split(".")[-1]][variant].append(ok)
                continue
            for key, ok in res.checks.items():
                correct[key.split(".")[-1]][variant].append(ok)
                if well_posed:
                    correct[key.split(".")[-1]]["wp " + variant].append(ok)
                if not ok:
                    failures.append(_describe_miss(i, H, W, variant, key, spec, res))
            for kind in CHANGE_TYPES:
                if kind == "permanence":
                    continue
                changed = _change(spec, kind, np.random.default_rng([seed, i, CHANGE_TYPES.index(kind)]))
                if changed is None:
                    continue
                spec2, key = changed
                reject[kind][variant].append(not score(a, spec2).checks[key])
        # Permanence: an object that goes behind the bar and never comes out must fail. Besides
        # this clip, a second scene that surely has an occluder gives more such cases.
        occ_spec = sample_scene(np.random.default_rng([seed, i, 55]), split=split, occluder_prob=1.0)
        for scene in (spec, occ_spec):
            vanish = _vanishing_clip(scene, H, W)
            if vanish is not None:
                clip, key = vanish
                for variant, c in (("clean", clip), ("mp4", _mp4_roundtrip(clip, SELFTEST_FPS))):
                    reject["permanence"][variant].append(not judge(c, scene, SELFTEST_FPS).checks[key])
        if write_caption is not None:
            trng = np.random.default_rng([seed, i, 99])
            text_acc["caption"].append(score(analyses["clean"], write_caption(spec, trng)).accuracy)
            text_acc["prompt"].append(score(analyses["clean"], write_prompt(spec, trng)).accuracy)
        if i < max(20, n // 10):
            noise = rng.integers(0, 256, size=video.shape, dtype=np.uint8)
            blank = np.broadcast_to(np.array(V.BACKGROUNDS[spec.background], np.uint8), video.shape).copy()
            junk["noise"].append(judge(noise, spec, SELFTEST_FPS).accuracy)
            junk["blank"].append(judge(blank, spec, SELFTEST_FPS).accuracy)
            junk["black"].append(judge(np.zeros_like(video), spec, SELFTEST_FPS).accuracy)

    elapsed = time.perf_counter() - start
    for f in failures[:show_misses]:
        print("MISS", f)
    if len(failures) > show_misses:
        print(f"... {len(failures) - show_misses} more misses")
    missed: list[str] = []
    print(f"\njudge selftest: {n} clips ({', '.join(f'{h}x{w}' for h, w in SELFTEST_SIZES)}), "
          f"{SELFTEST_FRAMES} frames at {SELFTEST_FPS:g} fps, seed {seed}, {elapsed:.1f} s")
    print("correct: share of stated attributes judged right on ground truth (bar >= "
          f"{BAR_CORRECT}); reject: share of one-attribute-changed specs whose changed attribute is "
          f"judged wrong (bar >= {BAR_REJECT}); degraded (no bar, every {DEGRADED_EVERY}th clip): blur, "
          "colour cast and grain")
    print(f"wp clean / wp mp4 (no bar): the {n - n_ill} clips whose every object can be seen (see ill_posed; "
          f"{n_ill} clips have an object hidden most of the time or a bouncing object that never bounces)")
    cols = (("correct", correct, "clean", BAR_CORRECT), ("mp4", correct, "mp4", BAR_CORRECT),
            ("wp clean", correct, "wp clean", None), ("wp mp4", correct, "wp mp4", None),
            ("degraded", correct, "degraded", None), ("reject", reject, "clean", BAR_REJECT),
            ("rej mp4", reject, "mp4", BAR_REJECT))
    print(f"{'attribute':<12s}" + "".join(f"{name:>10s}{'n':>6s}" for name, *_ in cols))
    for k in ATTRIBUTE_TYPES:
        row = f"{k:<12s}"
        for name, store, variant, bar in cols:
            vals = store.get(k, {}).get(variant, [])
            if not vals:
                row += f"{'-':>10s}{0:>6d}"
                continue
            m = float(np.mean(vals))
            row += f"{m:>10.4f}{len(vals):>6d}"
            if bar is not None and m < bar:
                missed.append(f"{k} {name} {m:.4f} < {bar}")
        print(row)
    for name, vals in junk.items():
        mx = float(np.max(vals))
        print(f"{name + ' clip':<12s} overall accuracy mean {np.mean(vals):.4f}  max {mx:.4f}  (n={len(vals)})")
        if mx >= BAR_JUNK:
            missed.append(f"{name} clip accuracy {mx:.4f} >= {BAR_JUNK}")
    for name, vals in text_acc.items():
        if vals:
            print(f"{name:<12s} overall accuracy vs parsed text {np.mean(vals):.4f}  "
                  f"min {np.min(vals):.4f}  (n={len(vals)})")
    if missed:
        print("MISSED BARS: " + "; ".join(missed))
        return 1
    print(f"all bars met (correct >= {BAR_CORRECT}, reject >= {BAR_REJECT}, noise/blank < {BAR_JUNK})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minisora.world.judge.selftest",
                                     description="Weights-free analytic judge of MovingShapes videos.")
    parser.add_argument("--selftest", action="store_true", help="measure the judge on rendered ground truth")
    parser.add_argument("--n", type=int, default=500, help="self-test clips (default 500)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show-misses", type=int, default=15, help="print this many wrong verdicts")
    parser.add_argument("--video", help="a video file to judge (with --prompt)")
    parser.add_argument("--prompt", help="the prompt or caption the video should follow")
    parser.add_argument("--fps", type=float, default=None, help="frame rate (default: the file's)")
    args = parser.parse_args(argv)
    if args.selftest:
        if args.n < 1:
            parser.error(f"--n must be >= 1, got {args.n}")
        return selftest(args.n, args.seed, show_misses=args.show_misses)
    if args.video and args.prompt:
        from minisora.io import read_video

        frames, fps = read_video(args.video)
        res = judge(frames, args.prompt, fps=args.fps or fps)
        print(res.summary())
        return 0
    parser.error("give --selftest, or --video and --prompt")
    return 2


if __name__ == "__main__":
    sys.exit(main())
