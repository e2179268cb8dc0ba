"""Sampling MovingShapes scenes whose captions can be checked on the pixels.

- `sample_scene(rng, split)` draws a random scene (held-out attribute combinations never appear in
  the "train" split and always appear in the "heldout" split) in which every object is in view for
  much of the clip and every bouncing object bounces in view, at aspect ratios 1:1, 3:5 and 5:3
  (checked by `visibility.py`);
- `spec_from_parsed(parsed, rng)` completes a parsed prompt into a full scene.
"""

from __future__ import annotations

import math

import numpy as np

from minisora.world import vocabulary as V
from minisora.world.render import trajectory
from minisora.world.scene import ParsedScene
from minisora.world.spec import ObjectSpec, OccluderSpec, SceneSpec
from minisora.world.visibility import (BOUNCE_AT, BOUNCE_MIN_LEG, REFERENCE_FPS, REFERENCE_NUM_FRAMES,
                                       REFERENCE_SHAPES, all_visible, bounce_is_visible, reference_samples)

# Two objects' centres at t = 0 are at least this many (sum of radii) apart, so that they start
# separable (they may still cross later, as things do).
MIN_START_SEPARATION = 0.9
# Keep a small gap between planned paths and the frame border (normalised units).
EDGE_MARGIN = 0.02
SPLITS = ("train", "heldout", "any")

# Sampling scenes
# ---------------------------------------------------------------------------------------------

def _reference_duration() -> float:
    return (REFERENCE_NUM_FRAMES - 1) / REFERENCE_FPS


def _start_position(rng: np.random.Generator, size: str, motion: str, speed: str,
                    heading: tuple[float, float], spread: float = 0.4) -> tuple[float, float]:
    """A normalised start (x0, y0) that keeps the whole object inside a square frame for the
    reference clip; directional motion starts near the edge it moves away from; a bouncing
    object reaches a wall between BOUNCE_AT[0] and BOUNCE_AT[1] of the reference clip, so every
    bouncing clip shows a reflection (otherwise it would be a plain diagonal move)."""
    r = V.SIZES[size]
    travel = V.SPEEDS[speed] * _reference_duration()
    lo, hi = r + EDGE_MARGIN, 1 - r - EDGE_MARGIN
    if motion == "still":
        return float(rng.uniform(lo, hi)), float(rng.uniform(lo, hi))
    if motion == "bouncing":
        # Plan a wall hit on BOTH axes within BOUNCE_AT of the clip, in units of min(H, W). The
        # axis along min(H, W) (both axes of a square frame) has its walls exactly where planned at
        # every aspect ratio; along the longer side of a 3:5 or 5:3 frame the wall is farther
        # and the turn comes later (or not at all), never earlier. So every aspect shows a turn
        # in BOUNCE_AT and none before it (bounce_is_visible checks this).
        pos = []
        for c in heading:
            along = travel * abs(c)  # distance covered along this axis during the clip
            u_lo = max(BOUNCE_AT[0], BOUNCE_MIN_LEG[0] / max(along, 1e-9))
            u_hi = min(BOUNCE_AT[1], 1 - BOUNCE_MIN_LEG[1] / max(along, 1e-9))
            u = float(rng.uniform(u_lo, u_hi)) if u_lo <= u_hi else BOUNCE_AT[1]  # (_place rejects)
            wall = 1 - r if c > 0 else r  # where the centre turns (see trajectory's _reflect bounds)
            pos.append(min(max(wall - math.copysign(u * along, c), r), 1 - r))
        return pos[0], pos[1]
    pos = []
    for c in V.MOTIONS[motion]:
        lo, hi = r + EDGE_MARGIN, 1 - r - EDGE_MARGIN
        if c == 0:
            pos.append(float(rng.uniform(lo, hi)))
            continue
        d = travel * abs(c)
        # Feasible starts for moving toward +: [lo, hi - d]; if the path is longer than the free
        # space, spend the margins and centre the path.
        top = hi - d
        if top < lo:
            start = (1 - d) / 2
        else:  # the first 40% of the feasible range: "from the left edge toward the right"
            start = float(rng.uniform(lo, lo + spread * (top - lo)))
        pos.append(start if c > 0 else 1 - start)
    return pos[0], pos[1]


def _random_heading(rng: np.random.Generator) -> tuple[float, float]:
    """A bouncing heading at 20-70 degrees from the axes, so the object visibly moves in both."""
    angle = math.radians(rng.uniform(20, 70) + 90 * int(rng.integers(4)))
    return (math.cos(angle), math.sin(angle))


def _heading_for(motion: str, rng: np.random.Generator) -> tuple[float, float]:
    if motion == "bouncing":
        return _random_heading(rng)
    return tuple(float(v) for v in V.MOTIONS[motion])


def _separated(a: ObjectSpec, others: list[ObjectSpec], factor: float = MIN_START_SEPARATION) -> bool:
    for b in others:
        need = factor * (V.SIZES[a.size] + V.SIZES[b.size])
        if math.hypot(a.x0 - b.x0, a.y0 - b.y0) < need:
            return False
    return True


def _x_range(obj: ObjectSpec) -> tuple[float, float]:
    """Normalised range of x the object's centre covers during the reference clip."""
    size = 256  # fine enough that rounding does not matter; trajectory is analytic anyway
    xs = trajectory(obj, REFERENCE_NUM_FRAMES, REFERENCE_FPS, size, size)[:, 0]
    return float((xs.min() + 0.5) / size), float((xs.max() + 0.5) / size)


def crosses_occluder(obj: ObjectSpec, occluder: OccluderSpec) -> bool:
    """True when the object's centre passes the whole bar (from one side to the other) during the
    reference clip, i.e. it is seen to go behind it."""
    lo, hi = _x_range(obj)
    return lo <= occluder.x - occluder.width / 2 and hi >= occluder.x + occluder.width / 2


def _occluder_for(objects: list[ObjectSpec], rng: np.random.Generator, samples=None,
                  tries: int = 6) -> OccluderSpec | None:
    """An occluder that at least one object crosses completely and that leaves every object in
    view enough (see visibility.every_object_visible), or None if none is found. `samples`: the
    objects' reference_samples, when the caller has them."""
    w = V.OCCLUDER_WIDTH
    samples = reference_samples(objects) if samples is None else samples
    order = rng.permutation(len(objects))
    for i in order:
        lo, hi = _x_range(objects[i])
        a, b = max(lo + w / 2, 0.15), min(hi - w / 2, 0.85)
        if a > b:
            continue
        for _ in range(tries):
            occluder = OccluderSpec(x=float(rng.uniform(a, b)))
            if all_visible(objects, samples, occluder):
                return occluder
    return None


def _sample_attributes(rng: np.random.Generator, colors: list[str], want_heldout: bool | None,
                       ) -> tuple[str, str, str]:
    while True:  # terminates quickly: about a third of all combinations are held out
        color = colors[int(rng.integers(len(colors)))]
        shape = V.SHAPES[int(rng.integers(len(V.SHAPES)))]
        motion = list(V.MOTIONS)[int(rng.integers(len(V.MOTIONS)))]
        if want_heldout is None or V.is_heldout_object(color, shape, motion) == want_heldout:
            return color, shape, motion


def _place(rng: np.random.Generator, color: str, shape: str, size: str, motion: str, speed: str,
           placed: list[ObjectSpec], tries: int = 60, spread: float = 0.4,
           separation: float = MIN_START_SEPARATION) -> ObjectSpec | None:
    for _ in range(tries):
        heading = _heading_for(motion, rng)
        x0, y0 = _start_position(rng, size, motion, speed, heading, spread)
        obj = ObjectSpec(color=color, shape=shape, size=size, motion=motion, speed=speed, x0=x0, y0=y0,
                         heading=heading)
        if motion == "bouncing" and not all(bounce_is_visible(obj, h, w) for h, w in REFERENCE_SHAPES):
            continue  # rare: only where BOUNCE_MIN_LEG cannot be met along either axis
        if _separated(obj, placed, separation):
            return obj
    return None


def check_count_probs(count_probs, max_objects: int) -> np.ndarray:
    """The probabilities of 1..max_objects objects, checked (one per count, >= 0, summing to 1)."""
    p = np.asarray(count_probs, dtype=np.float64)
    if p.shape != (max_objects,) or (p < 0).any() or abs(p.sum() - 1.0) > 1e-6:
        raise ValueError(f"count_probs must hold {max_objects} non-negative probabilities (for 1..{max_objects} "
                         f"objects) summing to 1, got {tuple(count_probs)}")
    return p / p.sum()


def sample_scene(rng: np.random.Generator, split: str = "train", max_objects: int = V.MAX_OBJECTS,
                 occluder_prob: float = 0.15, count_probs: tuple[float, ...] | None = None) -> SceneSpec:
    """A random MovingShapes scene.

    split: "train" (no object has a held-out combination), "heldout" (at least one object has one)
    or "any". 1..max_objects objects with distinct colours; still objects get speed "slow" (speed
    means nothing for them, and one canonical value keeps specs comparable). In the reference
    clip (REFERENCE_NUM_FRAMES at REFERENCE_FPS), at every frame shape of REFERENCE_SHAPES: every
    bouncing object turns within BOUNCE_AT of the clip, in view, and every object shows
    VISIBLE_SHARE of its area in VISIBLE_FRAMES of the frames (see
    visibility.every_object_visible).
    count_probs: the chance of 1, 2, ... max_objects objects (None: uniform, the world's own law);
    a curriculum can weigh crowded scenes, where binding attributes to objects is hardest, more.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    if not 1 <= max_objects <= V.MAX_OBJECTS:
        raise ValueError(f"max_objects must be in 1..{V.MAX_OBJECTS}, got {max_objects}")
    if not 0.0 <= occluder_prob <= 1.0:
        raise ValueError(f"occluder_prob must be in [0, 1], got {occluder_prob}")
    if count_probs is None:
        n = int(rng.integers(1, max_objects + 1))
    else:
        n = 1 + int(rng.choice(max_objects, p=check_count_probs(count_probs, max_objects)))
    background = list(V.BACKGROUNDS)[int(rng.integers(len(V.BACKGROUNDS)))]
    with_occluder = bool(rng.random() < occluder_prob)
    heldout_index = int(rng.integers(n)) if split == "heldout" else -1
    # Rejection: rare (crowded, an object hidden most of the clip, or no occluder position that
    # some object crosses while every object stays in view).
    while True:
        objects: list[ObjectSpec] = []
        free = list(V.COLORS)
        for i in range(n):
            want = None if split == "any" else (split == "heldout" and i == heldout_index)
            if split == "heldout" and i != heldout_index:
                want = None
            color, shape, motion = _sample_attributes(rng, free, want)
            size = list(V.SIZES)[int(rng.integers(len(V.SIZES)))]
            speed = "slow" if motion == "still" else list(V.SPEEDS)[int(rng.integers(len(V.SPEEDS)))]
            obj = _place(rng, color, shape, size, motion, speed, objects)
            if obj is None:
                break
            objects.append(obj)
            free.remove(color)
        if len(objects) < n:
            continue
        # Every object must be seen: not hidden under later objects (nor, below, the bar) for
        # most of the clip, at every reference aspect ratio.
        samples = reference_samples(objects)
        if not all_visible(objects, samples, None):
            continue
        occluder = _occluder_for(objects, rng, samples) if with_occluder else None
        if with_occluder and occluder is None:
            continue
        return SceneSpec(objects=tuple(objects), background=background, occluder=occluder,
                         meta={"split": split})


def spec_from_parsed(parsed: ParsedScene, rng: np.random.Generator) -> SceneSpec:
    """Complete a parsed prompt into a full scene: stated attributes are kept, unstated ones drawn
    from `rng` (so the same seed gives the same scene). An unstated occluder means none; the
    number of objects is max(stated count, objects described), at least 1.

    Raises ValueError for scenes the world cannot hold (too many objects, repeated colours).
    """
    n = max(len(parsed.objects), parsed.count or 0, 1)
    if n > V.MAX_OBJECTS:
        raise ValueError(f"the prompt asks for {n} objects; MovingShapes scenes hold 1 to {V.MAX_OBJECTS}")
    stated = [o.color for o in parsed.objects if o.color is not None]
    if len(set(stated)) != len(stated):
        raise ValueError(f"objects in a scene must have distinct colors, the prompt gives {stated}")
    background = parsed.background or list(V.BACKGROUNDS)[int(rng.integers(len(V.BACKGROUNDS)))]
    wanted = list(parsed.objects) + [None] * (n - len(parsed.objects))
    for attempt in range(200):
        # Three objects heading the same way all start near one edge: after 100 tries, start anywhere
        # on the path that keeps them in frame; after 170, let their starts come closer.
        relax = {"spread": 1.0 if attempt >= 100 else 0.4,
                 "separation": MIN_START_SEPARATION * (0.5 if attempt >= 170 else 1.0)}
        free = [c for c in V.COLORS if c not in stated]
        objects: list[ObjectSpec] = []
        for p in wanted:
            color = getattr(p, "color", None)
            if color is None:
                color = free.pop(int(rng.integers(len(free))))
            shape = getattr(p, "shape", None) or V.SHAPES[int(rng.integers(len(V.SHAPES)))]
            size = getattr(p, "size", None) or list(V.SIZES)[int(rng.integers(len(V.SIZES)))]
            motion = getattr(p, "motion", None) or list(V.MOTIONS)[int(rng.integers(len(V.MOTIONS)))]
            speed = getattr(p, "speed", None) or ("slow" if motion == "still" else
                                                  list(V.SPEEDS)[int(rng.integers(len(V.SPEEDS)))])
            obj = _place(rng, color, shape, size, motion, speed, objects, **relax)
            if obj is None:
                break
            objects.append(obj)
        if len(objects) < n:
            continue
        # Prefer scenes where every object can be seen; a prompt may leave no other choice.
        strict = attempt < 150
        samples = reference_samples(objects)
        if strict and not all_visible(objects, samples, None):
            continue
        occluder = None
        if parsed.occluder:
            # Prefer a bar that some object crosses; if nothing moves sideways, stand it mid-frame.
            occluder = _occluder_for(objects, rng, samples)
            if occluder is None and strict:
                continue
            occluder = occluder or OccluderSpec(x=0.5)
        return SceneSpec(objects=tuple(objects), background=background, occluder=occluder,
                         meta={"source": "parsed"})
    raise ValueError("could not place the requested objects without heavy overlap")
