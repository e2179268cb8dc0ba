"""`minisora generate` on a debug model folder: writes the video and a JSON sidecar; clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from minisora.cli import main as cli_main
from minisora.dit.config import DiTConfig
from minisora.dit.model import DiT
from minisora.io import read_video
from minisora.pipeline import ModelIndex, Pipeline
from minisora.vae.config import VAEConfig
from minisora.vae.model import VideoVAE


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    vae = VideoVAE(VAEConfig.preset("debug"))
    dit = DiT(DiTConfig.preset("debug", latent_channels=vae.latent_channels))
    return Pipeline(vae=vae, transformer=dit, index=ModelIndex(name="debug")).save_pretrained(
        tmp_path_factory.mktemp("model") / "debug")


def test_generate_writes_video_and_sidecar(model_dir, tmp_path, capsys):
    out = tmp_path / "clip.mp4"
    rc = cli_main(["generate", "a red circle moving right", "-o", str(out), "--model", str(model_dir),
                   "--steps", "2", "--seed", "3", "--size", "80x48", "--quiet"])
    assert rc == 0
    frames, fps = read_video(out)
    assert frames.shape == (17, 48, 80, 3) and fps == pytest.approx(8.0)
    side = json.loads((tmp_path / (out.name + ".json")).read_text())
    assert side["prompt"] == "a red circle moving right" and side["seed"] == 3
    assert side["settings"]["num_inference_steps"] == 2 and side["settings"]["width"] == 80
    assert side["settings"]["rewrite"] is True and side["timings"]["total"] > 0
    assert side["video"] == str(out)
    assert str(out) in capsys.readouterr().out


def test_generate_image_and_extend(model_dir, tmp_path):
    first = tmp_path / "first.png"
    rc = cli_main(["generate", "a blue star", "-o", str(first), "--model", str(model_dir), "--steps", "1",
                   "--frames", "1", "--quiet"])
    assert rc == 0
    from PIL import Image

    img = np.asarray(Image.open(first).convert("RGB"))
    still = tmp_path / "still.png"
    Image.fromarray(img[2:66, 2:66]).save(still)  # the contact sheet has a 2-pixel border
    clip = tmp_path / "i2v.mp4"
    assert cli_main(["generate", "a blue star", "-o", str(clip), "--model", str(model_dir), "--steps", "1",
                     "--image", str(still), "--quiet"]) == 0
    ext = tmp_path / "ext.mp4"
    assert cli_main(["generate", "a blue star", "-o", str(ext), "--model", str(model_dir), "--steps", "1",
                     "--video", str(clip), "--extend", "forward", "--join", "--quiet"]) == 0
    frames, _ = read_video(ext)
    assert frames.shape[0] == 17 + 12


def test_generate_bad_size_is_a_clear_error(model_dir, tmp_path, capsys):
    rc = cli_main(["generate", "a red circle", "-o", str(tmp_path / "x.mp4"), "--model", str(model_dir),
                   "--size", "70x64", "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "width=70" in err and "64 or 80" in err
    assert not (tmp_path / "x.mp4").exists()


def test_generate_with_upscale(tmp_path):
    from minisora.upscale.config import UpscalerConfig
    from minisora.upscale.model import Upscaler

    torch.manual_seed(0)
    vae = VideoVAE(VAEConfig.preset("debug"))
    dit = DiT(DiTConfig.preset("debug", latent_channels=vae.latent_channels))
    folder = Pipeline(vae=vae, transformer=dit, index=ModelIndex(name="debug"),
                      upscaler=Upscaler(UpscalerConfig.preset("debug"))).save_pretrained(tmp_path / "m")
    assert (folder / "upscaler" / "model.safetensors").is_file()
    out = tmp_path / "big.mp4"
    rc = cli_main(["generate", "a red circle", "-o", str(out), "--model", str(folder), "--steps", "1",
                   "--frames", "5", "--upscale", "2", "--upscale-time", "2", "--quiet"])
    assert rc == 0
    frames, fps = read_video(out)
    assert frames.shape == (9, 128, 128, 3) and fps == pytest.approx(16.0)
    side = json.loads((tmp_path / (out.name + ".json")).read_text())
    assert side["settings"]["upscale"] == 2 and side["settings"]["upscale_time"] == 2


def test_generate_rejects_bad_upscale(model_dir, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli_main(["generate", "a red circle", "-o", str(tmp_path / "x.mp4"), "--model", str(model_dir), "--upscale", "3"])
    assert "--upscale" in capsys.readouterr().err
