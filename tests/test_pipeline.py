"""The pipeline on a tiny debug model (debug VAE + debug DiT, random weights): shapes, determinism,
frame conditioning, input errors and the model-folder round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from minisora.dit.config import DiTConfig
from minisora.dit.model import DiT
from minisora.conditioning_plan import context_latents
from minisora.model_folder import MODEL_INDEX_NAME, ModelIndex
from minisora.pipeline import Pipeline
from minisora.vae.config import VAEConfig
from minisora.vae.model import VideoVAE


STEPS = 2


def debug_pipeline(seed: int = 0) -> Pipeline:
    torch.manual_seed(seed)
    vae = VideoVAE(VAEConfig.preset("debug")).eval()
    dit = DiT(DiTConfig.preset("debug", latent_channels=vae.latent_channels))
    # give the random DiT some output so frames depend on the noise (its head is zero-initialised)
    with torch.no_grad():
        for p in dit.final.parameters():
            p.normal_(0, 0.05)
    return Pipeline(vae=vae, transformer=dit, index=ModelIndex(name="debug"))


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    return debug_pipeline()


def gen(pipe, prompt="a red circle moving right", **kw):
    kw.setdefault("num_inference_steps", STEPS)
    kw.setdefault("seed", 0)
    return pipe(prompt, progress=False, **kw)


@pytest.mark.parametrize("size", [(64, 64), (48, 80), (80, 48)])
@pytest.mark.parametrize("frames", [1, 9, 17])
def test_output_shapes(pipe, size, frames):
    h, w = size
    out = gen(pipe, num_frames=frames, height=h, width=w)
    assert out.frames.shape == (frames, h, w, 3) and out.frames.dtype == np.uint8
    assert out.fps == 8.0 and out.seed == 0
    for k in ("rewrite", "encode_text", "prepare", "denoise", "decode", "total"):
        assert out.timings[k] >= 0.0
    assert out.settings["num_frames"] == frames and out.settings["height"] == h and out.settings["width"] == w


def test_same_seed_same_frames_and_seed_matters(pipe):
    a = gen(pipe, seed=7)
    b = gen(pipe, seed=7)
    c = gen(pipe, seed=8)
    assert a.frames.tobytes() == b.frames.tobytes()
    assert not np.array_equal(a.frames, c.frames)
    g1 = gen(pipe, seed=None, generator=torch.Generator().manual_seed(5))
    g2 = gen(pipe, seed=None, generator=torch.Generator().manual_seed(5))
    assert np.array_equal(g1.frames, g2.frames)


def test_guidance_and_negative_prompt_change_the_result(pipe):
    base = gen(pipe, guidance_scale=5.0)
    off = gen(pipe, guidance_scale=1.0)
    neg = gen(pipe, guidance_scale=5.0, negative_prompt="a blue square")
    assert not np.array_equal(base.frames, off.frames)
    assert not np.array_equal(base.frames, neg.frames)


def test_callback_sees_every_step(pipe):
    seen = []
    gen(pipe, num_inference_steps=3, callback=lambda i, t, x: seen.append((i, t, tuple(x.shape))))
    assert [s[0] for s in seen] == [0, 1, 2]
    assert seen[0][1] == pytest.approx(1.0) and seen[-1][1] < seen[0][1]
    assert seen[0][2] == (1, 8, 5, 8, 8)


def test_image_to_video_keeps_frame0_latent(pipe):
    img = gen(pipe, num_frames=1).frames[0]
    out = gen(pipe, image=img, return_latents=True)
    z = pipe.encode_video(img[None], 64, 64)  # 1, C, 1, H', W'
    assert torch.equal(out.latents[:, :, :1], z)
    assert out.frames.shape == (17, 64, 64, 3) and out.settings["task"] == "i2v"
    # frame 0 is the given image itself; without keep_given_frame it is the decode of its latent
    assert np.array_equal(out.frames[0], img)
    raw = gen(pipe, image=img, keep_given_frame=False)
    alone = pipe.vae.decode(z)
    assert np.array_equal(raw.frames[0], ((alone[0, :, 0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5)
                          .round().to(torch.uint8).numpy())
    assert np.array_equal(raw.frames[1:], out.frames[1:])
    # an image of another size is centre-cropped and resized, not rejected
    big = np.repeat(np.repeat(img, 2, axis=0), 3, axis=1)  # 128 x 192
    assert gen(pipe, image=big).frames.shape == (17, 64, 64, 3)


def test_extend_connect_loop_sdedit_lengths(pipe):
    clip = gen(pipe).frames  # 17 frames
    fwd = gen(pipe, video=clip, extend="forward", return_latents=True)
    assert fwd.frames.shape[0] == 12  # window 17, the first 5 repeat the clip's last 5
    assert len(clip) + len(fwd.frames) == 29  # a valid 1 + 4k length again
    assert torch.equal(fwd.latents[:, :, :2], context_latents(pipe.encode_video, clip, 2, True, pipe.vae.temporal_factor, 64, 64))
    bwd = gen(pipe, video=clip, extend="backward")
    assert bwd.frames.shape[0] == 8 and (len(bwd.frames) + len(clip) - 1) % 4 == 0
    con = gen(pipe, connect=(clip, clip[::-1].copy()))
    assert (len(clip) * 2 + len(con.frames) - 1) % 4 == 0 and con.frames.shape[0] == 11
    loop = gen(pipe, loop=True, return_latents=True)
    assert loop.frames.shape[0] == 16 and torch.equal(loop.latents[:, :, 0], loop.latents[:, :, -1])
    sd = gen(pipe, video=clip, strength=0.5)
    assert sd.frames.shape == clip.shape and sd.settings["task"] == "sdedit"


@pytest.mark.parametrize("kw, words", [
    (dict(num_frames=16), ["num_frames=16", "13 or 17"]),
    (dict(num_frames=0), ["num_frames=0", "1 + k*4"]),
    (dict(height=50), ["height=50", "48 or 64"]),
    (dict(width=72), ["width=72", "64 or 80"]),
    (dict(num_inference_steps=0), ["num_inference_steps=0"]),
    (dict(guidance_scale=0.5), ["guidance_scale=0.5"]),
    (dict(video=np.zeros((17, 64, 64, 3), np.uint8), strength=0.0), ["strength=0.0", "(0, 1]"]),
    (dict(video=np.zeros((17, 64, 64, 3), np.uint8), strength=1.5), ["strength=1.5"]),
    (dict(video=np.zeros((17, 64, 64, 3), np.uint8), extend="sideways"), ["sideways", "forward, backward"]),
    (dict(extend="forward"), ["extend needs video"]),
    (dict(image=np.zeros((64, 64), np.uint8)), ["(H, W, 3)"]),
    (dict(image=np.zeros((2, 64, 64, 3), np.uint8)), ["one frame"]),
    (dict(image=np.zeros((64, 64, 3), np.uint8), connect=(1, 2)), ["choose one of"]),
    (dict(video=np.zeros((9, 64, 64, 3), np.uint8), strength=0.5), ["9 frames", "num_frames <= 9"]),
    (dict(seed=-1), ["seed=-1"]),
    (dict(sampler="rk4"), ["euler, heun"]),
    (dict(loop=True, num_frames=1), ["loop needs num_frames >= 5"]),
])
def test_invalid_inputs_raise_clear_errors(pipe, kw, words):
    with pytest.raises(ValueError) as e:
        gen(pipe, **kw)
    for w in words:
        assert w in str(e.value), (w, str(e.value))


def test_wrong_pixel_type_and_empty_prompt(pipe):
    with pytest.raises(TypeError, match="uint8"):
        gen(pipe, image=np.zeros((64, 64, 3), np.float32))
    with pytest.raises(ValueError, match="prompt"):
        gen(pipe, prompt="  ")


def test_model_folder_round_trip(pipe, tmp_path):
    folder = pipe.save_pretrained(tmp_path / "m", dtype=torch.float32)
    index = json.loads((folder / MODEL_INDEX_NAME).read_text())
    assert index["format"] == "minisora-pipeline/1" and index["text_encoder"]["kind"] == "minilm"
    for comp in ("vae", "transformer"):
        assert (folder / comp / "config.json").is_file() and (folder / comp / "model.safetensors").is_file()
    loaded = Pipeline.from_pretrained(folder)
    assert loaded._vae is None and loaded._transformer is None  # lazy until first use
    a, b = gen(pipe, seed=3), gen(loaded, seed=3)
    assert a.frames.tobytes() == b.frames.tobytes()
    # a bf16 release is half the size and still loads and runs
    half = pipe.save_pretrained(tmp_path / "h")
    assert (half / "transformer" / "model.safetensors").stat().st_size < \
        0.6 * (folder / "transformer" / "model.safetensors").stat().st_size
    assert gen(Pipeline.from_pretrained(half)).frames.shape == (17, 64, 64, 3)


def test_bad_model_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Pipeline.from_pretrained(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="model_index.json"):
        Pipeline.from_pretrained(tmp_path / "empty")
    ModelIndex().save(tmp_path / "noweights")
    with pytest.raises(FileNotFoundError, match="'vae' has no weights"):
        Pipeline.from_pretrained(tmp_path / "noweights")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / MODEL_INDEX_NAME).write_text(json.dumps({"vae": "vae", "colour": 1}))
    with pytest.raises(ValueError, match="colour"):
        Pipeline.from_pretrained(tmp_path / "bad")


def _debug_upscaler():
    from minisora.upscale.config import UpscalerConfig
    from minisora.upscale.model import Upscaler

    torch.manual_seed(0)
    return Upscaler(UpscalerConfig.preset("debug"))


@pytest.mark.parametrize("scale,time_scale", [(2, 1), (2, 2), (1, 2)])
def test_cascade_upscales_in_space_and_time(scale, time_scale):
    base = debug_pipeline()
    small = gen(base, num_frames=9, height=48, width=80)
    pipe = debug_pipeline()
    pipe._upscaler = _debug_upscaler()
    out = gen(pipe, num_frames=9, height=48, width=80, upscale=scale, upscale_time=time_scale)
    assert out.frames.shape == ((9 - 1) * time_scale + 1, 48 * scale, 80 * scale, 3)
    assert out.fps == small.fps * time_scale
    assert out.settings["upscale"] == scale and out.settings["upscale_time"] == time_scale
    assert "upscale" in out.timings
    # the cascade starts from the same small clip: box-downsampling its output lands near it
    big = torch.from_numpy(out.frames[::time_scale]).float().permute(0, 3, 1, 2)
    down = torch.nn.functional.avg_pool2d(big, scale).permute(0, 2, 3, 1).numpy() if scale > 1 else big.permute(0, 2, 3, 1).numpy()
    assert np.abs(down - small.frames.astype(np.float32)).mean() < 12.0


def test_cascade_default_factors_and_bad_factors():
    pipe = debug_pipeline()
    pipe._upscaler = _debug_upscaler()
    pipe.upscale = 2
    assert gen(pipe, num_frames=1).frames.shape == (1, 128, 128, 3)
    assert gen(pipe, num_frames=1, upscale=1).frames.shape == (1, 64, 64, 3)
    for kw, word in (({"upscale": 3}, "upscale=3"), ({"upscale_time": 4}, "upscale_time=4")):
        with pytest.raises(ValueError, match=word):
            gen(pipe, **kw)
    with pytest.raises(ValueError, match="upscale=8"):
        Pipeline(upscale=8)


def test_cascade_without_upscaler_weights_says_so(tmp_path):
    pipe = debug_pipeline()
    pipe.save_pretrained(tmp_path / "m")
    loaded = Pipeline.from_pretrained(tmp_path / "m")
    with pytest.raises(FileNotFoundError, match="upscaler"):
        gen(loaded, num_frames=1, upscale=2)
