"""The MovingShapes vocabulary: the one place where the world's words and their meanings live.

The renderer (`data/synthetic.py`), the caption writer and parser (`data/captions.py`), the judge
(`eval/judge.py`) and the prompt rewriter (`text/rewriter.py`) all read these tables, so a word means
the same thing everywhere (DESIGN rule 12: one place per string choice).
"""

from __future__ import annotations

# Object colours, fixed RGB (uint8). Order is stable: indices are used as class ids.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (230, 40, 40),
    "orange": (245, 140, 30),
    "yellow": (240, 220, 40),
    "green": (40, 200, 60),
    "cyan": (40, 210, 220),
    "blue": (40, 80, 230),
    "purple": (150, 60, 200),
    "white": (245, 245, 245),
}

BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "black": (10, 10, 10),
    "gray": (90, 90, 90),
    "navy": (20, 30, 70),
}

# The occluder has a colour of its own, outside the object palette, so that segmentation never
# confuses it with an object.
OCCLUDER_COLOR: tuple[int, int, int] = (135, 105, 70)
# Occluder bar width as a fraction of the frame width.
OCCLUDER_WIDTH = 0.16

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star")

# Object radius (centre to farthest point) as a fraction of min(height, width).
SIZES: dict[str, float] = {"small": 0.11, "large": 0.19}

# Unit direction vectors in image coordinates (x to the right, y downwards).
_D = 0.7071067811865476
MOTIONS: dict[str, tuple[float, float]] = {
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "up": (0.0, -1.0),
    "down": (0.0, 1.0),
    "up-left": (-_D, -_D),
    "up-right": (_D, -_D),
    "down-left": (-_D, _D),
    "down-right": (_D, _D),
    "bouncing": (_D, _D),  # initial heading; the renderer randomises it and reflects off edges
    "still": (0.0, 0.0),
}
DIRECTIONAL_MOTIONS: tuple[str, ...] = tuple(m for m in MOTIONS if m not in ("bouncing", "still"))

# Speed in fractions of min(height, width) per second, so that clip duration and fps change how far
# an object travels in time, not what "fast" means.
SPEEDS: dict[str, float] = {"slow": 0.14, "fast": 0.30}

MAX_OBJECTS = 3

# Held-out attribute combinations: no object in the training split ever has one of these; every
# clip of the held-out split has at least one object with one. Used for generalisation tests.
HELDOUT_COLOR_SHAPE: frozenset[tuple[str, str]] = frozenset({
    ("red", "star"), ("blue", "triangle"), ("green", "square"), ("yellow", "circle"),
    ("purple", "circle"), ("cyan", "star"), ("orange", "square"), ("white", "triangle"),
})
HELDOUT_SHAPE_MOTION: frozenset[tuple[str, str]] = frozenset({
    ("circle", "up"), ("square", "down-left"), ("triangle", "right"), ("star", "up-right"),
})


def is_heldout_object(color: str, shape: str, motion: str) -> bool:
    """True when this object's attributes form a held-out combination."""
    return (color, shape) in HELDOUT_COLOR_SHAPE or (shape, motion) in HELDOUT_SHAPE_MOTION
