"""Weights-free video metrics on uint8 clips: PSNR, SSIM and temporal flicker.

All functions take uint8 videos shaped (T, H, W, 3) (numpy arrays; a single (H, W, 3) frame is
also accepted by psnr/ssim) and return Python floats. Videos are compared frame by frame and the
per-frame figures are averaged, so a clip's score does not depend on how its error is spread in time.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

# PSNR of two identical frames is infinite; such frames count as this many dB so that a clip mean
# stays finite and comparable (a frame that differs by one grey level in one pixel of 64x64 is ~84 dB).
PSNR_CAP_DB = 100.0

# SSIM constants from Wang et al. 2004, "Image quality assessment: from error visibility to
# structural similarity", Sec. III-B: K1 = 0.01, K2 = 0.03, 11x11 Gaussian window with sigma = 1.5.
_SSIM_K1, _SSIM_K2, _SSIM_SIGMA = 0.01, 0.03, 1.5
# truncate * sigma = 5 -> an 11-tap window, the paper's.
_SSIM_RADIUS = 5
_SSIM_TRUNCATE = _SSIM_RADIUS / _SSIM_SIGMA


def _as_video(x, name: str) -> np.ndarray:
    """uint8 (T, H, W, 3); a single (H, W, 3) frame becomes a one-frame video."""
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8 frames (values 0..255), got dtype {x.dtype}")
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"{name} must be shaped (T, H, W, 3) or (H, W, 3), got {x.shape}")
    return x


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_video(a, "a"), _as_video(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"videos must have the same shape, got {a.shape} and {b.shape}")
    return a, b


def psnr(a, b) -> float:
    """Mean over frames of the per-frame PSNR in dB (peak 255); identical frames count PSNR_CAP_DB."""
    a, b = _pair(a, b)
    diff = a.astype(np.float64) - b.astype(np.float64)
    mse = (diff**2).mean(axis=(1, 2, 3))  # (T,)
    with np.errstate(divide="ignore"):
        per_frame = np.where(mse > 0, 10.0 * np.log10(255.0**2 / np.maximum(mse, 1e-300)), PSNR_CAP_DB)
    return float(np.minimum(per_frame, PSNR_CAP_DB).mean())


def ssim(a, b) -> float:
    """Mean over frames of the Gaussian-window SSIM (Wang et al. 2004), averaged over RGB channels.

    Local statistics use a Gaussian window (sigma 1.5, 11 taps) and population covariances, the
    paper's definition. As in scikit-image, the 5-pixel border whose windows reach past the frame is
    left out of the mean (kept when the frame is too small to have an interior).
    """
    a, b = _pair(a, b)
    x = a.astype(np.float64)
    y = b.astype(np.float64)
    c1 = (_SSIM_K1 * 255.0) ** 2
    c2 = (_SSIM_K2 * 255.0) ** 2
    # Filter over H and W only (sigma 0 on the frame and channel axes): x is (T, H, W, 3).
    sig = (0.0, _SSIM_SIGMA, _SSIM_SIGMA, 0.0)

    def blur(z: np.ndarray) -> np.ndarray:
        return gaussian_filter(z, sigma=sig, truncate=_SSIM_TRUNCATE, mode="reflect")

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    r = _SSIM_RADIUS
    if s.shape[1] > 2 * r and s.shape[2] > 2 * r:
        s = s[:, r:-r, r:-r]  # (T, H - 2r, W - 2r, 3)
    return float(s.mean(axis=(1, 2, 3)).mean())


def flicker(video, mask=None) -> float:
    """Temporal flicker score in [0, 1], VBench-style: (255 - mean |f(t) - f(t+1)|) / 255.

    1.0 means no frame-to-frame change at all. `mask` (optional, bool (T, H, W)) selects the pixels
    to measure, e.g. background pixels; a pixel pair (t, t+1) counts only when it is selected in both
    frames. Raises when the clip has fewer than two frames or the mask selects no pixel pair.
    """
    v = _as_video(video, "video")
    if v.shape[0] < 2:
        raise ValueError(f"flicker needs at least 2 frames, got {v.shape[0]}")
    d = np.abs(v[1:].astype(np.int16) - v[:-1].astype(np.int16)).mean(axis=-1)  # (T-1, H, W)
    if mask is None:
        return float((255.0 - d.mean()) / 255.0)
    m = np.asarray(mask, dtype=bool)
    if m.shape != v.shape[:3]:
        raise ValueError(f"mask must be shaped {v.shape[:3]} (T, H, W), got {m.shape}")
    pair = m[1:] & m[:-1]
    if not pair.any():
        raise ValueError("flicker mask selects no pixel that is kept in two consecutive frames")
    return float((255.0 - d[pair].mean()) / 255.0)
