"""The MovingShapes renderer: procedural, exactly-known clips for training and judging text-to-video.

A `SceneSpec` (see `spec.py`) plus (height, width, num_frames, fps) determines a clip completely:

- `trajectory(obj, ...)` gives each object's exact centre per frame;
- `render(spec, ...)` draws the clip, anti-aliased, deterministic, at any size and frame rate;
- `sample_scene(rng, split)` draws a random scene (held-out attribute combinations never appear in
  the "train" split and always appear in the "heldout" split) whose caption can be checked on the
  pixels at aspect ratios 1:1, 3:5 and 5:3: every object is in view for much of the clip
  (`every_object_visible`, `visible_share`) and every bouncing object bounces in view
  (`bounce_is_visible`);
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

import numpy as np

from minisora.world import vocabulary as V
from minisora.world.spec import ObjectSpec, SceneSpec

# Star inner radius / outer radius. A regular pentagram has 0.382; a fatter star keeps its arms
# several pixels wide at 64x64 so the shape stays recognisable after VAE compression.
STAR_INNER_RATIO = 0.5

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

def check_geometry(height: int, width: int, num_frames: int, fps: float) -> None:
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
    check_geometry(height, width, num_frames, fps)
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
    check_geometry(height, width, num_frames, fps)
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
