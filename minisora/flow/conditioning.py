"""Conditioning on given latent frames: one mechanism for image-to-video, extension, looping, joining.

A boolean mask (B, 1, T, 1, 1) marks the latent frames that are *given* (clean). In training a share
of samples gets a random mask from `MODES`; those frames are put into x_t clean (t = 0 for them),
passed to the model as `frame_cond` + mask channel, and left out of the loss. In sampling the same
frames are held fixed at every step. Which task results depends only on the mask:

    first       image-to-video (the first latent frame is the encoded image)
    first_k     extend a clip forward (its last k latent frames become the new first k)
    last_k      extend a clip backward
    first_last  connect two clips / loop (first = last)
"""

from __future__ import annotations

import torch

MODES: tuple[str, ...] = ("first", "first_k", "last_k", "first_last")


def frame_mask(mode: str, num_frames: int, k: int = 1, batch_size: int = 1, device=None) -> torch.Tensor:
    """A (B, 1, T, 1, 1) bool mask for one mode; `k` is used by first_k / last_k (and per end by first_last)."""
    if mode not in MODES:
        raise ValueError(f"unknown frame-conditioning mode {mode!r}; choose one of {', '.join(MODES)}")
    T = num_frames
    if not 1 <= k < T or (mode == "first_last" and 2 * k >= T):
        raise ValueError(f"mode {mode!r} with k={k} leaves no frame to generate in T={T} latent frames")
    m = torch.zeros(T, dtype=torch.bool, device=device)
    if mode in ("first", "first_last"):
        m[:1 if mode == "first" else k] = True
    if mode == "first_k":
        m[:k] = True
    if mode == "last_k":
        m[T - k:] = True
    if mode == "first_last":
        m[T - k:] = True
    return m.reshape(1, 1, T, 1, 1).expand(batch_size, 1, T, 1, 1).clone()  # B, 1, T, 1, 1


def random_frame_masks(batch_size: int, num_frames: int, prob: float, modes: tuple[str, ...] = MODES,
                       generator: torch.Generator | None = None, device=None,
                       continuation: torch.Tensor | None = None) -> torch.Tensor:
    """For training: each sample is conditioned with probability `prob`, on a uniformly drawn mode and k.

    continuation: (B,) bool, samples that are always given as a forward extension (first_k, k drawn
    the same way): clips cut late in a scene (leaving or missing objects), which are what a long
    clip's later windows look like but never what a prompt alone should give.
    Clips with a single latent frame (images) are never conditioned: nothing would be left to learn.
    """
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"unknown frame-conditioning mode {mode!r}; choose from {', '.join(MODES)}")
    T = num_frames
    out = torch.zeros(batch_size, 1, T, 1, 1, dtype=torch.bool)
    gdev = generator.device if generator is not None else "cpu"
    u = torch.rand(batch_size, 3, generator=generator, device=gdev).cpu()
    forced = torch.zeros(batch_size, dtype=torch.bool) if continuation is None else continuation.bool().cpu()
    for b in range(batch_size):
        if T < 2 or (not forced[b] and (u[b, 0] >= prob or not modes)):
            continue
        options = ["first_k"] if forced[b] else [m for m in modes if m != "first_last" or T >= 3]
        mode = options[int(u[b, 1] * len(options)) % len(options)]
        k_max = (T - 1) // 2 if mode == "first_last" else T - 1
        k = 1 if mode == "first" else 1 + int(u[b, 2] * k_max) % k_max
        out[b] = frame_mask(mode, T, k)[0]
    return out.to(device)


def hold_given(x: torch.Tensor, frame_cond: torch.Tensor | None, mask: torch.Tensor | None) -> torch.Tensor:
    """Put the given frames of `frame_cond` into x (B, C, T, H, W); other frames unchanged."""
    if mask is None:
        return x
    if frame_cond is None:
        raise ValueError("frame_mask given without frame_cond (the clean latents of the given frames)")
    return torch.where(mask.to(x.device), frame_cond.to(x.dtype), x)
