"""Wan2.1 in minisora's modules against diffusers' reference, on tiny random weights, offline.

The reference folder is written by diffusers' own `WanPipeline.save_pretrained` and loaded as it is.
Bars (fp32): relative max error <= 1e-4 for the transformer forward, VAE encode, VAE decode, and the
frames of a 4-step pipeline run with CFG and a negative prompt.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("diffusers")

from minisora.dit.config import DiTConfig  # noqa: E402
from minisora.flow.samplers import sample  # noqa: E402
from minisora.wan.folder import load_wan_transformer, rope_permutation  # noqa: E402
from minisora.wan.pipeline import WanVideoPipeline  # noqa: E402
from minisora.wan.reference import quiet, save_reference_folder  # noqa: E402
from minisora.wan.vae import WanVAE  # noqa: E402

TOL = 1e-4


def rel_err(a, b) -> float:
    a, b = (torch.as_tensor(np.asarray(v.detach() if isinstance(v, torch.Tensor) else v)).double() for v in (a, b))
    return float((a - b).abs().max() / a.abs().max())


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    quiet()
    folder = tmp_path_factory.mktemp("wan") / "tiny-wan"
    pipe = save_reference_folder(folder)
    pipe.set_progress_bar_config(disable=True)
    return folder, pipe


@pytest.fixture(scope="module")
def ours(ref):
    return WanVideoPipeline.from_pretrained(ref[0])


def test_transformer_matches_diffusers(ref):
    folder, pipe = ref
    dit = load_wan_transformer(folder / "transformer")
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(2, 16, 3, 6, 8, generator=g), torch.tensor([0.9, 0.25])
    text = torch.randn(2, 512, 32, generator=g)
    with torch.no_grad():
        want = pipe.transformer(hidden_states=x, timestep=t * 1000, encoder_hidden_states=text, return_dict=False)[0]
        got = dit(x, t, text, torch.ones(2, 512, dtype=torch.bool), torch.zeros(2, 32))
    assert rel_err(want, got) <= TOL


def test_rope_permutation_takes_interleaved_pairs_to_halves():
    cfg = DiTConfig(hidden_size=16, num_heads=2, depth=1)
    perm = rope_permutation(cfg)  # head_dim 8: per head evens then odds
    assert perm.tolist() == [0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15]


def test_vae_encode_and_decode_match_diffusers(ref):
    folder, pipe = ref
    vae = WanVAE.from_pretrained(folder / "vae")
    g = torch.Generator().manual_seed(1)
    video = torch.rand(1, 3, 9, 32, 48, generator=g) * 2 - 1
    z = torch.randn(1, 16, 3, 4, 6, generator=g)
    cfg = pipe.vae.config
    mean, std = (torch.tensor(v).view(1, -1, 1, 1, 1) for v in (cfg.latents_mean, cfg.latents_std))
    with torch.no_grad():
        want_mean = pipe.vae.encode(video).latent_dist.mean
        want_video = pipe.vae.decode(z * std + mean).sample
    got_mean, _ = vae.encode_moments(video)
    assert rel_err(want_mean, got_mean) <= TOL
    assert rel_err(want_video, vae.decode(z)) <= TOL
    assert rel_err((want_mean - mean) / std, vae.encode(video)) <= TOL  # normalised as Wan's I2V does


def test_vae_chunk_size_does_not_change_the_result(ref):
    vae = WanVAE.from_pretrained(ref[0] / "vae")
    z = torch.randn(1, 16, 4, 4, 4, generator=torch.Generator().manual_seed(2))
    one = vae.decode(z)
    vae.decode_chunk = 3
    assert rel_err(one, vae.decode(z)) <= 1e-5
    assert one.shape == (1, 3, 13, 32, 32) and vae.latent_shape(13, 32, 32) == (16, 4, 4, 4)


def test_pipeline_frames_match_diffusers(ref, ours):
    _, pipe = ref
    kw = dict(prompt="a dog runs on the beach", negative_prompt="blurry low quality", num_frames=9, height=32,
              width=48, num_inference_steps=4, guidance_scale=5.0)
    want = pipe(**kw, generator=torch.Generator().manual_seed(3), output_type="np").frames[0]  # T, H, W, 3 in [0, 1]
    out = ours(**kw, generator=torch.Generator().manual_seed(3), return_latents=True, progress=False)
    got = (ours.vae.decode(out.latents)[0].permute(1, 2, 3, 0) + 1) / 2  # the frames before uint8
    assert rel_err(want, got) <= TOL
    assert out.frames.shape == (9, 32, 48, 3) and out.frames.dtype == np.uint8
    assert np.abs(out.frames.astype(int) - np.round(want * 255).astype(int)).max() <= 1


def test_latent_replacement_renoises_given_frames_to_t():
    """replace_given: every evaluation sees the given frames at (1 - t) x_given + t noise, and the
    result holds them exactly; the model never receives frame_cond."""
    g = torch.Generator().manual_seed(4)
    noise, given = torch.randn(1, 2, 3, 2, 2, generator=g), torch.randn(1, 2, 3, 2, 2, generator=g)
    mask = torch.tensor([True, False, True]).view(1, 1, 3, 1, 1)
    seen = []

    def model_fn(x, t, **kw):
        assert set(kw) == {"c"}
        seen.append((float(t[0]), x.clone()))
        return -x

    out = sample(model_fn, noise, steps=3, cond={"c": 1}, frame_cond=given, frame_mask=mask, progress=False,
                 replace_given=True)
    assert len(seen) == 3
    for t, x in seen:
        expect = (1 - t) * given + t * noise
        assert torch.allclose(x[:, :, [0, 2]], expect[:, :, [0, 2]], atol=1e-6)
    assert torch.equal(out[:, :, [0, 2]], given[:, :, [0, 2]])
    assert not torch.allclose(out[:, :, 1], given[:, :, 1])


def test_editing_features_on_a_model_without_frame_channels(ours):
    """Image-to-video, extend, connect, loop and SDEdit all run on Wan2.1 through latent replacement."""
    img = (np.random.default_rng(0).random((32, 48, 3)) * 255).astype(np.uint8)
    base = dict(prompt="a red ball", num_frames=9, height=32, width=48, num_inference_steps=2, seed=0,
                progress=False)
    i2v = ours(**base, image=img, return_latents=True)
    assert i2v.settings["given_frames"] == "latent replacement"
    assert np.array_equal(i2v.frames[0], img)  # keep_given_frame
    assert torch.allclose(i2v.latents[:, :, :1], ours.encode_video(img[None], 32, 48), atol=1e-6)
    clip = i2v.frames
    assert ours(**base, video=clip, extend="forward").frames.shape[0] == 9 - 1 - 4  # 2 latent frames of context
    longer = {**base, "num_frames": 13}
    assert ours(**longer, video=clip, extend="backward").frames.shape[0] == 4  # frames before the clip's frame 1
    assert ours(**longer, connect=(clip, clip)).frames.shape[0] == 7
    assert ours(**base, loop=True).frames.shape[0] == 8
    assert ours(**base, video=clip, strength=0.5).frames.shape == (9, 32, 48, 3)
    with pytest.raises(ValueError, match="upscale=2 is not available for a Wan model"):
        ours(**base, upscale=2)


def test_vae_spatial_tiling_covers_the_frame(ref):
    vae = WanVAE.from_pretrained(ref[0] / "vae")
    z = torch.randn(1, 16, 2, 4, 8, generator=torch.Generator().manual_seed(5))
    whole = vae.decode(z)
    vae.enable_tiling(tile_size=64, tile_overlap=16)  # covers 32 x 64 pixels in one tile: exact
    assert rel_err(whole, vae.decode(z)) <= 1e-5
    vae.enable_tiling(tile_size=32, tile_overlap=16)  # three blended tiles across the width
    tiled = vae.decode(z)
    assert tiled.shape == whole.shape and bool(torch.isfinite(tiled).all())
    assert rel_err(whole, tiled) < 1.0  # blended tiles approximate the whole frame (random weights: loosely)


def test_wan_choices_are_validated_by_name():
    with pytest.raises(ValueError, match="gelu='fast' is not valid; choose one of erf, tanh"):
        DiTConfig(gelu="fast")
    with pytest.raises(ValueError, match="modulation='global' is not valid"):
        DiTConfig(modulation="global")


def test_flop_count_of_a_wan_shaped_dit_matches_torch():
    from torch.utils.flop_counter import FlopCounterMode

    from minisora.dit.flops import forward_flops
    from minisora.dit.model import DiT
    from minisora.wan.folder import dit_config_from_wan

    cfg = dit_config_from_wan(dict(num_attention_heads=2, attention_head_dim=32, ffn_dim=128, num_layers=2, text_dim=32))
    model = DiT(cfg)
    with FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 16, 2, 4, 4), torch.rand(1), torch.randn(1, 16, 32), torch.ones(1, 16, dtype=torch.bool),
              torch.zeros(1, 32))
    assert counter.get_total_flops() == pytest.approx(forward_flops(cfg, 2, 4, 4, 16)["total"], rel=0.01)


def test_unipc_folder_matches_diffusers(ref, tmp_path):
    """Wan2.1's release ships UniPCMultistepScheduler (flow sigmas, order 2, bh2): minisora's sample_unipc
    reproduces it, the model's truncated timesteps included."""
    import json
    import shutil

    from diffusers import UniPCMultistepScheduler

    folder, pipe = ref
    copy = tmp_path / "unipc"
    shutil.copytree(folder, copy)
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    scheduler.save_pretrained(copy / "scheduler")
    index = json.loads((copy / "model_index.json").read_text())
    (copy / "model_index.json").write_text(json.dumps({**index, "scheduler": ["diffusers", "UniPCMultistepScheduler"]}))
    ours = WanVideoPipeline.from_pretrained(copy)
    assert ours.sampler == "unipc"
    saved = pipe.scheduler
    pipe.scheduler = scheduler
    try:
        kw = dict(prompt="a dog runs on the beach", negative_prompt="blurry", num_frames=9, height=32, width=48,
                  num_inference_steps=5, guidance_scale=5.0)
        want = pipe(**kw, generator=torch.Generator().manual_seed(3), output_type="np").frames[0]
    finally:
        pipe.scheduler = saved
    out = ours(**kw, generator=torch.Generator().manual_seed(3), return_latents=True, progress=False)
    assert rel_err(want, (ours.vae.decode(out.latents)[0].permute(1, 2, 3, 0) + 1) / 2) <= TOL
    assert out.settings["sampler"] == "unipc"


def test_sizes_are_checked_with_the_nearest_valid_values(ours):
    assert ours.check_size(9, 32, 48) == (16, 3, 4, 6)
    with pytest.raises(ValueError, match="num_frames=10 is not valid: use 1 \\+ k\\*4 frames"):
        ours(prompt="a dog", num_frames=10, height=32, width=48, num_inference_steps=1, progress=False)
    with pytest.raises(ValueError, match="height=40 is not valid: it must be a positive multiple of 16"):
        ours.check_size(9, 40, 48)
