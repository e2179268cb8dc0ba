"""What the judge sees in a clip, independent of any target: tolerances, the palette, the seen
objects and the shape references measured on the renderer's own shapes."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from minisora.world import vocabulary as V
from minisora.world.spec import ObjectSpec, SceneSpec

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
# Widths in pixels (dilations, the occluder's blurred edge, permanence's slack) are stated for the
# 64-pixel frames the judge was tuned and self-tested on, and grow with larger frames: an upscaled
# clip's blur and anti-aliasing are as many pixels wider as the frame is. Smaller frames keep one
# pixel, the least a dilation can be.
REFERENCE_SIDE = 64


def pixel_unit(side: int) -> float:
    """Pixels of a (min(H, W) = side) frame that one judge pixel stands for: max(1, side / 64)."""
    return max(1.0, side / REFERENCE_SIDE)


def pixels(n: int, side: int) -> int:
    """`n` judge pixels as whole pixels of a frame of min(H, W) = side (for dilations and margins)."""
    return max(1, round(n * pixel_unit(side)))


# Boundaries between named classes: geometric means, the midpoint on a log scale.
SIZE_BOUNDARY = math.sqrt(V.SIZES["small"] * V.SIZES["large"])
SPEED_BOUNDARY = math.sqrt(V.SPEEDS["slow"] * V.SPEEDS["fast"])

PALETTE_NAMES: tuple[str, ...] = tuple(V.COLORS)
PALETTE_RGB = np.array([V.COLORS[c] for c in PALETTE_NAMES] + [V.OCCLUDER_COLOR], dtype=np.float32)  # (K+1, 3)
OCCLUDER_LABEL = len(PALETTE_NAMES)  # label index of the occluder colour
BACKGROUND_LABEL = OCCLUDER_LABEL + 1  # label index of the background
NO_LABEL = -1  # pixel near no known colour

# Inner product for soft alpha: G = M^T M with M = diag(1, 1/2, 1/2) @ (RGB -> YCbCr, BT.601).
# Video codecs keep luma at full resolution but halve chroma (yuv420p) and generators blur colour
# more than brightness, so brightness differences locate edges better; chroma still counts
# where an object and its background have similar luma (e.g. blue on gray).
_YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], np.float32)
ALPHA_METRIC = (_YCBCR.T @ np.diag([1.0, 0.25, 0.25]).astype(np.float32) @ _YCBCR).astype(np.float32)  # (3, 3)

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



# ----------------------------------------------------------------------------------------------
# Shape references, measured on the renderer's own shapes (one definition of what a star is).
# ----------------------------------------------------------------------------------------------
def moment_features(alpha: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, float, float, float]:
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
    from minisora.world.render import render

    size = 192
    refs: dict[str, dict[str, float]] = {}
    for shape in V.SHAPES:
        obj = ObjectSpec(color="white", shape=shape, size="large", motion="still", speed="slow", x0=0.5, y0=0.5)
        frame = render(SceneSpec(objects=(obj,), background="black"), size, size, 1)[0]
        bg = np.array(V.BACKGROUNDS["black"], np.float64)
        col = np.array(V.COLORS["white"], np.float64)
        alpha = np.clip(((frame.astype(np.float64) - bg) @ (col - bg)) / ((col - bg) @ (col - bg)), 0.0, 1.0)
        ys, xs = np.nonzero(alpha > 0)
        h, area, _, _ = moment_features(alpha[ys, xs], ys.astype(np.float64), xs.astype(np.float64))
        radius_px = V.SIZES["large"] * size
        refs[shape] = {"h3": h[0], "h4": h[1], "h5": h[2], "k": area / radius_px**2}
    return refs


def classify_shape(h: np.ndarray) -> str:
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
