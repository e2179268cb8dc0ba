"""Checks a generation request must pass before any expensive step: memory, trained sizes, guidance, seeds.

The pipeline's step 1 ("check inputs") calls `check_generation`; the CLIs call the same functions
so a request that cannot finish fails in the first second, not after minutes of sampling.

Memory. Peak memory grows with the clip: the VAE decoder runs its widest stage at full frame rate
over the whole clip at once, and the transformer holds a few activations per token (its attention
uses torch's fused kernels, so nothing grows with tokens squared). The estimate below counts those
activations from the model configs and the latent shape, with `ACTIVATIONS_ALIVE` tensors of the
largest size alive at once (a convolution's input and output, a norm's temporary, the residual);
weights are already loaded when it runs and so are not counted. Checked against a measurement: the
bundled VAE decoding 17 frames at 384x384 raised peak RSS by 359 MB, estimated 421 MB (the estimate
errs high by design). `--size 4096x4096` (17 frames) on the bundled model estimates 46.8 GiB, which is
refused on a 24 GB machine instead of swapping for minutes; the default 64x64 clip estimates 12 MiB.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

GUIDANCE_RANGE = (1.0, 20.0)  # 1 = guidance off; past ~20 the guided velocity overshoots and saturates the clip
SEED_RANGE = (0, 2**32 - 1)  # torch's CPU generator keeps the low 32 bits of a seed: 2**32 + s == s
ACTIVATIONS_ALIVE = 4
BYTES_FP32 = 4


class UntrainedSizeWarning(UserWarning):
    """The requested frame size is not one the transformer was trained at."""


class MemoryEstimateError(MemoryError):
    """The clip's estimated peak memory exceeds what the machine has (refused before any work)."""


class NonFiniteError(FloatingPointError):
    """Sampling produced NaN or inf; the decoded clip would be black or noise."""


def check_guidance(guidance: float) -> float:
    lo, hi = GUIDANCE_RANGE
    if not isinstance(guidance, (int, float)) or isinstance(guidance, bool) or not math.isfinite(guidance) \
            or not lo <= guidance <= hi:
        raise ValueError(f"guidance_scale={guidance!r} is not valid: use a number in [{lo:g}, {hi:g}] "
                         f"(1 = guidance off; the bundled model's default is 5)")
    return float(guidance)


def check_seed(seed) -> int:
    lo, hi = SEED_RANGE
    if isinstance(seed, bool) or not isinstance(seed, int) and type(seed).__module__ != "numpy" \
            or not float(seed).is_integer() or not lo <= int(seed) <= hi:
        raise ValueError(f"seed={seed!r} is not valid: use an integer in [{lo}, {hi}] (32-bit: the noise "
                         f"generator would map 2**32 + s to the same video as s)")
    return int(seed)


def estimate_peak_bytes(vae_config, dit_config, num_frames: int, height: int, width: int, num_tokens: int,
                        guidance: float, upscale: int = 1) -> int:
    """Activation memory (bytes) a generation needs on top of the loaded weights (see module docstring)."""
    p = vae_config.patch_size
    widest = max(c * math.ceil(height / (p * 2 ** i)) * math.ceil(width / (p * 2 ** i))
                 for i, c in enumerate(vae_config.decoder_channels))
    vae = ACTIVATIONS_ALIVE * widest * num_frames * BYTES_FP32
    branches = 1 if guidance == 1.0 else 2  # classifier-free guidance runs both branches in one batch
    mlp = dit_config.hidden_size * max(dit_config.mlp_ratio, 1.0)
    dit = ACTIVATIONS_ALIVE * branches * num_tokens * int(mlp) * BYTES_FP32
    frames = ACTIVATIONS_ALIVE * 3 * num_frames * height * width * BYTES_FP32 * upscale ** 2
    return int(max(vae, dit) + frames)


def available_bytes() -> int | None:
    """Memory this process can still take: the kernel's MemAvailable, capped by a cgroup limit."""
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    except OSError:
        return None
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 1 << 60:
            room = int(limit) - usage
            avail = room if avail is None else min(avail, room)
        break
    return avail


def check_memory(estimate: int, force: bool = False) -> None:
    """Refuse (MemoryEstimateError naming the estimate and the limit) when `estimate` exceeds what is available;
    `force=True` (the CLI's --force) skips the refusal."""
    avail = available_bytes()
    if force or avail is None or estimate <= avail:
        return
    raise MemoryEstimateError(f"this clip needs an estimated {estimate / 2**30:.1f} GiB of memory but only "
                      f"{avail / 2**30:.1f} GiB is available; generate fewer frames or a smaller size "
                      f"(then --upscale), or pass --force (Python: force=True) to try anyway")


def warn_untrained_size(trained_sizes, height: int, width: int) -> None:
    """Warn when (height, width) is not among the model's recorded training sizes (none recorded: silent)."""
    sizes = [tuple(s) for s in trained_sizes]
    if sizes and (height, width) not in sizes:
        listed = ", ".join(f"{w}x{h}" for h, w in sizes)
        warnings.warn(f"{width}x{height} is not a size this model was trained at ({listed}); expect "
                      f"lower quality", UntrainedSizeWarning, stacklevel=3)


def check_finite(x, what: str) -> None:
    """Stop sampling at the first NaN/inf (a black or noisy clip is never the right answer)."""
    import torch

    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise NonFiniteError(f"{what} holds {bad} non-finite value(s) (NaN or inf) of {x.numel()}; the clip "
                             f"would be black or noise. Lower guidance_scale, or check the weights "
                             f"(`python -m minisora.weights verify MODEL_FOLDER`)")


def check_request(pipe, num_frames: int, height: int, width: int, latent_shape, guidance: float, upscale: int,
                  force: bool) -> None:
    """Step 1 of `Pipeline.__call__` for what needs the loaded models: the trained-size warning and the
    memory estimate against what this machine has."""
    warn_untrained_size(pipe.index.trained_sizes, height, width)
    _, Tl, Hl, Wl = latent_shape
    tokens = math.prod(n // p for n, p in zip((Tl, Hl, Wl), pipe.transformer.config.patch_size))
    check_memory(estimate_peak_bytes(pipe.vae.config, pipe.transformer.config, num_frames, height, width, tokens,
                                     guidance, upscale), force)
