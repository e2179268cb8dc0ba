"""The causal video VAE: shapes, causality, tiling, save/load, and a debug model that really learns."""

from __future__ import annotations

import argparse
import dataclasses
import json

import pytest
import torch

from conftest import needs_cxx
from minisora.config import ConfigError, from_dict
from minisora.pipeline import DEFAULT_MODEL_DIR
from minisora.train.checkpoint import CheckpointError
from minisora.vae.config import VAEConfig, VAETrainConfig
from minisora.vae.losses import psnr
from minisora.vae.model import VideoVAE
from minisora.vae.train import CropSampler, latent_stats, synthetic_pool, to_float, train_vae


STEPS = 60


# Upsampling kernels with 3 and 1 frames in time (a 1-frame kernel keeps no causal cache) and 3 and 1 pixels in space.
UPSAMPLE_KERNELS = [(3, 3, 3), (1, 3, 3), (1, 1, 1)]


def _random_vae(seed: int = 0, upsample_kernel: tuple[int, int, int] = (3, 3, 3)) -> VideoVAE:
    """A debug VAE with every weight random (the zero-initialised residual convs too), in fp32,
    so that causality and tiling checks exercise every layer."""
    torch.manual_seed(seed)
    cfg = dataclasses.replace(VAEConfig.preset("debug"), upsample_kernel=upsample_kernel)
    vae = VideoVAE(cfg).set_precision("fp32").eval()
    with torch.no_grad():
        for m in vae.modules():
            if isinstance(m, torch.nn.Conv3d):
                torch.nn.init.normal_(m.weight, std=(1.0 / (m.in_channels * m.weight[0, 0].numel())) ** 0.5)
    return vae


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[VideoVAE, list[dict], torch.Tensor]:
    """A debug VAE trained for a few seconds on 4 tiny MovingShapes clips (32x32, 5 frames)."""
    torch.manual_seed(0)
    pool = synthetic_pool(4, 32, 32, 5, seed=3, progress=False)
    cfg = VAETrainConfig(preset="debug", steps=STEPS, batch_size=2, lr=2e-3, warmup_steps=5, crop_size=0,
                         crop_frames=0, image_every=0, eval_every=0, save_every=0, log_every=1,
                         run_dir=str(tmp_path_factory.mktemp("vae")), min_lr_ratio=0.1,
                         threads=1)  # 1 thread: robust when the machine is shared (restored afterwards)
    vae, hist = train_vae(cfg, pool=pool, val=pool, progress=False)
    return vae.eval(), hist, pool


def test_shapes_and_geometry() -> None:
    vae = VideoVAE(VAEConfig.preset("debug")).eval()
    assert (vae.spatial_factor, vae.temporal_factor, vae.latent_channels) == (8, 4, 8)
    with torch.no_grad():
        for t in (1, 5, 9):
            z = vae.encode(torch.zeros(2, 3, t, 32, 48))
            assert z.shape == (2, 8, 1 + (t - 1) // 4, 4, 6) == (2, *vae.latent_shape(t, 32, 48))
            assert vae.decode(z).shape == (2, 3, t, 32, 48)
    assert VideoVAE(VAEConfig()).latent_shape(17, 64, 64) == (16, 5, 8, 8)
    assert VideoVAE(VAEConfig()).compression_ratio(17, 64, 64) == pytest.approx(40.8, abs=0.01)
    with pytest.raises(ValueError, match="num_frames=6"):
        vae.latent_shape(6, 32, 32)
    with pytest.raises(ValueError, match="height=30"):
        vae.encode(torch.zeros(1, 3, 5, 30, 32))
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        vae.encode(torch.zeros(3, 5, 32, 32))
    with pytest.raises(ConfigError, match="spatial_factor"):
        VAEConfig(spatial_factor=8, patch_size=2, encoder_channels=(8, 8), decoder_channels=(8, 8))
    with pytest.raises(ConfigError, match="temporal_factor=3"):
        VAEConfig(temporal_factor=3)
    with pytest.raises(ConfigError, match="upsample_kernel"):
        VAEConfig(upsample_kernel=(2, 3, 3))


def test_other_compressions() -> None:
    cfg = VAEConfig(spatial_factor=4, temporal_factor=2, latent_channels=4, patch_size=1,
                    encoder_channels=(8, 8, 8), decoder_channels=(8, 8, 8), mid_blocks=0)
    vae = VideoVAE(cfg).eval()
    with torch.no_grad():
        z = vae.encode(torch.zeros(1, 3, 7, 16, 16))
        assert z.shape == (1, 4, 4, 4, 4)
        assert vae.decode(z).shape == (1, 3, 7, 16, 16)
    cfg1 = VAEConfig(temporal_factor=1, latent_channels=4, encoder_channels=(8, 8, 8), decoder_channels=(8, 8, 8))
    with torch.no_grad():
        assert VideoVAE(cfg1).encode(torch.zeros(1, 3, 3, 16, 16)).shape == (1, 4, 3, 2, 2)


@pytest.mark.parametrize("upsample_kernel", UPSAMPLE_KERNELS)
def test_causal_in_time(upsample_kernel) -> None:
    """Changing frame k never changes the latents of earlier latent frames (nor decoded frames)."""
    vae = _random_vae(upsample_kernel=upsample_kernel)
    torch.manual_seed(1)
    x = torch.rand(1, 3, 13, 32, 32) * 2 - 1
    with torch.no_grad():
        z = vae.encode(x)
        for k in (1, 5, 9, 12):  # frame k belongs to latent frame ceil(k / 4)
            x2 = x.clone()
            x2[:, :, k] = torch.rand(3, 32, 32) * 2 - 1
            z2 = vae.encode(x2)
            first = (k + 3) // 4
            assert torch.equal(z2[:, :, :first], z[:, :, :first]), k
            assert (z2[:, :, first] - z[:, :, first]).abs().max() > 1e-3, k  # and it does see frame k
        # the first frame alone encodes exactly as the first latent frame of the clip
        assert torch.allclose(vae.encode(x[:, :, :1]), z[:, :, :1], atol=1e-5)
        y = vae.decode(z)
        z3 = z.clone()
        z3[:, :, 2] += 1.0
        y3 = vae.decode(z3)
        assert torch.equal(y3[:, :, :5], y[:, :, :5])  # latent frame 2 stands for frames 5..8
        assert (y3[:, :, 5:9] - y[:, :, 5:9]).abs().max() > 1e-3


@pytest.mark.parametrize("upsample_kernel", UPSAMPLE_KERNELS)
def test_chunked_time_equals_whole_clip(upsample_kernel) -> None:
    vae = _random_vae(upsample_kernel=upsample_kernel)
    torch.manual_seed(2)
    x = torch.rand(2, 3, 17, 32, 32) * 2 - 1
    with torch.no_grad():
        mean, _ = vae.encode_moments(x)
        rec = vae.decode_raw(mean)
        vae.enable_tiling(tile_frames=4, tile_size=256, tile_overlap=0)  # time chunks only
        mean_t, _ = vae.encode_moments(x)
        rec_t = vae.decode_raw(mean)
    assert torch.allclose(mean_t, mean, atol=1e-5)
    assert torch.allclose(rec_t, rec, atol=1e-5)


def test_tiled_equals_untiled_within_tolerance(trained) -> None:
    """Spatial tiles with blended overlaps approximate whole-frame processing closely."""
    vae, _, _ = trained
    clip = synthetic_pool(1, 96, 96, 5, seed=7, progress=False)
    x = to_float(clip)
    with torch.no_grad():
        vae.disable_tiling()
        z = vae.encode(x)
        y = vae.decode(z)
        vae.enable_tiling(tile_frames=4, tile_size=48, tile_overlap=16)
        zt = vae.encode(x)
        yt = vae.decode(z)
        vae.disable_tiling()
    assert (zt - z).abs().mean() < 0.1 * z.abs().mean()
    assert psnr(yt, y) > 30.0, psnr(yt, y)


def test_save_load_round_trip(tmp_path, trained) -> None:
    vae, _, pool = trained
    shift, scale = latent_stats(vae, pool)
    vae.set_latent_stats(shift, scale)
    x = to_float(pool[:2])
    vae.save_pretrained(tmp_path / "fp32", dtype=None)
    vae.save_pretrained(tmp_path / "bf16")
    with torch.no_grad():
        z = vae.encode(x)
        loaded = VideoVAE.from_pretrained(tmp_path / "fp32")
        assert loaded.config == vae.config
        assert torch.equal(loaded.latent_scale, vae.latent_scale)
        assert torch.equal(loaded.encode(x), z)
        assert torch.equal(loaded.decode(z), vae.decode(z))
        half = VideoVAE.from_pretrained(tmp_path / "bf16")
        assert torch.equal(half.latent_shift, vae.latent_shift)  # statistics are kept in fp32
        assert psnr(half.decode(half.encode(x)), vae.decode(z)) > 30.0
    with pytest.raises(FileNotFoundError, match="config.json"):
        VideoVAE.from_pretrained(tmp_path / "missing")


def test_debug_vae_learns(trained) -> None:
    """Reconstruction error falls at least 5x while overfitting a tiny set; latents normalise."""
    vae, hist, pool = trained
    steps = [h for h in hist if "l1" in h]
    assert steps[-1]["step"] == STEPS
    first_mse = 4.0 / 10 ** (steps[0]["psnr"] / 10)
    x = to_float(pool)
    with torch.no_grad():
        vae.set_latent_stats(*latent_stats(vae, pool))
        z = vae.encode(x)
        rec = vae.decode(z)
    final_mse = (rec - x).pow(2).mean().item()
    assert final_mse * 5 <= first_mse, (first_mse, final_mse)
    per_channel_std = z.transpose(0, 1).reshape(z.shape[1], -1).std(dim=1)
    assert torch.allclose(per_channel_std, torch.ones_like(per_channel_std), atol=0.05)


def test_crop_sampler_and_cli_config() -> None:
    pool = torch.randint(0, 256, (3, 3, 9, 16, 16), dtype=torch.uint8)
    s = CropSampler(pool, crop_size=8, crop_frames=5, seed=0)
    v = s.videos(4)
    assert v.shape == (4, 3, 5, 8, 8) and v.min() >= -1 and v.max() <= 1
    assert s.images(6).shape == (6, 3, 1, 8, 8)
    from minisora.vae import train_cli

    p = argparse.ArgumentParser()
    train_cli.add_arguments(p)
    cfg = train_cli.config_from_args(p.parse_args(["preset=debug", "kl_weight=1e-5", "--steps", "7", "--out", "r"]))
    assert (cfg.preset, cfg.steps, cfg.kl_weight, cfg.run_dir) == ("debug", 7, 1e-5, "r")
    with pytest.raises(ConfigError, match="kl_wieght"):
        train_cli.config_from_args(p.parse_args(["kl_wieght=1"]))


def test_decoder_only_finetuning_keeps_the_latent_space(tmp_path, trained) -> None:
    """--freeze-encoder --init-from: encoder tensors, latent statistics and encode() stay bit-identical
    (in memory and in the released files) while the decoder learns and reconstruction improves."""
    from safetensors.torch import load_file

    vae, _, pool = trained
    init = VideoVAE(vae.config)
    init.load_state_dict(vae.state_dict())
    init.set_latent_stats(*latent_stats(vae, pool))
    # A trained encoder with a fresh decoder: 25 decoder-only steps then have a clear job to do (the
    # fixture's own decoder is already as good as its 60-step encoder's latents allow).
    torch.manual_seed(1)
    init.decoder.load_state_dict(VideoVAE(vae.config).decoder.state_dict())
    init.save_pretrained(tmp_path / "init")  # bf16, as released weights are
    base = VideoVAE.from_pretrained(tmp_path / "init")
    # the init's own record: a fine-tune of a fine-tune, 30 min in all (10 in its last phase)
    (tmp_path / "init" / "training.json").write_text('{"step": 5, "minutes": 10.0, "total_minutes": 30.0}')
    x = to_float(pool)
    with torch.no_grad():
        z0 = base.encode(x)
        mse0 = (base.decode(z0) - x).pow(2).mean().item()
    cfg = VAETrainConfig(preset="debug", steps=25, batch_size=2, lr=2e-3, warmup_steps=2, crop_size=0,
                         crop_frames=0, image_every=0, eval_every=0, save_every=10, log_every=5, threads=1,
                         run_dir=str(tmp_path / "run"), release_dir=str(tmp_path / "release"),
                         init_from=str(tmp_path / "init"), freeze_encoder=True)
    ft, _ = train_vae(cfg, pool=pool, val=pool, progress=False)
    ft.eval()
    enc0, enc1 = base.encoder.state_dict(), ft.encoder.state_dict()
    assert all(torch.equal(enc0[k], enc1[k]) for k in enc0)
    assert torch.equal(ft.latent_shift, base.latent_shift) and torch.equal(ft.latent_scale, base.latent_scale)
    with torch.no_grad():
        z1 = ft.encode(x)
        mse1 = (ft.decode(z1) - x).pow(2).mean().item()
    assert torch.equal(z1, z0)
    dec0, dec1 = base.decoder.state_dict(), ft.decoder.state_dict()
    assert sum(not torch.equal(dec0[k], dec1[k]) for k in dec0) > len(dec0) // 2
    assert mse1 < 0.5 * mse0, (mse0, mse1)
    # the released files: every non-decoder tensor (encoder + latent statistics) is byte-identical
    a = load_file(str(tmp_path / "init" / "model.safetensors"))
    b = load_file(str(tmp_path / "release" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in (k for k in a if not k.startswith("decoder.")):
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k
    released = VideoVAE.from_pretrained(tmp_path / "release")
    with torch.no_grad():
        assert torch.equal(released.encode(x), z0)
    record = json.loads((tmp_path / "release" / "training.json").read_text())
    assert record["total_minutes"] == pytest.approx(30.0 + record["minutes"])  # the whole chain
    assert record["previous_phase"]["step"] == 5
    with pytest.raises(ConfigError, match="init_from"):
        VAETrainConfig(freeze_encoder=True)
    with pytest.raises(ValueError, match="preset"):
        train_vae(cfg.replace(preset="default", release_dir=""), pool=pool, val=pool, progress=False)
    from minisora.vae import train_cli

    p = argparse.ArgumentParser()
    train_cli.add_arguments(p)
    args = p.parse_args(["freeze_encoder=true", "init_from=some/dir", "data_cache=c"])
    assert train_cli.config_from_args(args).freeze_encoder is True
    assert train_cli.config_from_args(p.parse_args([])).freeze_encoder is False


def test_foreground_weighting_finds_small_objects_and_reweights_the_loss() -> None:
    from minisora.vae.losses import foreground_weights, vae_loss

    target = torch.full((1, 3, 3, 32, 32), -0.9)  # flat background
    target[:, 0, :, 10:13, 20:23] = 0.8  # a 3x3 red object
    w = foreground_weights(target, 4.0)
    assert w.shape == (1, 1, 3, 32, 32)
    assert torch.all(w[0, 0, :, 9:14, 19:24] == 5.0)  # the object, grown by one pixel
    assert (w == 5.0).sum() == 3 * 25 and torch.all(w[w != 5.0] == 1.0)
    # An error on the object costs more with the weighting; an error on background costs less.
    on_object, on_background = target.clone(), target.clone()
    on_object[:, :, :, 11, 21] += 0.5
    on_background[:, :, :, 0, 0] += 0.5
    zeros = torch.zeros(1)
    plain = [vae_loss(r, target, zeros, zeros, 1.0, 1.0, 0.0)[0] for r in (on_object, on_background)]
    weighted = [vae_loss(r, target, zeros, zeros, 1.0, 1.0, 0.0, 4.0)[0] for r in (on_object, on_background)]
    assert weighted[0] > plain[0] and weighted[1] < plain[1]
    with pytest.raises(ConfigError, match="foreground_weight"):
        VAETrainConfig(foreground_weight=-1.0)


@needs_cxx
def test_compiled_training_pass_matches_eager_and_keeps_names() -> None:
    """compile=true gives the eager reconstruction and gradients,
    and leaves the state dict's names alone (checkpoints stay interchangeable)."""
    torch.manual_seed(0)
    x = torch.rand(2, 3, 5, 16, 16) * 2 - 1
    runs = []
    for compiled in (False, True):
        vae = _random_vae(1).train()
        if compiled:
            vae.compile_training_pass()
        rec, mean, logvar = vae(x, sample=False)
        (rec.square().mean() + mean.square().mean()).backward()
        runs.append((rec.detach(), {n: p.grad for n, p in vae.named_parameters()}, list(vae.state_dict())))
    (rec0, grads0, names0), (rec1, grads1, names1) = runs
    assert names0 == names1
    torch.testing.assert_close(rec1, rec0, rtol=1e-4, atol=1e-5)
    for n in grads0:
        torch.testing.assert_close(grads1[n], grads0[n], rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("knob", [{"long_clip_every": 2}, {"long_clip_from": 0.5}])
def test_long_clip_steps_train_on_whole_clips(tmp_path, monkeypatch, knob) -> None:
    """Whole-clip steps: every 2nd video step, or every step in the second half of the run, takes all of a
    clip's frames at a batch of the same pixel count (4 crops of 5 frames -> 2 clips of 9 frames)."""
    shapes: list[tuple[int, ...]] = []
    videos = CropSampler.videos

    def recording(self, batch, full_length=False):
        out = videos(self, batch, full_length)
        shapes.append(tuple(out.shape))
        return out

    monkeypatch.setattr(CropSampler, "videos", recording)
    pool = synthetic_pool(4, 16, 16, 9, seed=3, progress=False)
    cfg = VAETrainConfig(preset="debug", steps=6, batch_size=4, crop_size=8, crop_frames=5, image_every=0,
                         eval_every=0, save_every=0, run_dir=str(tmp_path), threads=1, precision="fp32", **knob)
    train_vae(cfg, pool=pool, val=pool, progress=False)
    long, short = (2, 3, 9, 8, 8), (4, 3, 5, 8, 8)
    expected = [long, short] * 3 if "long_clip_every" in knob else [short] * 3 + [long] * 3
    assert shapes == expected
    with pytest.raises(ConfigError, match="long_clip_from"):
        VAETrainConfig(long_clip_from=1.5)


def test_ema_weights_are_evaluated_released_and_resumed(tmp_path) -> None:
    """ema_decay: the log holds the averaged and the trained weights' PSNR, the released weights are the
    average (not the trained weights), and a resumed run reloads the same average."""
    from safetensors.torch import load_file

    pool = synthetic_pool(2, 16, 16, 5, seed=3, progress=False)
    cfg = VAETrainConfig(preset="debug", steps=12, batch_size=2, lr=2e-3, warmup_steps=2, crop_size=0,
                         crop_frames=0, image_every=0, eval_every=6, save_every=6, log_every=3, threads=1,
                         precision="fp32", run_dir=str(tmp_path / "run"), release_dir=str(tmp_path / "release"),
                         ema_decay=0.9)
    vae, hist = train_vae(cfg, pool=pool, val=pool, progress=False)
    evals = [h for h in hist if "val_psnr" in h]
    assert len(evals) == 2 and all("val_psnr_trained" in h for h in evals)  # step 6 and the final one
    assert evals[-1]["val_psnr"] != evals[-1]["val_psnr_trained"]
    last = tmp_path / "run" / "checkpoints" / "step_00000012"
    ema = load_file(str(last / "ema.safetensors"))
    trained = load_file(str(last / "model.safetensors"))
    released = load_file(str(tmp_path / "release" / "model.safetensors"))
    name = "decoder.conv_out.weight" if "decoder.conv_out.weight" in ema else next(iter(ema))
    assert torch.equal(released[name], ema[name].bfloat16())
    assert not torch.equal(released[name], trained[name].bfloat16())
    returned = vae.state_dict()
    assert all(torch.equal(returned[k], ema[k]) for k in ema)  # train_vae hands back the released weights
    # resuming the finished run reloads model and average: the release is written again unchanged
    train_vae(cfg, pool=pool, val=pool, progress=False)
    again = load_file(str(tmp_path / "release" / "model.safetensors"))
    assert all(torch.equal(again[k], released[k]) for k in released)
    train_vae(cfg.replace(ema_decay=0.0, release_dir="", run_dir=str(tmp_path / "plain"), steps=2, save_every=0,
                          eval_every=0), pool=pool, val=pool, progress=False)
    with pytest.raises(CheckpointError, match="ema_decay: checkpoint 0.0, config 0.9"):
        train_vae(cfg.replace(run_dir=str(tmp_path / "plain"), release_dir=""), pool=pool, val=pool,
                  progress=False)
    with pytest.raises(ConfigError, match="ema_decay"):
        VAETrainConfig(ema_decay=1.0)


def test_released_vaes_match_their_presets() -> None:
    """The bundled model's VAE is the minisora-tiny preset (the shipped model's history trained it so)."""
    bundled = from_dict(VAEConfig, json.loads((DEFAULT_MODEL_DIR / "vae" / "config.json").read_text()))
    assert bundled == VAEConfig.preset("minisora-tiny")
    # ... and minisora/assets/vae-default (bench/vae.py's default) is the default preset, loadable as such.
    trained = VideoVAE.from_pretrained(DEFAULT_MODEL_DIR.parent / "vae-default")
    assert trained.config == VAEConfig.preset("default") != bundled
    assert trained.latent_shape(17, 64, 64) == (16, 5, 8, 8)
