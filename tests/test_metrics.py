import math

import numpy as np
import pytest

from minisora.eval.metrics import PSNR_CAP_DB, flicker, psnr, ssim


def _video(seed: int, shape=(3, 32, 40, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def test_psnr_known_values():
    a = np.zeros((2, 8, 8, 3), np.uint8)
    b = a.copy()
    b[0] += 1  # frame 0: mse 1 -> 20 log10(255) dB; frame 1 identical -> the cap
    expected = (20 * math.log10(255.0) + PSNR_CAP_DB) / 2
    assert psnr(a, b) == pytest.approx(expected)
    assert psnr(a, a) == PSNR_CAP_DB
    assert psnr(a[0], b[0]) == pytest.approx(20 * math.log10(255.0))  # single frames work too


def test_ssim_matches_reference_implementation():
    from skimage.metrics import structural_similarity

    a = _video(0)
    noise = np.random.default_rng(1).integers(-25, 26, size=a.shape)
    b = np.clip(a.astype(int) + noise, 0, 255).astype(np.uint8)
    ref = np.mean([structural_similarity(a[t], b[t], gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                         channel_axis=-1, data_range=255) for t in range(len(a))])
    assert ssim(a, b) == pytest.approx(ref, abs=1e-9)
    assert ssim(a, a) == pytest.approx(1.0)
    worse = np.clip(a.astype(int) + 3 * noise, 0, 255).astype(np.uint8)
    assert ssim(a, worse) < ssim(a, b) < 1.0


def test_flicker_static_alternating_and_masked():
    static = np.full((5, 16, 16, 3), 77, np.uint8)
    assert flicker(static) == 1.0
    alt = static.copy()
    alt[::2] = 0
    alt[1::2] = 255
    assert flicker(alt) == pytest.approx(0.0)
    # Only the masked (steady) half counts.
    mixed = static.copy()
    mixed[1::2, :, :8] = 0
    mask = np.zeros(mixed.shape[:3], bool)
    mask[:, :, 8:] = True
    assert flicker(mixed, mask) == 1.0
    assert flicker(mixed) < 1.0
    # VBench formula on a known difference: every pixel changes by 51 once over 2 frames.
    two = np.stack([np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 51, np.uint8)])
    assert flicker(two) == pytest.approx((255 - 51) / 255)


def test_metrics_reject_bad_input():
    a = _video(0)
    with pytest.raises(TypeError, match="uint8"):
        psnr(a.astype(np.float32), a)
    with pytest.raises(ValueError, match="same shape"):
        ssim(a, a[:2])
    with pytest.raises(ValueError, match="at least 2 frames"):
        flicker(a[:1])
    with pytest.raises(ValueError, match="mask"):
        flicker(a, np.zeros((1, 2, 3), bool))
