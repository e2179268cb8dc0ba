"""Tables over judged clips: per-attribute pass rates pooled over clips, split by the number of objects
in the prompt or by window of a long clip, the seam of an extension, the contact sheet and the words the
rewriter could not place. Pure functions of what the judge returned; `minisora eval` prints them."""

from __future__ import annotations

from collections import Counter

import numpy as np


def _type_of(key: str) -> str:
    return key.split(".")[-1]


def pooled_table(results: list) -> dict[str, dict[str, float]]:
    """Per attribute type: passed / stated over all clips (pooled), plus mean flicker and accuracy."""
    passed: dict[str, int] = {}
    stated: dict[str, int] = {}
    for r in results:
        for k, ok in r.checks.items():
            t = _type_of(k)
            stated[t] = stated.get(t, 0) + 1
            passed[t] = passed.get(t, 0) + int(bool(ok))
    table = {t: {"score": passed[t] / stated[t], "passed": passed[t], "stated": stated[t]} for t in sorted(stated)}
    table["flicker"] = {"score": float(np.mean([r.flicker for r in results])), "passed": None, "stated": len(results)}
    table["accuracy"] = {"score": float(np.mean([r.accuracy for r in results])), "passed": None, "stated": len(results)}
    return table


def by_object_count(results: list) -> dict[str, dict[int, dict[str, float]]]:
    """Per-object attributes split by how many objects the prompt names: binding an attribute to
    the right object is the hard part with several, and the pooled score hides it."""
    from minisora.world.scene import ParsedObject

    table: dict[str, dict[int, dict[str, float]]] = {}
    for r in results:
        n = len({k.split(".")[0] for k in r.checks if k.startswith("obj")})
        for k, ok in r.checks.items():
            t = _type_of(k)
            if k.startswith("obj") and t in ParsedObject.FIELDS:
                row = table.setdefault(t, {}).setdefault(n, {"passed": 0, "stated": 0})
                row["passed"] += int(bool(ok))
                row["stated"] += 1
    for rows in table.values():
        for row in rows.values():
            row["score"] = row["passed"] / row["stated"]
    return {t: dict(sorted(table[t].items())) for t in ParsedObject.FIELDS if t in table}


def by_window(samples: list[dict]) -> dict[str, list[dict]]:
    """Colour and direction of clips longer than the training window, judged on each window alone:
    {type: [{passed, stated, score} per window index]} ({} when no clip had several windows). Count is
    left out: objects may leave the frame in a later window, and the whole clip is what is counted."""
    n = max((len(s.get("windows") or []) for s in samples), default=0)
    table: dict[str, list[dict]] = {}
    for t in ("color", "shape", "motion"):
        rows = [{"passed": 0, "stated": 0} for _ in range(n)]
        for s in samples:
            for i, win in enumerate(s.get("windows") or []):
                for k, ok in win["checks"].items():
                    if _type_of(k) == t:
                        rows[i]["passed"] += int(ok)
                        rows[i]["stated"] += 1
        for r in rows:
            r["score"] = r["passed"] / r["stated"] if r["stated"] else None
        if n:
            table[t] = rows
    return table


def frame_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def seam_ratio(clip: np.ndarray, new: np.ndarray) -> float:
    """Frame difference across the joint clip[-1] -> new[0], over the mean difference inside both clips."""
    inside = [frame_diff(v[i], v[i + 1]) for v in (clip, new) for i in range(len(v) - 1)]
    return frame_diff(clip[-1], new[0]) / max(float(np.mean(inside)), 1e-6)


def contact_sheet(rows: list[np.ndarray], cols: int = 5, gap: int = 2) -> np.ndarray:
    """One row per clip, `cols` evenly spaced frames each; clips of different sizes are padded."""
    H = max(r.shape[1] for r in rows)
    W = max(r.shape[2] for r in rows)
    sheet = np.full((len(rows) * (H + gap) + gap, cols * (W + gap) + gap, 3), 255, np.uint8)
    for i, v in enumerate(rows):
        idx = np.linspace(0, len(v) - 1, cols).round().astype(int)
        for j, t in enumerate(idx):
            y, x = gap + i * (H + gap), gap + j * (W + gap)
            sheet[y:y + v.shape[1], x:x + v.shape[2]] = v[t]
    return sheet


def unmapped_words(samples: list[dict]) -> Counter:
    """How often each prompt word the rewriter could not place occurs over the samples."""
    return Counter(w for s in samples for w in s.get("unmapped", []))
