"""The quality bars `minisora eval` judges a model against, and the figures they are judged on.

Prompt following (issue 33): the judged share of stated attributes, with flicker as the mean score;
`motion` is the judge's name for direction, and `motion_3_objects` is direction in prompts naming three
objects, where binding a direction to the right object is hardest. Frame-conditioned tasks: the PSNR of
an image-to-video clip's frame 0 against the given image, and the seam ratio of an extended clip.
"""

from __future__ import annotations

import numpy as np

BARS: dict[str, tuple[str, float]] = {
    "color": (">=", 0.97),
    "shape": (">=", 0.90),
    "motion": (">=", 0.90),
    "motion_3_objects": (">=", 0.85),
    "count": (">=", 0.97),
    "flicker": (">=", 0.98),
    "i2v_psnr_frame0": (">=", 30.0),
    "extend_seam_ratio": ("<=", 1.5),
}
POOLED = ("color", "shape", "motion", "count", "flicker")  # read from the pooled table
TASKS = ("i2v_psnr_frame0", "extend_seam_ratio")  # read from the frame-conditioned tasks


def barred_values(table: dict, by_objects: dict, tasks: dict) -> dict[str, float | None]:
    """The figure behind every bar (None: not measured, e.g. no three-object prompt or `--tasks 0`).

    table: `tables.pooled_table`; by_objects: `tables.by_object_count`; tasks: the task figures."""
    values = {k: table[k]["score"] if k in table else None for k in POOLED}
    three = by_objects.get("motion", {}).get(3)
    values["motion_3_objects"] = three["score"] if three else None
    values.update({k: tasks.get(k) for k in TASKS})
    return {k: values[k] for k in BARS}


def meets(value: float | None, op: str, bar: float) -> bool | None:
    """Whether `value` clears the bar; None when there is no finite value to judge."""
    if value is None or not np.isfinite(value):
        return None
    return value >= bar if op == ">=" else value <= bar


def verdicts(values: dict[str, float | None]) -> dict[str, bool | None]:
    return {k: meets(values.get(k), op, bar) for k, (op, bar) in BARS.items()}


def worse(a: float, b: float, op: str) -> bool:
    """Whether a is further from clearing a bar of direction `op` than b."""
    return a < b if op == ">=" else a > b


def word(verdict: bool | None) -> str:
    return "not measured" if verdict is None else "ok" if verdict else "MISSED"


def bar_mark(key: str, verdict: bool | None) -> str:
    """'>= 0.97  ok' for a barred figure, '' for one without a bar."""
    if key not in BARS:
        return ""
    op, bar = BARS[key]
    return f"{op} {bar:g}  {word(verdict)}"
