"""Which float type to compute in: one decision, made in one place, for every component.

Why this exists: bf16 is only fast where the hardware multiplies bf16 natively. On a CPU with
AVX-512 BF16 or AMX, bf16 matmuls run ~2.5x and bf16 3D convolutions ~10x faster than fp32. On an
AVX2-only CPU (most laptops, and some cloud VMs that hide AVX-512) torch emulates bf16, and the
same matmul runs ~100-300x *slower* than fp32 (measured: 0.3-1.3 vs 60-100 GFLOP/s on a 2-core
AVX2 EPYC VM; the shipped VAE decodes a clip in 6.6 s in bf16 and 0.23 s in fp32 there). A fixed
"bf16" default therefore makes the package unusable on the machines many users have.

`precision="auto"` (the default everywhere) resolves to "bf16" on CUDA devices that support it and
on CPUs whose feature flags include avx512_bf16 or amx_bf16 (or the Arm "bf16" feature), and to
"fp32" elsewhere. The decision reads CPU flags rather than timing a probe, so it is the same on
every run on one machine (the same seed must give the same video). The environment variable
MINISORA_PRECISION=bf16|fp32 overrides it for all components.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
from typing import Literal

import torch

Precision = Literal["auto", "bf16", "fp32"]
PRECISIONS = ("auto", "bf16", "fp32")
ENV_VAR = "MINISORA_PRECISION"
DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


def check(precision: str, what: str = "precision") -> str:
    """Return `precision` if it is one of PRECISIONS, else raise naming the valid values."""
    if precision not in PRECISIONS:
        raise ValueError(f"{what}={precision!r} is not valid; choose one of {', '.join(PRECISIONS)}")
    return precision


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags the kernel reports (Linux /proc/cpuinfo); empty elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key = line.split(":", 1)[0].strip().lower()
                if key in ("flags", "features"):  # x86 says flags, Arm says Features
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_native_bf16() -> bool:
    """True where bf16 matrix products run in hardware on this CPU (AVX-512 BF16, AMX, Arm BF16)."""
    flags = cpu_flags()
    if {"avx512_bf16", "amx_bf16"} & flags:
        return True
    # Arm: FEAT_BF16 (Graviton 3, Neoverse V1+); Apple silicon reports no /proc/cpuinfo -> fp32.
    return platform.machine().lower() in ("aarch64", "arm64") and "bf16" in flags


def native_bf16(device: torch.device | str = "cpu") -> bool:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return cpu_has_native_bf16()
    return False


def resolve(precision: str = "auto", device: torch.device | str = "cpu") -> str:
    """'auto' | 'bf16' | 'fp32' -> 'bf16' | 'fp32' for `device`. An explicit choice is kept;
    MINISORA_PRECISION, when set, replaces 'auto'."""
    check(precision)
    if precision != "auto":
        return precision
    env = os.environ.get(ENV_VAR, "")
    if env:
        if env not in DTYPES:
            raise ValueError(f"{ENV_VAR}={env!r} is not valid; choose one of {', '.join(DTYPES)}")
        return env
    return "bf16" if native_bf16(device) else "fp32"


def resolve_dtype(precision: str = "auto", device: torch.device | str = "cpu") -> torch.dtype:
    return DTYPES[resolve(precision, device)]


def autocast(precision: str, device: torch.device | str) -> contextlib.AbstractContextManager:
    """torch.autocast(bfloat16) when `precision` resolves to bf16 on `device`, else a no-op."""
    device = torch.device(device)
    if device.type not in ("cpu", "cuda") or resolve(precision, device) == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
