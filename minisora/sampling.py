"""The one sampling path, shared by the pipelines (minisora's and Wan's), training-time sample videos
(minisora.train.engine) and the scaling study: `denoise` integrates the flow ODE under a conditioning
plan, `decode_frames` turns latents into uint8 frames, `PipelineOutput` is what a generation call
returns and `StepTimer` times its numbered steps."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from minisora.conditioning_plan import ConditioningPlan, to_frames


class StepTimer:
    """Wall time of each numbered step of a generation call, in seconds (rounded to 0.1 ms)."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.timings: dict[str, float] = {}

    def lap(self, name: str) -> None:
        """Record the time since the previous lap (or the start) as step `name`."""
        now = time.perf_counter()
        self.timings[name] = round(now - self.last, 4)
        self.last = now

    def finish(self, load_seconds: dict[str, float]) -> dict[str, float]:
        """The timings with `total` (since the start) and `load` (components loaded during the call)."""
        self.timings["total"] = round(time.perf_counter() - self.start, 4)
        if load_seconds:
            self.timings["load"] = round(sum(load_seconds.values()), 4)
        return self.timings


# ------------------------------------------------------------------------------------------------
# Output
# ------------------------------------------------------------------------------------------------
@dataclass
class PipelineOutput:
    """frames uint8 (T, H, W, 3); caption = the prompt as rewritten (what the transformer saw)."""

    frames: np.ndarray
    fps: float
    prompt: str
    caption: str
    negative_prompt: str | None
    seed: int | None
    settings: dict[str, Any]
    timings: dict[str, float]
    rewrite: dict[str, Any] | None = None  # the rewriter's report (kept / filled / unmapped words)
    latents: torch.Tensor | None = None  # (1, C, T', H', W') final latents

    def to_json(self) -> dict[str, Any]:
        """The JSON sidecar: everything needed to reproduce the clip, and how long it took."""
        return {"prompt": self.prompt, "caption": self.caption, "negative_prompt": self.negative_prompt,
                "seed": self.seed, "rewrite": self.rewrite, "settings": self.settings,
                "frames": list(self.frames.shape), "fps": self.fps, "timings": self.timings}


# ------------------------------------------------------------------------------------------------
# The one sampling path (the pipeline and training-time samples both use it)
# ------------------------------------------------------------------------------------------------
def denoise(model_fn: Callable, noise: torch.Tensor, *, steps: int, method: str, guidance: float, shift: float,
            cond: dict, uncond: dict | None, plan: ConditioningPlan | None = None,
            progress: bool = False) -> torch.Tensor:
    """Integrate the flow ODE from `noise` (B, C, T', H', W') to clean latents, holding the plan's
    given frames and starting an SDEdit plan from its x_init."""
    from minisora.flow.samplers import sample

    plan = plan or ConditioningPlan(task="t2v")
    return sample(model_fn, noise, steps=steps, method=method, guidance_scale=guidance, shift=shift,
                  cond=cond, uncond=uncond, frame_cond=plan.frame_cond, frame_mask=plan.frame_mask,
                  x_init=plan.x_init, strength=plan.strength, progress=progress)


def decode_frames(vae, latents: torch.Tensor) -> np.ndarray:
    """Latents (B, C, T', H', W') -> uint8 frames (B, T, H, W, 3) through the VAE."""
    device = next(vae.parameters()).device
    video = vae.decode(latents.float().to(device)).float().cpu()  # B, 3, T, H, W in [-1, 1]
    return np.stack([to_frames(video[i:i + 1]) for i in range(video.shape[0])])
