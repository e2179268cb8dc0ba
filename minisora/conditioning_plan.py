"""What a generation call asks for, as a typed plan: which task, which latent frames are given, where
an SDEdit run starts, and which decoded frames are returned.

Every task is one mechanism, frame conditioning (minisora.flow.conditioning): some latent frames are
given clean and held fixed while the rest are generated.

    t2v                text only
    i2v                the image, encoded as a 1-frame video, is latent frame 0
    extend forward     the last frames of a clip become the first latent frames of the new window
    extend backward    the first frames of a clip become the last latent frames of the new window
    connect (a, b)     the end of clip a at the start, the start of clip b at the end
    loop               one latent frame at both ends
    sdedit             video + strength: start from the clip's latent noised to `strength` (no frames held)

`check_task` validates the request before any model is loaded; `plan_conditioning` turns it into a
`ConditioningPlan` once the VAE is at hand. The pipeline only executes plans.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch

from minisora.io import pixels_to_unit, unit_to_pixels

Task = Literal["t2v", "i2v", "extend", "connect", "loop", "sdedit"]
EXTEND_MODES: tuple[str, ...] = ("forward", "backward")
SAMPLERS: tuple[str, ...] = ("euler", "heun")
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp")

# encode(frames uint8 (T, H, W, 3), height, width) -> normalised latent (1, C, T', H', W')
EncodeFn = Callable[[np.ndarray, int, int], torch.Tensor]


@dataclass
class ConditioningPlan:
    """How one call is sampled. Latent shapes use the window's (C, T', H', W')."""

    task: Task
    frame_cond: torch.Tensor | None = None  # (1, C, T', H', W') clean latents of the given frames
    frame_mask: torch.Tensor | None = None  # (1, 1, T', 1, 1) bool, True = given
    x_init: torch.Tensor | None = None  # (1, C, T', H', W') SDEdit start latent
    strength: float = 1.0  # SDEdit: share of the schedule that is run (1 = from pure noise)
    keep: slice = field(default_factory=lambda: slice(None))  # decoded frames returned (drops frames that repeat the given context)
    given_frame0: np.ndarray | None = None  # (H, W, 3) uint8: the exact input image, pasted back as frame 0
    needs_first_pass: bool = False  # loop without an image: a first pass draws the frame used at both ends


def check_task(image, video, strength, extend, connect, loop) -> Task:
    """Validate the task arguments (no model needed) and name the task."""
    if extend is not None and extend not in EXTEND_MODES:
        raise ValueError(f"extend={extend!r} is not valid; choose one of {', '.join(EXTEND_MODES)} (or None)")
    if extend is not None and video is None:
        raise ValueError("extend needs video= (the clip to continue)")
    if connect is not None and (not isinstance(connect, (tuple, list)) or len(connect) != 2):
        raise ValueError("connect must be a pair (clip_a, clip_b) of videos")
    given = [n for n, v in (("image", image), ("extend", extend), ("connect", connect)) if v is not None]
    if video is not None and extend is None:
        given.append("video")
    if len(given) > 1 and not (loop and given == ["image"]):
        raise ValueError(f"choose one of image / video (+strength) / video + extend / connect, got {', '.join(given)}")
    if loop and given and given != ["image"]:
        raise ValueError(f"loop works alone or with image=, not with {given[0]}")
    if video is not None and extend is None and not (isinstance(strength, (int, float)) and 0.0 < strength <= 1.0):
        raise ValueError(f"strength={strength!r} is not valid: use a number in (0, 1] "
                         f"(small = stay close to the video, 1 = ignore it)")
    if loop:
        return "loop"
    if image is not None:
        return "i2v"
    if extend is not None:
        return "extend"
    if connect is not None:
        return "connect"
    if video is not None:
        return "sdedit"
    return "t2v"


def check_sampling(prompt, negative_prompt, steps, guidance, method, seed, generator) -> None:
    """Validate the arguments of the text and the sampler (no model needed)."""
    from minisora.generation_checks import check_guidance, check_seed

    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError(f"prompt must be a non-empty string, got {prompt!r}")
    if negative_prompt is not None and not isinstance(negative_prompt, str):
        raise ValueError(f"negative_prompt must be a string or None, got {type(negative_prompt).__name__}")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"num_inference_steps={steps} is not valid: use an integer >= 1 (e.g. 25)")
    check_guidance(guidance)  # minisora.generation_checks: the sane range, stated once
    if method not in SAMPLERS:
        raise ValueError(f"sampler={method!r} is not valid; choose one of {', '.join(SAMPLERS)}")
    if seed is not None:
        check_seed(seed)
    if seed is not None and generator is not None:
        raise ValueError("give either seed or generator, not both")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")


def check_upscale(upscale, upscale_time) -> tuple[int, int]:
    """Validate the cascade's factors before any work (the Upscaler checks them again, but only after
    the whole clip was generated): space 1, 2 or 4, time 1 or 2; 1 and 1 = no second stage."""
    from minisora.upscale.config import SCALES, TIME_SCALES

    if upscale not in SCALES or isinstance(upscale, bool):
        raise ValueError(f"upscale={upscale!r} is not valid; choose one of {SCALES} (1 = no upscaling)")
    if upscale_time not in TIME_SCALES or isinstance(upscale_time, bool):
        raise ValueError(f"upscale_time={upscale_time!r} is not valid; choose one of {TIME_SCALES} "
                         f"(2 doubles the frame rate)")
    return int(upscale), int(upscale_time)


def _nearest_multiples(v: int, m: int) -> str:
    lo = max(m, v // m * m)
    hi = lo + m if lo <= v else lo
    return f"{lo}" if lo == hi or lo == v else f"{lo} or {hi}"



def check_clip_size(num_frames: int, height: int, width: int, temporal_factor: int, spatial_factor: int,
                    patch_size: tuple[int, int, int]) -> None:
    """A ValueError naming the nearest valid values unless num_frames = 1 + k * temporal_factor * pt and
    height, width are positive multiples of spatial_factor * ph (pw)."""
    tf, sf = temporal_factor, spatial_factor
    pt, ph, pw = patch_size
    if not isinstance(num_frames, int) or num_frames < 1 or (num_frames - 1) % (tf * pt):
        step = tf * pt
        n = num_frames if isinstance(num_frames, int) else 1
        lo = 1 + max(n - 1, 0) // step * step
        raise ValueError(f"num_frames={num_frames} is not valid: use 1 + k*{step} frames "
                         f"(1, {1 + step}, {1 + 2 * step}, {1 + 4 * step}, ...); nearest: {lo} or {lo + step}")
    for name, v, p in (("height", height, ph), ("width", width, pw)):
        m = sf * p
        if not isinstance(v, int) or v < m or v % m:
            vv = v if isinstance(v, int) else m
            raise ValueError(f"{name}={v} is not valid: it must be a positive multiple of {m} "
                             f"(VAE factor {sf} x patch {p}); nearest: {_nearest_multiples(vv, m)}")


# ------------------------------------------------------------------------------------------------
# Pixels in
# ------------------------------------------------------------------------------------------------
def as_uint8_video(x, name: str) -> np.ndarray:
    """Image / video input -> uint8 (T, H, W, 3). Accepts a path, PIL image, numpy array or tensor."""
    if isinstance(x, (str, Path)):
        from minisora.io import read_image, read_video

        p = Path(x)
        if not p.is_file():
            raise FileNotFoundError(f"{name} file {str(p)!r} does not exist")
        if p.suffix.lower() in IMAGE_SUFFIXES and name == "image":
            x = read_image(p)  # a file that is not an image: VideoReadError naming it
        else:
            x, _ = read_video(p)
    if hasattr(x, "convert") and hasattr(x, "size"):  # PIL image
        x = np.asarray(x.convert("RGB"))
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    if isinstance(x, (list, tuple)):
        x = np.stack([np.asarray(f) for f in x])
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise TypeError(f"{name} must hold uint8 pixels (0..255), got dtype {x.dtype}; "
                        f"convert with (x * 255).round().astype(np.uint8) if it is in [0, 1]")
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"{name} must be shaped (H, W, 3) or (T, H, W, 3) RGB, got {tuple(x.shape)}")
    if x.shape[0] < 1 or x.shape[1] < 2 or x.shape[2] < 2:
        raise ValueError(f"{name} is empty or too small: shape {tuple(x.shape)}")
    return x


def to_model_video(frames: np.ndarray, height: int, width: int) -> torch.Tensor:
    """uint8 (T, H0, W0, 3) -> float (1, 3, T, height, width) in [-1, 1]; centre-crops to the target
    aspect ratio, then resizes (antialiased bilinear)."""
    v = pixels_to_unit(np.array(frames, dtype=np.uint8, copy=True)).permute(0, 3, 1, 2)  # T, 3, H0, W0
    T, _, H0, W0 = v.shape
    if (H0, W0) != (height, width):
        target = width / height
        if W0 / H0 > target:  # too wide: crop width
            w = max(1, round(H0 * target))
            v = v[..., :, (W0 - w) // 2:(W0 - w) // 2 + w]
        elif W0 / H0 < target:
            h = max(1, round(W0 / target))
            v = v[..., (H0 - h) // 2:(H0 - h) // 2 + h, :]
        v = torch.nn.functional.interpolate(v, size=(height, width), mode="bilinear", antialias=True,
                                            align_corners=False).clamp(-1, 1)
    return v.permute(1, 0, 2, 3).unsqueeze(0).contiguous()  # 1, 3, T, H, W


def to_frames(video: torch.Tensor) -> np.ndarray:
    """(B, 3, T, H, W) in [-1, 1] -> uint8 (T, H, W, 3) of the first clip."""
    return unit_to_pixels(video[0]).permute(1, 2, 3, 0).contiguous().numpy()  # T, H, W, 3


# ------------------------------------------------------------------------------------------------
# Plans
# ------------------------------------------------------------------------------------------------
def context_latents(encode: EncodeFn, frames: np.ndarray, k: int, at_end: bool, temporal_factor: int,
                    height: int, width: int) -> torch.Tensor:
    """k latent frames summarising the end (at_end) or the start of a clip, shaped like the first k
    latent frames of a fresh window: a 1-frame (image) latent followed by k - 1 four-frame ones."""
    n = 1 + (k - 1) * temporal_factor
    if frames.shape[0] < n:
        raise ValueError(f"the clip has {frames.shape[0]} frames; {n} are needed as context "
                         f"({k} latent frames); give a longer clip or fewer frames of context")
    part = frames[-n:] if at_end else frames[:n]
    return encode(part, height, width)  # 1, C, k, H', W'


def loop_plan(z0: torch.Tensor, latent_shape) -> ConditioningPlan:
    """Loop: the same latent frame z0 (1, C, 1, H', W') at both ends; the last decoded frame (= the
    first) is dropped so the clip plays seamlessly on repeat."""
    C, Tl, Hl, Wl = latent_shape
    fc = torch.zeros(1, C, Tl, Hl, Wl)
    fc[:, :, :1] = z0
    fc[:, :, -1:] = z0
    mask = torch.zeros(1, 1, Tl, 1, 1, dtype=torch.bool)
    mask[:, :, 0] = mask[:, :, -1] = True
    return ConditioningPlan(task="loop", frame_cond=fc, frame_mask=mask, keep=slice(0, -1))


def plan_conditioning(task: Task, latent_shape, height: int, width: int, *, encode: EncodeFn,
                      temporal_factor: int, extend_context: int, image=None, video=None, extend=None,
                      connect=None, strength: float = 1.0) -> ConditioningPlan:
    """The plan for a validated task. encode: pixels -> latents (the VAE's); extend_context: latent
    frames of an input clip given as context when extending or connecting."""
    C, Tl, Hl, Wl = latent_shape
    tf = temporal_factor
    fc = torch.zeros(1, C, Tl, Hl, Wl)
    mask = torch.zeros(1, 1, Tl, 1, 1, dtype=torch.bool)
    plan = ConditioningPlan(task=task)
    k = max(1, min(extend_context, Tl - 1))
    if task == "loop" and image is None:
        return ConditioningPlan(task=task, needs_first_pass=True)
    if task in ("i2v", "loop"):
        img = as_uint8_video(image, "image")
        if img.shape[0] != 1:
            raise ValueError(f"image must be one frame (H, W, 3), got {img.shape[0]} frames; use video= for clips")
        z = encode(img, height, width)  # 1, C, 1, H', W'
        given = to_frames(to_model_video(img, height, width))[0]  # H, W, 3 as the model sees it
        if task == "loop":
            looped = loop_plan(z, latent_shape)
            looped.given_frame0 = given
            return looped
        fc[:, :, :1] = z
        mask[:, :, 0] = True
        plan.given_frame0 = given
    elif task == "extend":
        clip = as_uint8_video(video, "video")
        if extend == "forward":
            # The clip's last 1 + (k-1)*tf frames become the window's first k latent frames; the
            # window's first (k-1)*tf + 1 decoded frames repeat them and are dropped.
            fc[:, :, :k] = context_latents(encode, clip, k, True, tf, height, width)
            mask[:, :, :k] = True
            plan.keep = slice(1 + (k - 1) * tf, None)
        else:
            # The clip's frames 1..k*tf become the window's last k latent frames (4 frames each);
            # the decoded frame before them stands in for the clip's frame 0 and is dropped.
            z = context_latents(encode, clip, k + 1, False, tf, height, width)  # 1, C, k+1, H', W'
            fc[:, :, Tl - k:] = z[:, :, 1:]
            mask[:, :, Tl - k:] = True
            plan.keep = slice(0, 1 + (Tl - 1 - k) * tf - 1)
    elif task == "connect":
        a = as_uint8_video(connect[0], "connect[0]")
        b = as_uint8_video(connect[1], "connect[1]")
        k = max(1, min(k, (Tl - 1) // 3))  # leave at least a third of the window to generate
        fc[:, :, :k] = context_latents(encode, a, k, True, tf, height, width)
        zb = context_latents(encode, b, k + 1, False, tf, height, width)
        fc[:, :, Tl - k:] = zb[:, :, 1:]
        mask[:, :, :k] = True
        mask[:, :, Tl - k:] = True
        plan.keep = slice(1 + (k - 1) * tf, 1 + (Tl - 1 - k) * tf - 1)
    elif task == "sdedit":
        clip = as_uint8_video(video, "video")
        n = 1 + (Tl - 1) * tf
        if clip.shape[0] < n:
            raise ValueError(f"video has {clip.shape[0]} frames; num_frames={n} were asked for; give "
                             f"num_frames <= {1 + (clip.shape[0] - 1) // tf * tf} or a longer clip")
        plan.x_init = encode(clip[:n], height, width)
        plan.strength = float(strength)
        return plan
    if bool(mask.any()):
        plan.frame_cond, plan.frame_mask = fc, mask
    return plan
