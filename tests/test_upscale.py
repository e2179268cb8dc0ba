"""The super-resolution stage: shapes, the condition mattering, faithfulness, save/load, resume, CLI."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from minisora.world.render import render
from minisora.world.scenes import sample_scene
from minisora.dit.model import DiT
from minisora.upscale.condition import build_condition, ramp, spans, upsample_time
from minisora.upscale.config import UpscaleTrainConfig, UpscalerConfig
from minisora.upscale.model import Upscaler, upscaled_shape
from minisora.upscale.train import train_upscaler


def _clip(h=32, w=32, t=5, seed=0) -> np.ndarray:
    spec = sample_scene(np.random.default_rng(seed))
    return render(spec, h, w, t)


def _train_cfg(out, **kw) -> UpscaleTrainConfig:
    base = dict(preset="debug", steps=30, batch_size=2, sizes=[(16, 16)], num_frames=5, pool_size=4, crop=0,
                val_clips=0, log_every=10, save_every=0, warmup_steps=5, lr=3e-3, ema_decay=0.0, ema_start=0,
                time_prob=0.3, threads=1, run_dir=str(out))
    base.update(kw)
    return UpscaleTrainConfig(**base)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Upscaler:
    """A debug upscaler after 30 steps: its output layer is no longer zero, so the DiT matters."""
    out = tmp_path_factory.mktemp("up")
    train_upscaler(_train_cfg(out / "run", release_dir=str(out / "rel")), progress=False)
    return Upscaler.from_pretrained(out / "rel")


CASES = [(hw, 2, ts) for hw in [(64, 64), (48, 80), (80, 48), (30, 42)] for ts in (1, 2)] \
    + [((48, 80), 4, 1), ((48, 80), 4, 2), ((48, 80), 1, 2)]  # 4x and frame-rate-only on one aspect ratio (speed)


@pytest.mark.parametrize("hw,scale,time_scale", CASES)
def test_shapes_all_factors_and_aspect_ratios(trained, hw, scale, time_scale):
    frames = _clip(*hw, t=3)
    out = trained(frames, scale=scale, time_scale=time_scale, steps=1)
    assert out.dtype == np.uint8
    assert out.shape == (*upscaled_shape(3, *hw, scale, time_scale), 3)
    if scale == 1:  # frame-rate only keeps the input frames exactly
        assert np.array_equal(out[0::2], frames)


def test_condition_changes_output(trained):
    a, b = _clip(seed=1), _clip(seed=2)
    assert not np.array_equal(trained(a, steps=2), trained(b, steps=2))
    # and the network itself reads the condition (not only the bicubic base it is added to)
    cfg = trained.config
    noise = torch.randn(1, 3, 5, 64, 64, generator=torch.Generator().manual_seed(0))
    x_lo = torch.from_numpy(a).permute(3, 0, 1, 2)[None].float() / 127.5 - 1
    _, e1 = build_condition(x_lo, 2, 1, torch.zeros(1))
    _, e2 = build_condition(-x_lo, 2, 1, torch.zeros(1))
    r1, r2 = trained.residual(noise, e1, 2), trained.residual(noise, e2, 2)
    assert (r1 - r2).abs().mean() > 1e-3
    assert cfg.dit.extra_cond_channels == e1.shape[1]


def test_self_ensemble_averages_flipped_passes(trained):
    from minisora.flow.samplers import make_noise

    cfg = dataclasses.replace(trained.config, back_projection=0)
    one, two = Upscaler(cfg, trained.dit), Upscaler(dataclasses.replace(cfg, ensemble=2), trained.dit)
    x_lo = torch.from_numpy(_clip(seed=6)).permute(3, 0, 1, 2)[None].float() / 127.5 - 1
    base, extra = build_condition(x_lo, 2, 1, torch.zeros(1))
    noise = make_noise(tuple(base.shape), 0)
    r0 = one.residual_field(noise, extra, 2)
    r1 = one.residual_field(noise.flip(4), extra.flip(4), 2).flip(4)  # the mirrored problem, mirrored back
    assert not torch.allclose(r0, r1)
    expected = (base + 0.5 * (r0 + r1)).clamp(-1, 1)
    assert torch.allclose(two.upscale_tensor(x_lo, 1, 2, seed=0), expected, atol=1e-5)


def test_same_seed_same_output_and_seed_matters(trained):
    x = _clip(seed=3)
    assert np.array_equal(trained(x, seed=5, steps=2), trained(x, seed=5, steps=2))
    assert not np.array_equal(trained(x, seed=5, steps=2), trained(x, seed=6, steps=2))


def test_faithful_to_input(trained):
    """Box-downsampling the 2x output gives back the input (back-projection), far closer than noise."""
    from minisora.eval.metrics import psnr

    x = _clip(seed=4)
    out = trained(x, steps=2).astype(np.float32)
    down = out.reshape(out.shape[0], 32, 2, 32, 2, 3).mean(axis=(2, 4)).round().astype(np.uint8)
    assert psnr(down, x) > 38.0
    no_bp = Upscaler(dataclasses.replace(trained.config, back_projection=0), trained.dit)
    out0 = no_bp(x, steps=2).astype(np.float32)
    down0 = out0.reshape(out0.shape[0], 32, 2, 32, 2, 3).mean(axis=(2, 4)).round().astype(np.uint8)
    assert psnr(down, x) > psnr(down0, x)


def test_save_load_round_trip(trained, tmp_path):
    x = _clip(seed=5)
    trained.save_pretrained(tmp_path / "fp32", dtype=None)
    again = Upscaler.from_pretrained(tmp_path / "fp32")
    assert again.config == trained.config
    assert np.array_equal(again(x, steps=2, seed=1), trained(x, steps=2, seed=1))
    trained.save_pretrained(tmp_path / "bf16")
    meta = json.loads((tmp_path / "bf16" / "config.json").read_text())
    assert meta["model"] == "Upscaler"
    half = Upscaler.from_pretrained(tmp_path / "bf16")
    assert np.abs(half(x, steps=2, seed=1).astype(int) - trained(x, steps=2, seed=1).astype(int)).mean() < 2.0
    with pytest.raises(FileNotFoundError, match="config.json"):
        Upscaler.from_pretrained(tmp_path / "missing")


def test_training_reduces_loss_and_resume_is_exact(tmp_path):
    from minisora.upscale.train import PairPool, flow_config, make_batch, training_loss

    torch.manual_seed(0)
    cfg = _train_cfg(tmp_path / "a", steps=80, save_every=40, time_prob=0.0)
    ucfg = UpscalerConfig.preset("debug")
    pool = PairPool(cfg.pool_size, cfg.sizes, cfg.num_frames, cfg.fps, cfg.seed)
    batches = [make_batch(pool, 10_000 + i, cfg, ucfg) for i in range(3)]

    def fixed_loss(folder) -> float:
        dit = Upscaler.from_pretrained(folder).dit
        with torch.no_grad():
            return float(np.mean([float(training_loss(dit, ucfg, b, torch.Generator().manual_seed(i), 0.0, flow_config(cfg))[0])
                                  for i, b in enumerate(batches)]))

    # uninterrupted 80 steps vs. the same run resumed from its step-40 checkpoint (as after a crash)
    train_upscaler(cfg.replace(release_dir=str(tmp_path / "relA")), progress=False)
    import shutil
    shutil.copytree(tmp_path / "a" / "checkpoints" / "step_00000040", tmp_path / "b" / "checkpoints" / "step_00000040")
    train_upscaler(cfg.replace(run_dir=str(tmp_path / "b"), release_dir=str(tmp_path / "relB")), progress=False)
    from safetensors.torch import load_file
    a, b = load_file(str(tmp_path / "relA" / "model.safetensors")), load_file(str(tmp_path / "relB" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    # training helped on held-out batches (fresh model = step 0 of the same seed)
    torch.manual_seed(cfg.seed)  # the initial weights of the runs above
    Upscaler(ucfg, DiT(ucfg.dit)).save_pretrained(tmp_path / "init", dtype=None)
    trained_loss, init_loss = fixed_loss(tmp_path / "relA"), fixed_loss(tmp_path / "init")
    assert trained_loss < 0.95 * init_loss  # measured: 0.874 vs 0.946 (the run is fully seeded)


def test_tiling_covers_everything():
    for n, size, ov, align in [(128, 64, 16, 8), (160, 64, 16, 8), (33, 5, 1, 1), (17, 5, 1, 1), (40, 64, 16, 8)]:
        sp = spans(n, size, ov, align)
        cover = torch.zeros(n)
        for s, length in sp:
            assert s % align == 0 and s + length <= n
            cover[s:s + length] += ramp(s, length, n, ov)
        assert bool((cover > 0).all()), (n, size, sp)
    assert spans(33, 5, 1) == [(0, 5), (4, 5), (8, 5), (12, 5), (16, 5), (20, 5), (24, 5), (28, 5)]


def test_time_upsampling_keeps_original_frames():
    x = torch.randn(1, 3, 4, 8, 8)
    y, mask = upsample_time(x)
    assert y.shape[2] == 7 and torch.equal(y[:, :, 0::2], x) and mask.tolist() == [False, True] * 3 + [False]
    assert torch.allclose(y[:, :, 1], 0.5 * (x[:, :, 0] + x[:, :, 1]))


def test_bad_inputs_fail_clearly(trained):
    x = _clip()
    with pytest.raises(ValueError, match="would change nothing"):
        trained(x, scale=1)
    with pytest.raises(ValueError, match="scale=3"):
        trained(x, scale=3)
    with pytest.raises(ValueError, match="time_scale=3"):
        trained(x, time_scale=3)
    with pytest.raises(ValueError, match="uint8"):
        trained(x.astype(np.float32))
    with pytest.raises(ValueError, match="at least 2 frames"):
        trained(x[:1], time_scale=2)
    with pytest.raises(Exception, match="preset"):
        UpscaleTrainConfig(preset="huge")


def test_cli_upscale(trained, tmp_path):
    from minisora.cli import main
    from minisora.io import export_to_video, read_video

    trained.save_pretrained(tmp_path / "m")
    export_to_video(_clip(h=32, w=48, t=5), tmp_path / "in.mp4", fps=8)
    rc = main(["upscale", str(tmp_path / "in.mp4"), "-o", str(tmp_path / "out.mp4"), "--time-scale", "2",
               "--steps", "1", "--model", str(tmp_path / "m"), "--quiet"])
    assert rc == 0
    frames, fps = read_video(tmp_path / "out.mp4")
    assert frames.shape == (9, 64, 96, 3) and fps == pytest.approx(16.0)
    assert main(["upscale", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "x.mp4"), "--model",
                 str(tmp_path / "m")]) == 2


def test_memory_is_flat_tiles_bound_every_dit_call(trained):
    """Whatever the clip size, each DiT call sees at most max_tile_batch windows x tiles."""
    cfg = trained.config
    seen = []
    hook = trained.dit.register_forward_hook(lambda m, args, out: seen.append(tuple(args[0].shape)))
    try:
        for h, w, t in [(16, 16, 3), (72, 56, 9)]:
            trained(_clip(h, w, t), steps=1)
    finally:
        hook.remove()
    bound = cfg.max_tile_batch * cfg.window_frames * cfg.tile_size ** 2
    assert max(b * t * h * w for b, _, t, h, w in seen) <= bound
    assert all(t <= cfg.window_frames and h <= cfg.tile_size and w <= cfg.tile_size for _, _, t, h, w in seen)
