"""The judge: a weights-free analytic evaluator of MovingShapes videos.

Given a clip (uint8 (T, H, W, 3)) and what it should show (a `SceneSpec`, or a prompt/caption that
`minisora.data.captions.parse` turns into stated attributes), the judge finds the objects and scores
every stated attribute:

1. Background: the dominant colour of the clip, matched to `V.BACKGROUNDS`.
2. Segmentation: each pixel takes the nearest colour among the object palette (`V.COLORS`), the
   occluder colour and the estimated background. A pixel joins a colour's mask only when it is
   within LOOSE_DIST of it, and a connected component counts only when it holds CORE pixels within
   CORE_DIST (hysteresis thresholding) and enough area. Blurry edges, codec colour bleed and mild
   colour shifts of generated videos stay attached to their object; isolated noise does not.
3. Per object (one per palette colour present in enough frames): a soft alpha mask (each pixel's
   position on the line from background to object colour), hence sub-pixel area and centroid.
   Frames where the object is fully visible ("clean": off the frame's outer pixels, away from the
   occluder and the other objects) give shape and size directly.
4. Shape from rotation-invariant complex moments (Flusser): |sum a z^k| / sum a |z|^k measures
   k-fold symmetry, so a triangle shows k=3, a square k=4, a five-pointed star k=5 and a circle none;
   voted over clean frames. Reference values come from the MovingShapes renderer itself.
5. Size: alpha area turned into a radius with the shape's area-to-radius^2 ratio, relative to
   min(H, W), against the boundary between `V.SIZES`.
   Objects that are never fully visible (the occluder's world makes that common: a large object
   crossing the bar overlaps it the whole clip) are recognised by analysis-by-synthesis instead:
   every (shape, size) template, drawn with the renderer's signed distance function, is placed by
   least squares on the pixels that can show the object (hidden pixels do not count) and the best
   explanation wins. Partly hidden frames also take their centre from the fitted template, since
   the centroid of a cut-off object is pulled away from its centre.
6. Motion from the centre trajectory: still (speed below STILL_SPEED), bouncing (two straight legs
   of opposite slope along an axis explain the track far better than one line), else the nearest
   of the 8 directions; speed in min(H, W) per second against the boundary between `V.SPEEDS`.
7. Count: number of objects found. Occluder: a vertical bar of `V.OCCLUDER_COLOR`.
   Permanence: every frame where an object is missing must be explained by the occluder (or another
   object, or the frame edge) at the position its trajectory predicts (within half a radius), the
   object must be placed in MIN_PERMANENCE_SIGHTINGS frames, and its shape must agree on both
   sides of a gap.
8. Flicker on background pixels, VBench-style: (255 - mean |f(t) - f(t+1)|) / 255.

Accuracy is the share of stated attributes judged correct. For a text target only stated attributes
count; for a `SceneSpec` everything in it counts, except that a scene without an occluder says
nothing about one unless the clip shows one. Speed is not judged for still objects.
`python -m minisora.eval.judge --selftest` measures the judge itself on rendered ground truth.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from scipy.signal import fftconvolve

from minisora.data import vocabulary as V
from minisora.data.spec import ObjectSpec, OccluderSpec, SceneSpec
from minisora.eval.metrics import flicker as _flicker

# ----------------------------------------------------------------------------------------------
# Tolerances. Distances are Euclidean in RGB (0..255 per channel). The closest pair of palette
# colours (orange-yellow) is ~81 apart: a core pixel (nearest colour AND within CORE_DIST) can
# only be mistaken when a colour drifts by > ~40, while LOOSE_DIST admits blurred edges, codec
# bleed and shifted colours around a core.
# ----------------------------------------------------------------------------------------------
LOOSE_DIST = 90.0
CORE_DIST = 50.0
BG_DIST = 40.0  # a pixel this close to the estimated background is background
BG_MATCH_DIST = 45.0  # estimated background must be this close to a named background colour
BG_MIN_SHARE = 0.25  # ... and cover this share of the pixels (pure noise has no background)
MIN_PRESENT_SHARE = 0.25  # an object must be seen in this share of frames (and >= 2 frames)
MIN_PERMANENCE_SIGHTINGS = 3  # frames with a known centre needed to judge permanence
MIN_CORE_SHARE = 0.35  # share of a blob's pixels within CORE_DIST of its colour
STILL_SPEED = 0.06  # min(H,W) per second; well under "slow" (V.SPEEDS["slow"] = 0.14)
# Boundaries between named classes: geometric means, the midpoint on a log scale.
SIZE_BOUNDARY = math.sqrt(V.SIZES["small"] * V.SIZES["large"])
SPEED_BOUNDARY = math.sqrt(V.SPEEDS["slow"] * V.SPEEDS["fast"])

PALETTE_NAMES: tuple[str, ...] = tuple(V.COLORS)
_PALETTE = np.array([V.COLORS[c] for c in PALETTE_NAMES] + [V.OCCLUDER_COLOR], dtype=np.float32)  # (K+1, 3)
_OCC = len(PALETTE_NAMES)  # label index of the occluder colour
_BG = _OCC + 1  # label index of the background
_NONE = -1  # pixel near no known colour

# Inner product for soft alpha: G = M^T M with M = diag(1, 1/2, 1/2) @ (RGB -> YCbCr, BT.601).
# Video codecs keep luma at full resolution but halve chroma (yuv420p) and generators blur colour
# more than brightness, so brightness differences locate edges better; chroma still counts
# where an object and its background have similar luma (e.g. blue on gray).
_YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], np.float32)
_ALPHA_METRIC = (_YCBCR.T @ np.diag([1.0, 0.25, 0.25]).astype(np.float32) @ _YCBCR).astype(np.float32)  # (3, 3)

ATTRIBUTE_TYPES = ("color", "shape", "size", "motion", "speed", "count", "background", "occluder", "permanence")


# ----------------------------------------------------------------------------------------------
# What the judge sees in a clip, independent of any target.
# ----------------------------------------------------------------------------------------------
@dataclass
class SeenObject:
    """One object found in a clip (one palette colour). Arrays are per frame, NaN where absent."""

    color: str
    present: np.ndarray  # (T,) bool
    clean: np.ndarray  # (T,) bool, fully visible (not at the border, occluder or another object)
    centroid: np.ndarray  # (T, 2) float (x, y) pixels
    area: np.ndarray  # (T,) float, alpha area in pixels
    masks: np.ndarray  # (T, H, W) bool, the object's pixels
    frame_shape: list = field(default_factory=list)  # (T,) shape seen per frame, None where absent
    visible: np.ndarray | None = None  # (T,) share of the object's area in view (0 where absent)
    shape: str | None = None
    shape_votes: dict = field(default_factory=dict)
    size: str | None = None
    radius: float = float("nan")  # centre-to-farthest-point, fraction of min(H, W)
    motion: str | None = None
    velocity: tuple[float, float] = (float("nan"), float("nan"))  # min(H,W)/s, signed net direction
    speed: float = float("nan")  # min(H, W) per second
    speed_class: str | None = None
    permanent: bool | None = None  # None: no occluder in the clip

    def describe(self) -> dict:
        return {
            "color": self.color, "shape": self.shape, "size": self.size, "motion": self.motion,
            "speed": self.speed_class, "radius": round(float(self.radius), 4),
            "speed_value": round(float(self.speed), 4), "frames": int(self.present.sum()),
            "clean_frames": int(self.clean.sum()), "shape_votes": dict(self.shape_votes),
            "permanent": self.permanent,
        }


@dataclass
class Analysis:
    """Everything the judge measured in one clip."""

    height: int
    width: int
    num_frames: int
    fps: float
    background: str | None
    background_rgb: tuple[float, float, float]
    occluder: bool
    occluder_span: tuple[float, float] | None  # bar columns [x0, x1) in pixels
    objects: list[SeenObject]
    flicker: float

    def describe(self) -> dict:
        return {
            "background": self.background, "occluder": self.occluder,
            "objects": [o.describe() for o in self.objects], "flicker": round(self.flicker, 4),
        }


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
# Shape references, measured on the renderer's own shapes (one definition of what a star is).
# ----------------------------------------------------------------------------------------------
def _moment_features(alpha: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    """Rotation-invariant shape features of a soft mask.

    alpha (N,) weights at pixel centres (xs, ys). Returns (h (3,) = symmetry strengths for k = 3, 4, 5,
    area, cx, cy). h_k = |sum a z^k| / sum a |z|^k with z the complex offset from the centroid.
    """
    a = alpha.astype(np.float64)
    area = float(a.sum())
    cx = float((a * xs).sum() / area)
    cy = float((a * ys).sum() / area)
    z = (xs - cx) + 1j * (ys - cy)
    r = np.abs(z)
    h = np.empty(3)
    for i, k in enumerate((3, 4, 5)):
        h[i] = abs((a * z**k).sum()) / max((a * r**k).sum(), 1e-12)
    return h, area, cx, cy


@functools.lru_cache(maxsize=1)
def shape_references() -> dict[str, dict[str, float]]:
    """Per shape: symmetry strengths h3, h4, h5 and k = area / radius^2, from the renderer at 192x192."""
    from minisora.data.synthetic import render

    size = 192
    refs: dict[str, dict[str, float]] = {}
    for shape in V.SHAPES:
        obj = ObjectSpec(color="white", shape=shape, size="large", motion="still", speed="slow", x0=0.5, y0=0.5)
        frame = render(SceneSpec(objects=(obj,), background="black"), size, size, 1)[0]
        bg = np.array(V.BACKGROUNDS["black"], np.float64)
        col = np.array(V.COLORS["white"], np.float64)
        alpha = np.clip(((frame.astype(np.float64) - bg) @ (col - bg)) / ((col - bg) @ (col - bg)), 0.0, 1.0)
        ys, xs = np.nonzero(alpha > 0)
        h, area, _, _ = _moment_features(alpha[ys, xs], ys.astype(np.float64), xs.astype(np.float64))
        radius_px = V.SIZES["large"] * size
        refs[shape] = {"h3": h[0], "h4": h[1], "h5": h[2], "k": area / radius_px**2}
    return refs


def _classify_shape(h: np.ndarray) -> str:
    """Shape from symmetry strengths h = (h3, h4, h5).

    Each polygonal shape has one dominant symmetry order (triangle 3, square 4, star 5); its strength
    relative to the reference of a sharp rendering is the evidence. Blur and small size shrink all
    strengths towards 0 (a circle), so a shape wins only when its relative evidence is at least
    MIN_SYMMETRY; otherwise the blob is a circle.
    """
    refs = shape_references()
    order = {"triangle": 0, "square": 1, "star": 2}
    ratios = {s: h[i] / refs[s][("h3", "h4", "h5")[i]] for s, i in order.items()}
    best = max(ratios, key=ratios.get)
    return best if ratios[best] >= MIN_SYMMETRY else "circle"


MIN_SYMMETRY = 0.3


# ----------------------------------------------------------------------------------------------
# Analysis
# ----------------------------------------------------------------------------------------------
def _check_video(video) -> np.ndarray:
    if hasattr(video, "detach"):
        video = video.detach().cpu().numpy()
    v = np.asarray(video)
    if v.dtype != np.uint8:
        raise TypeError(f"the judge takes uint8 frames (values 0..255), got dtype {v.dtype}")
    if v.ndim != 4 or v.shape[-1] != 3:
        raise ValueError(f"the judge takes a video shaped (T, H, W, 3), got {v.shape}")
    if v.shape[0] < 2:
        raise ValueError(f"the judge needs at least 2 frames to see motion, got {v.shape[0]}")
    if min(v.shape[1:3]) < 16:
        raise ValueError(f"frames must be at least 16x16 to resolve shapes, got {v.shape[1]}x{v.shape[2]}")
    return v


def _estimate_background(v: np.ndarray) -> tuple[np.ndarray, float]:
    """The dominant colour (mode of a 16-level histogram, refined by a local mean) and its share."""
    px = v[:, ::2, ::2].reshape(-1, 3)  # (N, 3), subsampled: the mode needs no full resolution
    q = (px >> 4).astype(np.int32)
    codes = q[:, 0] * 256 + q[:, 1] * 16 + q[:, 2]
    mode = np.bincount(codes, minlength=4096).argmax()
    centre = np.array([(mode // 256) * 16 + 8, ((mode // 16) % 16) * 16 + 8, (mode % 16) * 16 + 8], np.float32)
    pxf = px.astype(np.float32)
    for _ in range(2):  # refine: mean of the pixels near the current estimate
        near = np.linalg.norm(pxf - centre, axis=1) < BG_DIST
        if not near.any():
            break
        centre = pxf[near].mean(axis=0)
    share = float((np.linalg.norm(pxf - centre, axis=1) < BG_DIST).mean())
    return centre, share


def _min_area_px(h: int, w: int) -> float:
    """Smallest blob that may be an object: a third of the smallest shape at the small size."""
    side = min(h, w)
    k_min = min(r["k"] for r in shape_references().values())
    return max(4.0, 0.33 * k_min * (V.SIZES["small"] * side) ** 2)


def analyze(video, fps: float = 8.0) -> Analysis:
    """Measure background, occluder and every object in a uint8 (T, H, W, 3) clip."""
    v = _check_video(video)
    T, H, W, _ = v.shape
    side = min(H, W)
    vf = v.astype(np.float32)

    bg_rgb, bg_share = _estimate_background(v)
    background = None
    if bg_share >= BG_MIN_SHARE:
        names = list(V.BACKGROUNDS)
        d = [np.linalg.norm(bg_rgb - np.array(V.BACKGROUNDS[n], np.float32)) for n in names]
        if min(d) < BG_MATCH_DIST:
            background = names[int(np.argmin(d))]

    # Nearest colour per pixel among palette + occluder + background.
    refs = np.concatenate([_PALETTE, bg_rgb[None]], axis=0)  # (K+2, 3)
    # Squared distances |p - c|^2 = |p|^2 - 2 p.c + |c|^2 as one matrix product.
    d2 = (vf * vf).sum(-1, keepdims=True) - 2.0 * (vf @ refs.T) + (refs * refs).sum(-1)  # (T, H, W, K+2)
    label = d2.argmin(axis=-1)  # (T, H, W)
    dmin = np.sqrt(np.maximum(np.take_along_axis(d2, label[..., None], axis=-1)[..., 0], 0.0))  # (T, H, W)
    label = np.where(dmin < LOOSE_DIST, label, _NONE)
    core = dmin < CORE_DIST
    is_bg = label == _BG

    # Per-frame background colour (generated clips may drift in brightness).
    bg_frames = np.empty((T, 3), np.float32)
    for t in range(T):
        sel = is_bg[t]
        bg_frames[t] = vf[t][sel].mean(axis=0) if sel.sum() >= 16 else bg_rgb

    # Occluder: a vertical band of columns that are mostly occluder-coloured.
    occ_pix = (label == _OCC) & core  # (T, H, W)
    col_share = np.median(occ_pix.mean(axis=1), axis=0)  # (W,)
    occ_cols = col_share >= 0.6
    occluder = bool(occ_cols.sum() >= max(2.0, 0.4 * V.OCCLUDER_WIDTH * W))
    occluder_span = None
    if occluder:
        cols = np.nonzero(occ_cols)[0]
        # The span reaches out to edge columns whose colour is bar-like but blurred or blended
        # (codec chroma bleed, anti-aliasing): loose pixels, up to 2 columns beyond the core.
        loose_share = np.median((label == _OCC).mean(axis=1), axis=0)  # (W,)
        lo, hi = int(cols.min()), int(cols.max())
        while lo > 0 and lo > cols.min() - 2 and loose_share[lo - 1] >= 0.5:
            lo -= 1
        while hi < W - 1 and hi < cols.max() + 2 and loose_share[hi + 1] >= 0.5:
            hi += 1
        occluder_span = (float(lo), float(hi + 1))
    # The bar's columns, one pixel wider on each side for its anti-aliased edge. Scattered
    # occluder-coloured pixels elsewhere are blends (e.g. red on gray), not the occluder.
    occ_zone = np.zeros((T, H, W), bool)
    if occluder:
        occ_zone[:, :, max(int(occluder_span[0]) - 1, 0): int(occluder_span[1]) + 1] = True

    # Objects: valid components per colour and frame.
    min_area = _min_area_px(H, W)
    min_core = max(3, int(0.25 * min_area))
    eight = np.ones((3, 3), bool)
    masks: dict[int, np.ndarray] = {}
    rows, cols = np.mgrid[0:H, 0:W].astype(np.float64)
    for k in range(len(PALETTE_NAMES)):
        lk = label == k
        if (lk & core).sum() < min_core * 2:
            continue
        mk = np.zeros((T, H, W), bool)
        for t in range(T):
            lab, n = ndimage.label(lk[t], structure=eight)
            if n == 0:
                continue
            areas = np.bincount(lab.ravel(), minlength=n + 1)
            cores = np.bincount(lab.ravel(), weights=core[t].ravel(), minlength=n + 1)
            # A real object is mostly its exact colour (core); a clump of noise pixels that
            # happen to lie within LOOSE_DIST of a colour is mostly not.
            ok = np.nonzero((areas >= min_area) & (cores >= min_core) & (cores >= MIN_CORE_SHARE * areas))[0]
            ok = ok[ok > 0]
            if len(ok) == 0:
                continue
            # The largest component is the object; others join it when near (an object split by
            # the occluder bar or by another object in front of it).
            big = ok[np.argmax(areas[ok])]
            flat = lab.ravel()
            cy_all = np.bincount(flat, weights=rows.ravel(), minlength=n + 1) / np.maximum(areas, 1)
            cx_all = np.bincount(flat, weights=cols.ravel(), minlength=n + 1) / np.maximum(areas, 1)
            centres = [(cy_all[i], cx_all[i]) for i in ok]
            cb = (cy_all[big], cx_all[big])
            reach = 2.5 * V.SIZES["large"] * side + V.OCCLUDER_WIDTH * W
            keep = [i for i, c in zip(ok, centres) if math.hypot(c[0] - cb[0], c[1] - cb[1]) <= reach]
            mk[t] = np.isin(lab, keep)
        seen_frames = mk.any(axis=(1, 2))
        n_seen = int(seen_frames.sum())
        if n_seen >= max(2, math.ceil(MIN_PRESENT_SHARE * T)):
            masks[k] = mk
        elif n_seen >= 2 and occluder:
            # Seen rarely, but cut by the bar whenever seen: the occluder explains the missing
            # frames, so it is an object, not a passing blob.
            grown = ndimage.binary_dilation(mk, iterations=1, structure=np.ones((1, 3, 3), bool))
            cut = (grown & occ_zone).any(axis=(1, 2))
            if cut[seen_frames].all():
                masks[k] = mk

    objects: list[SeenObject] = []
    for k, mk in masks.items():
        others = np.zeros((T, H, W), bool)
        for k2, m2 in masks.items():
            if k2 != k:
                others |= m2
        others = ndimage.binary_dilation(others, iterations=1, structure=np.ones((1, 3, 3), bool))
        col = _PALETTE[k]
        present = mk.any(axis=(1, 2))
        clean = np.zeros(T, bool)
        centroid = np.full((T, 2), np.nan)
        area = np.full(T, np.nan)
        feats: list[np.ndarray | None] = [None] * T
        alphas: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # t -> (alpha (H,W), observed (H,W))
        for t in np.nonzero(present)[0]:
            # Soft alpha: each pixel's position on the line from background to object colour,
            # measured with the _ALPHA_METRIC inner product (luma weighs more than chroma).
            b = bg_frames[t]
            dv = _ALPHA_METRIC @ (col - b)  # (3,)
            alpha_t = np.clip(((vf[t] - b) @ dv) / float((col - b) @ dv), 0.0, 1.0)  # (H, W)
            # Pixels that can show this object: not the bar, not another object.
            observed = ~others[t] & ~occ_zone[t]
            alphas[int(t)] = (alpha_t, observed)
            grown = ndimage.binary_dilation(mk[t], iterations=2, structure=eight)
            win = grown & observed
            ys, xs = np.nonzero(win)
            alpha = alpha_t[ys, xs]
            if alpha.sum() < 1.0:
                continue
            h, a, cx, cy = _moment_features(alpha, ys.astype(np.float64), xs.astype(np.float64))
            centroid[t] = (cx, cy)
            area[t] = a
            feats[t] = h
            # Fully visible: its pixels stay off the frame's outermost pixels, the bar and others.
            near = ndimage.binary_dilation(mk[t], iterations=1, structure=eight)
            at_edge = mk[t][0].any() or mk[t][-1].any() or mk[t][:, 0].any() or mk[t][:, -1].any()
            clean[t] = not (at_edge or (near & (occ_zone[t] | others[t])).any())
        obj = SeenObject(color=PALETTE_NAMES[k], present=present, clean=clean, centroid=centroid, area=area, masks=mk)
        _measure_shape_size(obj, feats, alphas, side)
        _measure_motion(obj, fps, side)
        objects.append(obj)

    # Order objects by first appearance then colour, for stable reports.
    objects.sort(key=lambda o: PALETTE_NAMES.index(o.color))
    if occluder:
        for o in objects:
            o.permanent = _permanence(o, objects, occluder_span, H, W, side)

    bg_mask = is_bg & ~ndimage.binary_dilation(~is_bg, iterations=1, structure=np.ones((1, 3, 3), bool))
    try:
        flick = _flicker(v, bg_mask)
    except ValueError:  # no steady background at all (e.g. pure noise): measure the whole frame
        flick = _flicker(v)
    return Analysis(height=H, width=W, num_frames=T, fps=float(fps), background=background,
                    background_rgb=tuple(float(c) for c in bg_rgb), occluder=occluder,
                    occluder_span=occluder_span, objects=objects, flicker=flick)


@functools.lru_cache(maxsize=4096)
def _template(shape: str, radius: float, fx: float = 0.0, fy: float = 0.0) -> np.ndarray:
    """Coverage (2m+1, 2m+1) of a shape centred at offset (fx, fy) from the patch's middle pixel,
    drawn from the renderer's own signed distance (the one definition of each shape). Cached:
    radii and sub-pixel offsets take few distinct values. Callers must not modify the result."""
    from minisora.data.synthetic import shape_sdf

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


def _measure_shape_size(obj: SeenObject, feats: list, alphas: dict, side: int) -> None:
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
        obj.frame_shape = [None if f is None else _classify_shape(f) for f in feats]
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


MOTION_MIN_VISIBLE = 0.35  # share of the object in view for a partly hidden frame to place motion
MOTION_MIN_FRAMES = 5  # ... unless fewer such frames remain (then every placed frame counts)


def _measure_motion(obj: SeenObject, fps: float, side: int) -> None:
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


def _permanence(obj: SeenObject, objects: list[SeenObject], span, H: int, W: int, side: int) -> bool:
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
    tol = 2.0
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
            sb = _majority_shape(obj, before)
            sa = _majority_shape(obj, after)
            if sb is not None and sa is not None and sb != sa:
                return False
    return True


def _majority_shape(obj: SeenObject, frames: list[int]) -> str | None:
    """The shape most frames show, or None without a strict winner (a tie says nothing)."""
    shapes = [obj.frame_shape[t] for t in frames if obj.frame_shape[t] is not None]
    counts = sorted(((shapes.count(s), s) for s in set(shapes)), reverse=True)
    if not counts or (len(counts) > 1 and counts[0][0] == counts[1][0]):
        return None
    return counts[0][1]


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
    from minisora.data.captions import parse

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

    from minisora.data.synthetic import render, trajectory

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

    from minisora.data.synthetic import render, trajectory

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

    from minisora.data.synthetic import render, sample_scene

    start = time.perf_counter()
    correct = {k: {"clean": [], "mp4": [], "degraded": [], "wp clean": [], "wp mp4": []} for k in ATTRIBUTE_TYPES}
    n_ill = 0
    reject = {k: {"clean": [], "mp4": []} for k in CHANGE_TYPES}
    junk = {"noise": [], "blank": [], "black": []}
    text_acc: dict[str, list[float]] = {"caption": [], "prompt": []}
    failures: list[str] = []
    try:
        from minisora.data.captions import write_caption, write_prompt
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
    parser = argparse.ArgumentParser(prog="python -m minisora.eval.judge",
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
