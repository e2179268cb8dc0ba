"""The judge: a weights-free analytic evaluator of MovingShapes videos.

Given a clip (uint8 (T, H, W, 3)) and what it should show (a `SceneSpec`, or a prompt/caption that
`minisora.world.grammar.parse` turns into stated attributes), the judge finds the objects and scores
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
`python -m minisora.world.judge.selftest --selftest` measures the judge itself on rendered ground truth.
"""


from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from minisora.world import vocabulary as V
from minisora.world.judge.measure import measure_motion, measure_shape_size, permanence_holds
from minisora.world.judge.objects import (ALPHA_METRIC, BACKGROUND_LABEL, BG_DIST, BG_MATCH_DIST, BG_MIN_SHARE, CORE_DIST,
                                         LOOSE_DIST, MIN_CORE_SHARE, MIN_PRESENT_SHARE, NO_LABEL, OCCLUDER_LABEL,
                                         PALETTE_NAMES, PALETTE_RGB, Analysis, SeenObject, moment_features,
                                         pixel_unit, pixels, shape_references)
from minisora.eval.metrics import flicker as _flicker

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


# The thinnest an object's pixels may be in every frame (judge pixels from the inside to the nearest
# outside pixel, at its thickest point). A colour whose pixels are thinner than that in every frame
# is the anti-aliased blend along the edge where two other colours meet (red over yellow gives an
# orange band: 1.4 at 64 px, 3.2 pixels = 1.6 judge pixels after a bicubic 2x), and the band is as
# thin at every frame size, so the verdict does not depend on resolution. The thinnest real object,
# a small triangle, measures 3.0-3.6 (3.2-4.0 for a small star) sharp or blurred.
MIN_THICKNESS = 2.0


def _ever_thick(masks: np.ndarray, side: int) -> bool:
    """Whether the (n, H, W) masks reach MIN_THICKNESS judge pixels in at least one frame."""
    need = MIN_THICKNESS * pixel_unit(side)
    return any(float(ndimage.distance_transform_edt(m).max()) >= need for m in masks)


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
    refs = np.concatenate([PALETTE_RGB, bg_rgb[None]], axis=0)  # (K+2, 3)
    # Squared distances |p - c|^2 = |p|^2 - 2 p.c + |c|^2 as one matrix product.
    d2 = (vf * vf).sum(-1, keepdims=True) - 2.0 * (vf @ refs.T) + (refs * refs).sum(-1)  # (T, H, W, K+2)
    label = d2.argmin(axis=-1)  # (T, H, W)
    dmin = np.sqrt(np.maximum(np.take_along_axis(d2, label[..., None], axis=-1)[..., 0], 0.0))  # (T, H, W)
    label = np.where(dmin < LOOSE_DIST, label, NO_LABEL)
    core = dmin < CORE_DIST
    is_bg = label == BACKGROUND_LABEL

    # Per-frame background colour (generated clips may drift in brightness).
    bg_frames = np.empty((T, 3), np.float32)
    for t in range(T):
        sel = is_bg[t]
        bg_frames[t] = vf[t][sel].mean(axis=0) if sel.sum() >= 16 else bg_rgb

    # Occluder: a vertical band of columns that are mostly occluder-coloured.
    occ_pix = (label == OCCLUDER_LABEL) & core  # (T, H, W)
    col_share = np.median(occ_pix.mean(axis=1), axis=0)  # (W,)
    occ_cols = col_share >= 0.6
    occluder = bool(occ_cols.sum() >= max(2.0, 0.4 * V.OCCLUDER_WIDTH * W))
    occluder_span = None
    if occluder:
        cols = np.nonzero(occ_cols)[0]
        # The span reaches out to edge columns whose colour is bar-like but blurred or blended
        # (codec chroma bleed, anti-aliasing): loose pixels, up to 2 (judge) pixels beyond the core.
        loose_share = np.median((label == OCCLUDER_LABEL).mean(axis=1), axis=0)  # (W,)
        lo, hi = int(cols.min()), int(cols.max())
        reach = pixels(2, side)
        while lo > 0 and lo > cols.min() - reach and loose_share[lo - 1] >= 0.5:
            lo -= 1
        while hi < W - 1 and hi < cols.max() + reach and loose_share[hi + 1] >= 0.5:
            hi += 1
        occluder_span = (float(lo), float(hi + 1))
    # The bar's columns, one (judge) pixel wider on each side for its anti-aliased edge. Scattered
    # occluder-coloured pixels elsewhere are blends (e.g. red on gray), not the occluder.
    one = pixels(1, side)
    occ_zone = np.zeros((T, H, W), bool)
    if occluder:
        occ_zone[:, :, max(int(occluder_span[0]) - one, 0): int(occluder_span[1]) + one] = True

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
        if n_seen and not _ever_thick(mk[seen_frames], side):
            continue  # a blend along the edge between two colours ("orange" where red meets yellow)
        if n_seen >= max(2, math.ceil(MIN_PRESENT_SHARE * T)):
            masks[k] = mk
        elif n_seen >= 2 and occluder:
            # Seen rarely, but cut by the bar whenever seen: the occluder explains the missing
            # frames, so it is an object, not a passing blob.
            grown = ndimage.binary_dilation(mk, iterations=one, structure=np.ones((1, 3, 3), bool))
            cut = (grown & occ_zone).any(axis=(1, 2))
            if cut[seen_frames].all():
                masks[k] = mk

    objects: list[SeenObject] = []
    for k, mk in masks.items():
        others = np.zeros((T, H, W), bool)
        for k2, m2 in masks.items():
            if k2 != k:
                others |= m2
        others = ndimage.binary_dilation(others, iterations=one, structure=np.ones((1, 3, 3), bool))
        col = PALETTE_RGB[k]
        present = mk.any(axis=(1, 2))
        clean = np.zeros(T, bool)
        centroid = np.full((T, 2), np.nan)
        area = np.full(T, np.nan)
        feats: list[np.ndarray | None] = [None] * T
        alphas: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # t -> (alpha (H,W), observed (H,W))
        for t in np.nonzero(present)[0]:
            # Soft alpha: each pixel's position on the line from background to object colour,
            # measured with the ALPHA_METRIC inner product (luma weighs more than chroma).
            b = bg_frames[t]
            dv = ALPHA_METRIC @ (col - b)  # (3,)
            alpha_t = np.clip(((vf[t] - b) @ dv) / float((col - b) @ dv), 0.0, 1.0)  # (H, W)
            # Pixels that can show this object: not the bar, not another object.
            observed = ~others[t] & ~occ_zone[t]
            alphas[int(t)] = (alpha_t, observed)
            grown = ndimage.binary_dilation(mk[t], iterations=pixels(2, side), structure=eight)
            win = grown & observed
            ys, xs = np.nonzero(win)
            alpha = alpha_t[ys, xs]
            if alpha.sum() < 1.0:
                continue
            h, a, cx, cy = moment_features(alpha, ys.astype(np.float64), xs.astype(np.float64))
            centroid[t] = (cx, cy)
            area[t] = a
            feats[t] = h
            # Fully visible: its pixels stay off the frame's outermost pixels, the bar and others.
            near = ndimage.binary_dilation(mk[t], iterations=one, structure=eight)
            at_edge = (mk[t][:one].any() or mk[t][-one:].any() or mk[t][:, :one].any()
                       or mk[t][:, -one:].any())
            clean[t] = not (at_edge or (near & (occ_zone[t] | others[t])).any())
        obj = SeenObject(color=PALETTE_NAMES[k], present=present, clean=clean, centroid=centroid, area=area, masks=mk)
        measure_shape_size(obj, feats, alphas, side)
        measure_motion(obj, fps, side)
        objects.append(obj)

    # Order objects by first appearance then colour, for stable reports.
    objects.sort(key=lambda o: PALETTE_NAMES.index(o.color))
    if occluder:
        for o in objects:
            o.permanent = permanence_holds(o, objects, occluder_span, H, W, side)

    bg_mask = is_bg & ~ndimage.binary_dilation(~is_bg, iterations=one, structure=np.ones((1, 3, 3), bool))
    try:
        flick = _flicker(v, bg_mask)
    except ValueError:  # no steady background at all (e.g. pure noise): measure the whole frame
        flick = _flicker(v)
    return Analysis(height=H, width=W, num_frames=T, fps=float(fps), background=background,
                    background_rgb=tuple(float(c) for c in bg_rgb), occluder=occluder,
                    occluder_span=occluder_span, objects=objects, flicker=flick)
