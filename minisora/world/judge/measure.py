"""Shape, size, motion and permanence of one seen object, measured from its masks and track."""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.signal import fftconvolve

from minisora.world import vocabulary as V
from minisora.world.judge.objects import (MIN_PERMANENCE_SIGHTINGS, SIZE_BOUNDARY, SPEED_BOUNDARY, STILL_SPEED,
                                         SeenObject, classify_shape, pixel_unit, shape_references)

@functools.lru_cache(maxsize=4096)
def _template(shape: str, radius: float, fx: float = 0.0, fy: float = 0.0) -> np.ndarray:
    """Coverage (2m+1, 2m+1) of a shape centred at offset (fx, fy) from the patch's middle pixel,
    drawn from the renderer's own signed distance (the one definition of each shape). Cached:
    radii and sub-pixel offsets take few distinct values. Callers must not modify the result."""
    from minisora.world.render import shape_sdf

    m = int(math.ceil(radius)) + 2
    ar = np.arange(-m, m + 1, dtype=np.float32)
    out = np.clip(0.5 - shape_sdf(shape, ar[None, :] - fx, ar[:, None] - fy, radius), 0.0, 1.0)
    out.setflags(write=False)
    return out


_SUBPIXEL = tuple((fx, fy) for fy in (-0.5, -0.25, 0.0, 0.25, 0.5) for fx in (-0.5, -0.25, 0.0, 0.25, 0.5))


@functools.lru_cache(maxsize=256)
def _subpixel_stack(shape: str, radius: float) -> np.ndarray:
    """(25, 2m+1, 2m+1) templates at the sub-pixel offsets of _SUBPIXEL."""
    out = np.stack([_template(shape, radius, fx, fy) for fx, fy in _SUBPIXEL])
    out.setflags(write=False)
    return out


def _fit_template(alpha: np.ndarray, observed: np.ndarray, shape: str, radius: float) -> tuple[float, float, float]:
    """Least-squares placement of a shape template on a partly hidden object.

    alpha (H, W) measured coverage, observed (H, W) bool: pixels where the object could be seen
    (hidden pixels - behind the bar or another object - and pixels outside the frame do not count).
    Returns (score, cx, cy): score = sum_obs P^2 - 2 sum_obs P A, i.e. the squared error up to a
    constant shared by every template on the same frame, so scores of candidates compare directly.
    Integer centres by FFT correlation over the whole frame, then a sub-pixel refinement.
    """
    P = _template(shape, radius)
    m = P.shape[0] // 2
    O = observed.astype(np.float32)
    Ap = np.pad(alpha * O, m)  # (H + 2m, W + 2m)
    Op = np.pad(O, m)
    # Correlation = convolution with the flipped kernel; 'valid' output (H, W): entry [y, x] is
    # the template centred on pixel (x, y).
    s = fftconvolve(Op, (P * P)[::-1, ::-1], mode="valid") - 2 * fftconvolve(Ap, P[::-1, ::-1], mode="valid")
    y, x = np.unravel_index(int(np.argmin(s)), s.shape)
    a_win = Ap[y: y + 2 * m + 1, x: x + 2 * m + 1]  # (2m+1, 2m+1)
    o_win = Op[y: y + 2 * m + 1, x: x + 2 * m + 1]
    stack = _subpixel_stack(shape, radius)  # (25, 2m+1, 2m+1)
    sc = (o_win * stack * stack).sum(axis=(1, 2)) - 2 * (a_win * stack).sum(axis=(1, 2))  # (25,)
    i = int(np.argmin(sc))
    fx, fy = _SUBPIXEL[i]
    return float(sc[i]), x + fx, y + fy


def measure_shape_size(obj: SeenObject, feats: list, alphas: dict, side: int) -> None:
    """Shape and size, then centres of partly hidden frames.

    With >= 2 fully visible frames: shape by vote of the symmetry classifier, size from the median
    alpha area. Otherwise (the object is always partly behind the bar, the edge or another object):
    the (shape, size) whose template best explains the visible pixels of the FIT_FRAMES most visible
    frames. Frames that are not fully visible get their centre from the fitted template, since the
    centroid of a cut-off object is pulled away from its centre.
    """
    T = len(feats)
    obj.frame_shape = [None] * T
    obj.visible = np.zeros(T)
    frames = np.nonzero(obj.clean)[0]
    refs = shape_references()
    # Fit templates in a window around the visible pixels wide enough for the largest template
    # anywhere it could still overlap them: the same window for every candidate of a frame, so
    # their scores compare, and much cheaper than the whole frame.
    reach = int(math.ceil(max(V.SIZES.values()) * side)) * 2 + 4

    def fit(t: int, shape: str, radius: float) -> tuple[float, float, float]:
        ys, xs = np.nonzero(obj.masks[t])
        y0, x0 = max(int(ys.min()) - reach, 0), max(int(xs.min()) - reach, 0)
        y1, x1 = int(ys.max()) + reach + 1, int(xs.max()) + reach + 1
        a, o = alphas[t]
        sc, cx, cy = _fit_template(a[y0:y1, x0:x1], o[y0:y1, x0:x1], shape, radius)
        return sc, cx + x0, cy + y0

    if len(frames) >= 2:
        obj.frame_shape = [None if f is None else classify_shape(f) for f in feats]
        votes: dict[str, int] = {}
        for t in frames:
            votes[obj.frame_shape[t]] = votes.get(obj.frame_shape[t], 0) + 1
        obj.shape_votes = votes
        obj.shape = max(votes, key=lambda s: (votes[s], -V.SHAPES.index(s)))
        obj.radius = math.sqrt(float(np.median(obj.area[frames])) / refs[obj.shape]["k"]) / side
        obj.size = "small" if obj.radius < SIZE_BOUNDARY else "large"
    else:
        seen = [t for t in alphas if np.isfinite(obj.area[t])]
        if not seen:
            return
        fit_frames = sorted(seen, key=lambda t: -obj.area[t])[:FIT_FRAMES]
        scores: dict[tuple[str, str], float] = {}
        for shape in V.SHAPES:
            for size, rel in V.SIZES.items():
                scores[(shape, size)] = sum(fit(t, shape, float(rel * side))[0] for t in fit_frames)
        obj.shape, obj.size = min(scores, key=scores.get)
        obj.shape_votes = {obj.shape: len(fit_frames)}
        obj.radius = V.SIZES[obj.size]
        for t in seen:
            obj.frame_shape[t] = obj.shape if t in fit_frames else None
    # Centres of partly hidden frames from the template; drop frames too hidden to place it.
    radius_px = round(obj.radius * side * 4) / 4  # quarter pixels: few distinct cached templates
    full_area = refs[obj.shape]["k"] * radius_px**2
    for t in alphas:
        if np.isfinite(obj.area[t]):
            obj.visible[t] = 1.0 if obj.clean[t] else min(float(obj.area[t]) / full_area, 1.0)
    # An object that never shows MIN_VISIBLE_SHARE in enough frames (e.g. standing behind the bar
    # with only slivers in view) is placed from its slivers rather than not at all.
    min_share = MIN_VISIBLE_SHARE if (obj.visible >= MIN_VISIBLE_SHARE).sum() >= 3 else 0.0
    for t in alphas:
        if obj.clean[t] or not np.isfinite(obj.area[t]):
            continue
        if obj.visible[t] < min_share:
            obj.centroid[t] = np.nan
            continue
        _, cx, cy = fit(t, obj.shape, float(radius_px))
        obj.centroid[t] = (cx, cy)


FIT_FRAMES = 4  # frames used to recognise a never fully visible object
MIN_VISIBLE_SHARE = 0.12  # a frame showing less of the object gives no usable centre


def _line(t: np.ndarray, s: np.ndarray) -> tuple[float, float, float]:
    """Least-squares line s = a t + b: (a, b, sum of squared residuals)."""
    tm, sm = t.mean(), s.mean()
    dt = t - tm
    var = float(dt @ dt)
    a = float(dt @ (s - sm)) / var if var > 0 else 0.0
    b = sm - a * tm
    r = s - (a * t + b)
    return a, b, float(r @ r)


def _reversal(t: np.ndarray, s: np.ndarray, delta: float) -> tuple[float, float] | None:
    """A reflection along one axis: positions s at times t explained by two straight legs of
    opposite slope (each >= 3 points, each moving >= delta pixels) far better than by one line.
    Returns the two legs' slopes (pixels per frame), or None."""
    n = len(s)
    if n < 5:
        return None
    sse_lin = _line(t, s)[2]
    best: tuple[float, float, float] | None = None
    for m in range(2, n - 2):  # the turn is sample m, shared by both legs
        if abs(s[m] - s[0]) < delta or abs(s[m] - s[-1]) < delta:
            continue
        a1, _, e1 = _line(t[: m + 1], s[: m + 1])
        a2, _, e2 = _line(t[m:], s[m:])
        if a1 * a2 >= 0:
            continue
        if best is None or e1 + e2 < best[0]:
            best = (e1 + e2, a1, a2)
    # The two-leg model must explain at least 3/4 of what the straight line leaves unexplained.
    if best is None or best[0] > 0.25 * sse_lin:
        return None
    return best[1], best[2]


# A bouncing object moves at 20-70 degrees from the axes (`world.scenes`), so along the axis it
# reverses on it moves at least tan(20) = 0.36 as fast as along the other; a reversal slower than
# this share of the other axis's speed is a wobble of the drawn centre (seen at 2x resolution).
MIN_BOUNCE_SHARE = 0.25
MOTION_MIN_VISIBLE = 0.35  # share of the object in view for a partly hidden frame to place motion
MOTION_MIN_FRAMES = 5  # ... unless fewer such frames remain (then every placed frame counts)


def measure_motion(obj: SeenObject, fps: float, side: int) -> None:
    """Direction/bouncing/still and speed from the centre trajectory (frames where it is known:
    centroids of fully visible frames, fitted template centres of partly hidden ones)."""
    known = np.isfinite(obj.centroid[:, 0])
    # A template placed on a small visible part (mostly behind the bar, or on top of another
    # object whose pixels hide where this one ends) can land a few pixels off and fake a turn or
    # bend the direction; use only frames showing MOTION_MIN_VISIBLE of the object when enough
    # of them remain.
    vis = obj.visible if obj.visible is not None else np.ones(len(known))
    solid = known & (obj.clean | (vis >= MOTION_MIN_VISIBLE))
    t_idx = np.nonzero(solid if solid.sum() >= max(MOTION_MIN_FRAMES, 0.5 * known.sum()) else known)[0]
    if len(t_idx) < 2:
        return
    t = t_idx.astype(np.float64)
    xy = obj.centroid[t_idx]  # (n, 2)
    delta = max(1.0, 0.02 * side)  # each leg of a bounce must move this far (pixels)
    vel = np.zeros(2)  # pixels per frame, magnitude per axis
    signed = np.zeros(2)
    bounced = False
    for ax in range(2):
        turn = _reversal(t, xy[:, ax], delta)
        across = abs(_line(t, xy[:, 1 - ax])[0])
        if turn is not None and 0.5 * (abs(turn[0]) + abs(turn[1])) < MIN_BOUNCE_SHARE * across:
            turn = None  # a sideways wobble of an object moving along the other axis, not a bounce
        if turn is not None:
            bounced = True
            vel[ax] = 0.5 * (abs(turn[0]) + abs(turn[1]))
        else:
            slope = _line(t, xy[:, ax])[0]
            vel[ax] = abs(slope)
            signed[ax] = slope
    obj.speed = float(math.hypot(*vel) * fps / side)
    obj.velocity = (float(signed[0] * fps / side), float(signed[1] * fps / side))
    obj.speed_class = "slow" if obj.speed < SPEED_BOUNDARY else "fast"
    if obj.speed < STILL_SPEED:
        obj.motion = "still"
    elif bounced:
        obj.motion = "bouncing"
    else:
        d = signed / max(np.linalg.norm(signed), 1e-12)
        obj.motion = max(V.DIRECTIONAL_MOTIONS, key=lambda m: d @ np.array(V.MOTIONS[m]))


def permanence_holds(obj: SeenObject, objects: list[SeenObject], span, H: int, W: int, side: int) -> bool:
    """True when every frame that misses the object is explained by where it should be.

    A missing frame is explained when the trajectory (interpolated between sightings, extrapolated
    linearly past the first/last one) puts the object behind the occluder bar, behind another
    object, or at/over the frame edge. The shapes seen before and after a gap must agree.
    """
    seen = np.nonzero(~np.isnan(obj.centroid[:, 0]))[0]
    T = len(obj.present)
    # A trajectory from a couple of sightings cannot say where the object should be.
    if len(seen) < MIN_PERMANENCE_SIGHTINGS:
        return False
    r = (obj.radius if np.isfinite(obj.radius) else V.SIZES["large"]) * side
    x0, x1 = span
    tol = 2.0 * pixel_unit(side)
    ts = seen.astype(np.float64)
    fit_x = np.polyfit(ts, obj.centroid[seen, 0], 1) if len(seen) >= 2 else np.array([0.0, obj.centroid[seen[0], 0]])
    fit_y = np.polyfit(ts, obj.centroid[seen, 1], 1) if len(seen) >= 2 else np.array([0.0, obj.centroid[seen[0], 1]])
    for t in range(T):
        if obj.present[t]:
            continue
        if seen[0] < t < seen[-1]:
            px = float(np.interp(t, ts, obj.centroid[seen, 0]))
            py = float(np.interp(t, ts, obj.centroid[seen, 1]))
        else:
            # Extrapolate from the nearest sightings (up to 4) along the fitted line's slope.
            near = seen[:4] if t < seen[0] else seen[-4:]
            anchor = near[0] if t < seen[0] else near[-1]
            px = float(obj.centroid[anchor, 0] + fit_x[0] * (t - anchor))
            py = float(obj.centroid[anchor, 1] + fit_y[0] * (t - anchor))
        # Missing means mostly out of view (less than a third shows), so the predicted centre
        # must lie within half a radius of the bar (or of the frame edge), up to tol for the
        # prediction's error.
        reach = 0.5 * r + tol
        behind_bar = x0 - reach <= px <= x1 + reach
        at_edge = px < reach or px > W - 1 - reach or py < reach or py > H - 1 - reach
        # Behind another object: its pixels reach to within tol of the predicted centre (the
        # object in front may have been found a pixel short of its edge, e.g. after an mp4 trip).
        ya, yb = max(int(math.floor(py - tol)), 0), min(int(math.ceil(py + tol)) + 1, H)
        xa, xb = max(int(math.floor(px - tol)), 0), min(int(math.ceil(px + tol)) + 1, W)
        behind_other = False
        if ya < yb and xa < xb:
            wy, wx = np.mgrid[ya:yb, xa:xb]
            disk = np.hypot(wx - px, wy - py) <= tol  # (h, w)
            behind_other = any(o is not obj and (o.masks[t, ya:yb, xa:xb] & disk).any() for o in objects)
        if not (behind_bar or at_edge or behind_other):
            return False
    # Same shape on both sides of any gap.
    gaps = np.nonzero(np.diff(seen) > 1)[0]
    for g in gaps:
        before = [t for t in seen[: g + 1] if obj.clean[t]]
        after = [t for t in seen[g + 1:] if obj.clean[t]]
        # One fully visible frame is no evidence of a changed shape (the classifier can miss a
        # single frame, e.g. after an mp4 round trip): each side needs two.
        if len(before) >= 2 and len(after) >= 2:
            sb = majority_shape(obj, before)
            sa = majority_shape(obj, after)
            if sb is not None and sa is not None and sb != sa:
                return False
    return True


def majority_shape(obj: SeenObject, frames: list[int]) -> str | None:
    """The shape most frames show, or None without a strict winner (a tie says nothing)."""
    shapes = [obj.frame_shape[t] for t in frames if obj.frame_shape[t] is not None]
    counts = sorted(((shapes.count(s), s) for s in set(shapes)), reverse=True)
    if not counts or (len(counts) > 1 and counts[0][0] == counts[1][0]):
        return None
    return counts[0][1]
