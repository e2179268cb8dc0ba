"""The MovingShapes world: procedural, exactly-known clips for training and judging text-to-video.

A `SceneSpec` (see `spec.py`) plus (height, width, num_frames, fps) determines a clip completely:

- `trajectory(obj, ...)` gives each object's exact centre per frame;
- `render(spec, ...)` draws the clip, anti-aliased, deterministic, at any size and frame rate;
- `sample_scene(rng, split)` draws a random scene (held-out attribute combinations never appear in
  the "train" split and always appear in the "heldout" split);
- `spec_from_parsed(parsed, rng)` completes a parsed prompt into a full scene;
- `MovingShapesDataset` yields rendered clips with captions on the fly.

Coordinates. Positions in a spec are normalised (x, y in [0, 1] from the top-left corner of the
frame). In pixels, we use *pixel-index coordinates*: the centre of pixel (row i, column j) is the
point (x=j, y=i), so the frame spans [-0.5, W-0.5] x [-0.5, H-0.5] and the mean column index of an
object's mask equals its centre x. Sizes and speeds are fractions of min(H, W) (vocabulary.py), so a
spec means the same thing at every resolution; time is t = frame_index / fps seconds.

Anti-aliasing. Every shape is drawn from its signed distance d (in pixels, negative inside) with
coverage clip(0.5 - d, 0, 1): the exact area coverage of a pixel by a half-plane through it, which
is what a 1-pixel box filter gives along straight edges, at the cost of one distance per pixel.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from minisora.data import vocabulary as V
from minisora.data.spec import ObjectSpec, OccluderSpec, SceneSpec

if TYPE_CHECKING:  # only for annotations; captions imports this module
    from minisora.data.captions import ParsedScene

# The clip geometry sample_scene plans for: objects stay inside the frame for this long.
REFERENCE_NUM_FRAMES = 17
REFERENCE_FPS = 8.0
# Star inner radius / outer radius. A regular pentagram has 0.382; a fatter star keeps its arms
# several pixels wide at 64x64 so the shape stays recognisable after VAE compression.
STAR_INNER_RATIO = 0.5
# Two objects' centres at t = 0 are at least this many (sum of radii) apart, so that they start
# separable (they may still cross later, as things do).
MIN_START_SEPARATION = 0.9
# Keep a small gap between planned paths and the frame border (normalised units).
EDGE_MARGIN = 0.02
# A bouncing object first meets a wall within this share of the reference clip.
BOUNCE_AT = (0.2, 0.65)
SPLITS = ("train", "heldout", "any")

# (number of vertices, angle of the first vertex in image coordinates (y down), inner radius /
# outer radius) for the polygonal shapes; the inner "vertex" of a regular polygon is the midpoint
# of an edge, at radius cos(pi / n).
_POLYGONS: dict[str, tuple[int, float, float]] = {
    "triangle": (3, -math.pi / 2, math.cos(math.pi / 3)),  # apex up
    "square": (4, -math.pi / 4, math.cos(math.pi / 4)),  # axis-aligned
    "star": (5, -math.pi / 2, STAR_INNER_RATIO),  # one arm up
}


# ---------------------------------------------------------------------------------------------
# Geometry
# ---------------------------------------------------------------------------------------------

def _check_geometry(height: int, width: int, num_frames: int, fps: float) -> None:
    for name, v in (("height", height), ("width", width), ("num_frames", num_frames)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if not (isinstance(fps, (int, float, np.floating)) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive finite number, got {fps!r}")


def object_radius_px(obj: ObjectSpec, height: int, width: int) -> float:
    """Centre-to-farthest-point radius of `obj` in pixels."""
    return V.SIZES[obj.size] * min(height, width)


def velocity_direction(obj: ObjectSpec) -> tuple[float, float]:
    """Unit direction the object moves in at t = 0 (image coordinates, y down)."""
    if obj.motion == "still":
        return (0.0, 0.0)
    if obj.motion == "bouncing":
        hx, hy = obj.heading
        n = math.hypot(hx, hy)
        return (hx / n, hy / n) if n > 0 else V.MOTIONS["bouncing"]
    return V.MOTIONS[obj.motion]  # the motion word is authoritative for directional motion


def _reflect(p: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Fold unbounded positions into [lo, hi] as a point bouncing between two walls would move."""
    span = hi - lo
    if span <= 0:  # the object is as large as the frame: it can only sit in the middle
        return np.full_like(p, (lo + hi) / 2)
    u = np.mod(p - lo, 2 * span)
    return lo + np.where(u <= span, u, 2 * span - u)


def trajectory(obj: ObjectSpec, num_frames: int, fps: float, height: int, width: int) -> np.ndarray:
    """Exact centre of `obj` per frame, float64 (T, 2) of (x, y) in pixel-index coordinates.

    Directional motion is a straight line at constant speed (it may leave the frame in long clips);
    bouncing reflects off the frame edges when the object's outer radius touches them; still stays.
    """
    _check_geometry(height, width, num_frames, fps)
    t = np.arange(num_frames, dtype=np.float64) / fps  # (T,) seconds
    x0 = obj.x0 * width - 0.5
    y0 = obj.y0 * height - 0.5
    dx, dy = velocity_direction(obj)
    speed = V.SPEEDS[obj.speed] * min(height, width)  # pixels per second
    x = x0 + dx * speed * t
    y = y0 + dy * speed * t
    if obj.motion == "bouncing":
        r = object_radius_px(obj, height, width)
        x = _reflect(x, r - 0.5, width - 0.5 - r)
        y = _reflect(y, r - 0.5, height - 0.5 - r)
    return np.stack([x, y], axis=1)  # (T, 2)


def shape_sdf(shape: str, dx: np.ndarray, dy: np.ndarray, radius: float) -> np.ndarray:
    """Signed distance (pixels, negative inside) from offsets (dx, dy) to a shape of outer `radius`
    centred at the origin. Arrays broadcast together."""
    if shape == "circle":
        return np.hypot(dx, dy) - radius
    if shape not in _POLYGONS:
        raise ValueError(f"unknown shape {shape!r}; valid: {', '.join(V.SHAPES)}")
    n, first_angle, inner_ratio = _POLYGONS[shape]
    # Regular polygons and stars are symmetric under rotation by 2pi/n and under reflection about
    # each vertex axis, so fold every point into the wedge between a vertex A = (R, 0) (angle 0)
    # and the next inner point B (angle pi/n); there the boundary is the single segment AB.
    sector = 2 * math.pi / n
    rho = np.hypot(dx, dy)
    theta = np.mod(np.arctan2(dy, dx) - first_angle, sector)
    phi = np.minimum(theta, sector - theta)  # in [0, pi/n]
    qx, qy = rho * np.cos(phi), rho * np.sin(phi)
    ax, ay = radius, 0.0
    bx, by = radius * inner_ratio * math.cos(sector / 2), radius * inner_ratio * math.sin(sector / 2)
    ex, ey = bx - ax, by - ay
    h = np.clip(((qx - ax) * ex + (qy - ay) * ey) / (ex * ex + ey * ey), 0.0, 1.0)
    dist = np.hypot(qx - ax - h * ex, qy - ay - h * ey)
    # The origin lies on the positive side of AB (cross(B - A, O - A) = by * R > 0): inside.
    inside = (ex * (qy - ay) - ey * (qx - ax)) > 0
    return np.where(inside, -dist, dist)


def _composite(out: np.ndarray, alpha: np.ndarray, oy: np.ndarray, ox: np.ndarray,
               color: np.ndarray) -> None:
    """Blend per-frame patches `alpha` (T,P,P) at top-left corners (oy, ox) into out (T,H,W,3)."""
    T, H, W, _ = out.shape
    P = alpha.shape[1]
    for t in range(T):
        y0, x0 = int(oy[t]), int(ox[t])
        ya, yb = max(y0, 0), min(y0 + P, H)
        xa, xb = max(x0, 0), min(x0 + P, W)
        if ya >= yb or xa >= xb:
            continue  # entirely outside the frame
        a = alpha[t, ya - y0:yb - y0, xa - x0:xb - x0, None]  # (h, w, 1)
        region = out[t, ya:yb, xa:xb]
        region += a * (color - region)


def render(spec: SceneSpec, height: int, width: int, num_frames: int, fps: float = 8.0) -> np.ndarray:
    """Render `spec` to uint8 frames (T, H, W, 3).

    Objects are drawn in spec order (later ones on top), the occluder last, on top of everything,
    so objects pass behind it.
    """
    _check_geometry(height, width, num_frames, fps)
    out = np.empty((num_frames, height, width, 3), dtype=np.float32)
    out[:] = np.asarray(V.BACKGROUNDS[spec.background], dtype=np.float32)
    for obj in spec.objects:
        centres = trajectory(obj, num_frames, fps, height, width)  # (T, 2)
        r = object_radius_px(obj, height, width)
        # Each frame's object lives in a P x P patch around its centre; computing distances there
        # only (not over the whole frame) keeps the cost independent of the frame size.
        P = int(math.ceil(2 * r + 3))
        ox = np.floor(centres[:, 0] - r - 1).astype(np.int64)  # (T,)
        oy = np.floor(centres[:, 1] - r - 1).astype(np.int64)
        ar = np.arange(P, dtype=np.float32)
        dx = (ox[:, None] + ar[None, :] - centres[:, 0:1]).astype(np.float32)[:, None, :]  # (T,1,P)
        dy = (oy[:, None] + ar[None, :] - centres[:, 1:2]).astype(np.float32)[:, :, None]  # (T,P,1)
        alpha = np.clip(0.5 - shape_sdf(obj.shape, dx, dy, r), 0.0, 1.0)  # (T,P,P)
        _composite(out, alpha, oy, ox, np.asarray(V.COLORS[obj.color], dtype=np.float32))
    if spec.occluder is not None:
        cx = spec.occluder.x * width - 0.5
        half = spec.occluder.width * width / 2
        cols = np.arange(width, dtype=np.float32)
        a = np.clip(half + 0.5 - np.abs(cols - cx), 0.0, 1.0)  # (W,) coverage of each column
        lo, hi = np.flatnonzero(a)[[0, -1]] if a.any() else (0, -1)
        band = out[:, :, lo:hi + 1]  # (T, H, w, 3) view: only the columns the bar touches
        band += a[None, None, lo:hi + 1, None] * (np.asarray(V.OCCLUDER_COLOR, dtype=np.float32) - band)
    out += 0.5  # round to nearest on the truncating cast below
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Sampling scenes
# ---------------------------------------------------------------------------------------------

def _reference_duration() -> float:
    return (REFERENCE_NUM_FRAMES - 1) / REFERENCE_FPS


def _start_position(rng: np.random.Generator, size: str, motion: str, speed: str,
                    heading: tuple[float, float]) -> tuple[float, float]:
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
        pos = [float(rng.uniform(lo, hi)), float(rng.uniform(lo, hi))]
        axis = int(abs(heading[1]) > abs(heading[0]))  # the axis it moves along fastest
        c = heading[axis]
        to_wall = float(rng.uniform(*BOUNCE_AT)) * travel * abs(c)
        wall = 1 - r if c > 0 else r  # where the centre turns (see trajectory's _reflect bounds)
        pos[axis] = wall - math.copysign(to_wall, c)
        # The other axis must not turn in the first BOUNCE_AT[0] of the clip either (a turn in
        # the first frame or two is hard to see).
        c2 = heading[1 - axis]
        keep = BOUNCE_AT[0] * travel * abs(c2)
        pos[1 - axis] = min(pos[1 - axis], 1 - r - keep) if c2 > 0 else max(pos[1 - axis], r + keep)
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
            start = float(rng.uniform(lo, lo + 0.4 * (top - lo)))
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


def _separated(a: ObjectSpec, others: list[ObjectSpec]) -> bool:
    for b in others:
        need = MIN_START_SEPARATION * (V.SIZES[a.size] + V.SIZES[b.size])
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


def _occluder_for(objects: list[ObjectSpec], rng: np.random.Generator) -> OccluderSpec | None:
    """An occluder that at least one object crosses completely, or None if none can."""
    w = V.OCCLUDER_WIDTH
    order = rng.permutation(len(objects))
    for i in order:
        lo, hi = _x_range(objects[i])
        a, b = max(lo + w / 2, 0.15), min(hi - w / 2, 0.85)
        if a <= b:
            return OccluderSpec(x=float(rng.uniform(a, b)))
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
           placed: list[ObjectSpec], tries: int = 60) -> ObjectSpec | None:
    for _ in range(tries):
        heading = _heading_for(motion, rng)
        x0, y0 = _start_position(rng, size, motion, speed, heading)
        obj = ObjectSpec(color=color, shape=shape, size=size, motion=motion, speed=speed, x0=x0, y0=y0,
                         heading=heading)
        if _separated(obj, placed):
            return obj
    return None


def sample_scene(rng: np.random.Generator, split: str = "train", max_objects: int = V.MAX_OBJECTS,
                 occluder_prob: float = 0.15) -> SceneSpec:
    """A random MovingShapes scene.

    split: "train" (no object has a held-out combination), "heldout" (at least one object has one)
    or "any". 1..max_objects objects with distinct colours; still objects get speed "slow" (speed
    means nothing for them, and one canonical value keeps specs comparable).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    if not 1 <= max_objects <= V.MAX_OBJECTS:
        raise ValueError(f"max_objects must be in 1..{V.MAX_OBJECTS}, got {max_objects}")
    if not 0.0 <= occluder_prob <= 1.0:
        raise ValueError(f"occluder_prob must be in [0, 1], got {occluder_prob}")
    n = int(rng.integers(1, max_objects + 1))
    background = list(V.BACKGROUNDS)[int(rng.integers(len(V.BACKGROUNDS)))]
    with_occluder = bool(rng.random() < occluder_prob)
    heldout_index = int(rng.integers(n)) if split == "heldout" else -1
    while True:  # rejection: rare (crowded or no object crosses the requested occluder)
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
        occluder = _occluder_for(objects, rng) if with_occluder else None
        if with_occluder and occluder is None:
            continue
        return SceneSpec(objects=tuple(objects), background=background, occluder=occluder,
                         meta={"split": split})


def spec_from_parsed(parsed: "ParsedScene", rng: np.random.Generator) -> SceneSpec:
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
    for _ in range(200):
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
            obj = _place(rng, color, shape, size, motion, speed, objects)
            if obj is None:
                break
            objects.append(obj)
        if len(objects) < n:
            continue
        occluder = None
        if parsed.occluder:
            # Prefer a bar that some object crosses; if nothing moves sideways, stand it mid-frame.
            occluder = _occluder_for(objects, rng) or OccluderSpec(x=0.5)
        return SceneSpec(objects=tuple(objects), background=background, occluder=occluder,
                         meta={"source": "parsed"})
    raise ValueError("could not place the requested objects without heavy overlap")


# ---------------------------------------------------------------------------------------------
# Dataset
# ---------------------------------------------------------------------------------------------

class MovingShapesDataset(torch.utils.data.Dataset):
    """`n` MovingShapes clips rendered on the fly; item i is a pure function of (seed, i, split).

    Items: {"video": float32 (3, T, H, W) in [-1, 1], "caption": dense caption, "prompt": short
    user-style prompt, "spec": SceneSpec.to_dict()}.
    """

    def __init__(self, n: int, height: int = 64, width: int = 64, num_frames: int = 17, fps: float = 8.0,
                 split: str = "train", seed: int = 0, max_objects: int = V.MAX_OBJECTS,
                 occluder_prob: float = 0.15) -> None:
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        _check_geometry(height, width, num_frames, fps)
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
        self.n, self.height, self.width, self.num_frames, self.fps = n, height, width, num_frames, float(fps)
        self.split, self.seed = split, int(seed)
        self.max_objects, self.occluder_prob = max_objects, occluder_prob

    def __len__(self) -> int:
        return self.n

    def scene(self, index: int) -> tuple[SceneSpec, np.random.Generator]:
        """The scene of item `index` and the generator positioned after sampling it."""
        if not -self.n <= index < self.n:
            raise IndexError(f"index {index} out of range for a dataset of {self.n} clips")
        index %= self.n
        # The split is part of the seed so that train and heldout sets never share a stream.
        rng = np.random.default_rng([self.seed, index, SPLITS.index(self.split)])
        return sample_scene(rng, self.split, self.max_objects, self.occluder_prob), rng

    def frames(self, index: int) -> np.ndarray:
        """Item `index` as uint8 (T, H, W, 3) frames, without captions (for pixel-only users)."""
        return render(self.scene(index)[0], self.height, self.width, self.num_frames, self.fps)

    def __getitem__(self, index: int) -> dict:
        from minisora.data.captions import write_caption, write_prompt

        spec, rng = self.scene(index)
        frames = render(spec, self.height, self.width, self.num_frames, self.fps)  # (T,H,W,3) uint8
        # Convert in numpy on a contiguous array: torch's elementwise ops on the permuted view
        # were ~10x slower than the render itself.
        video = np.ascontiguousarray(frames.transpose(3, 0, 1, 2), dtype=np.float32)  # (3,T,H,W)
        video = torch.from_numpy(video / np.float32(127.5) - np.float32(1.0))
        return {"video": video, "caption": write_caption(spec, rng), "prompt": write_prompt(spec, rng),
                "spec": spec.to_dict()}
