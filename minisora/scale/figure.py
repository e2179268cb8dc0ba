"""The Sora figure: the same prompts and noise seeds sampled at 1x, 4x and 32x training compute.

Rows are prompts; each column group is one multiplier's run (same size, first seed), showing
`frames_shown` evenly spaced frames as a strip. Also written as an animated GIF whose every frame is
the grid (prompts x multipliers) at one time step.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

GAP = 4
LABEL_H = 14


def _label(canvas: np.ndarray, text: str, x: int, y: int) -> None:
    from PIL import Image, ImageDraw

    img = Image.fromarray(canvas)
    ImageDraw.Draw(img).text((x, y), text, fill=(0, 0, 0))
    canvas[:] = np.asarray(img)


def strips(clips: dict[str, np.ndarray], frames_shown: int) -> np.ndarray:
    """clips: {label: (P, T, H, W, 3) uint8} -> one PNG-ready uint8 image (labels on top)."""
    labels = list(clips)
    P, T, H, W, _ = clips[labels[0]].shape
    idx = np.linspace(0, T - 1, frames_shown).round().astype(int)
    group_w = frames_shown * W + (frames_shown - 1)
    width = len(labels) * group_w + (len(labels) - 1) * GAP * 2
    canvas = np.full((LABEL_H + P * H + (P - 1) * GAP, width, 3), 255, np.uint8)
    for g, lab in enumerate(labels):
        x0 = g * (group_w + 2 * GAP)
        _label(canvas, lab, x0 + 2, 1)
        for p in range(P):
            y = LABEL_H + p * (H + GAP)
            for j, t in enumerate(idx):
                x = x0 + j * (W + 1)
                canvas[y:y + H, x:x + W] = clips[lab][p, t]
    return canvas


def animation(clips: dict[str, np.ndarray]) -> np.ndarray:
    """(T, rows*H, cols*W, 3): prompts down, multipliers across, one frame per time step."""
    labels = list(clips)
    P, T, H, W, _ = clips[labels[0]].shape
    out = np.full((T, P * H + (P - 1) * GAP, len(labels) * W + (len(labels) - 1) * GAP, 3), 255, np.uint8)
    for g, lab in enumerate(labels):
        for p in range(P):
            out[:, p * (H + GAP):p * (H + GAP) + H, g * (W + GAP):g * (W + GAP) + W] = clips[lab][p]
    return out


def sora_figure(cfg, study, lrs: dict, out_dir: Path) -> dict:
    """Sample the figure from the committed study's runs; returns what it wrote and from which runs."""
    from PIL import Image

    from minisora.io import export_to_video
    from minisora.scale import grid as G
    from minisora.scale.evaluate import load_ema_model, sample_clips
    from minisora.scale.study import _device

    f = cfg.figure
    size = f.size or max(study.facts, key=lambda s: study.facts[s].params)
    es = study.eval_set
    n = min(f.prompts, len(es.captions))
    captions, seeds = es.captions[:n], [cfg.eval.seed + i for i in range(n)]
    clips, runs = {}, {}
    for m in f.multipliers:
        run = G.plan_run(cfg, study.facts[size], m, cfg.grid.seeds[0], lrs[size])
        weights = json.loads(study.run_path(run).read_text())["weights"]
        clips[f"{m:g}x compute"], _ = sample_clips(load_ema_model(weights, _device()), es, captions, seeds, cfg)
        runs[f"{m:g}"] = run.run_id
    png = out_dir / "sora_figure.png"
    Image.fromarray(strips(clips, f.frames_shown)).save(png)
    gif = out_dir / "sora_figure.gif"
    export_to_video(animation(clips), gif, fps=es.fps)
    return {"png": png.name, "gif": gif.name, "size": size, "runs": runs, "captions": captions, "seeds": seeds}
