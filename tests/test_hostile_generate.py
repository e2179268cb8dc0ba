"""Hostile inputs against `minisora generate`, `minisora upscale`, `minisora rewrite` and the Python
pipeline: bad outputs caught before any work, join mismatches, guidance, seeds, memory, sizes, sidecars.

Each case asserts the specific error or result and that nothing outside the named output changed.
Where a check must come before the expensive part, loading the transformer is made to fail loudly:
the command must stop with its own message before it gets there.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hostile import bundled_models_unchanged, changed, damaged_video, model, snapshot  # noqa: F401 (fixtures)
from minisora.cli import main as cli_main
from minisora.generation_checks import (MemoryEstimateError, NonFiniteError, UntrainedSizeWarning,
                                        estimate_peak_bytes)
from minisora.io import export_to_video, read_video
from minisora.pipeline import Pipeline


@pytest.fixture
def no_work(monkeypatch):
    """Loading the transformer (the first expensive step) fails the test."""
    from minisora.dit.model import DiT

    def refuse(*a, **k):
        raise AssertionError("the transformer was loaded: the check came too late")

    monkeypatch.setattr(DiT, "from_pretrained", classmethod(lambda cls, *a, **k: refuse()))


def clip(path, frames=9, height=48, width=80):
    rng = np.random.default_rng(0)
    return export_to_video((rng.random((frames, height, width, 3)) * 255).astype(np.uint8), path)


def generate(model, out, *extra):
    return cli_main(["generate", "a red circle moving right", "-o", str(out), "--model", str(model),
                     "--steps", "1", "--quiet", *extra])


# --- output paths: refused before any work ---------------------------------------------------

@pytest.mark.parametrize("name, message", [
    ("x.avi", "unknown extension '.avi'; valid: .mp4, .gif, .png"),
    ("x", "unknown extension '(none)'"),
    ("existing_dir", "is a folder; name a video file"),
    ("a_file/x.mp4", "is a file, not a folder"),
])
def test_bad_output_path_refused_before_work(model, tmp_path, capsys, no_work, name, message):
    (tmp_path / "existing_dir").mkdir()
    (tmp_path / "a_file").write_text("keep me")
    before = snapshot(tmp_path)
    assert generate(model, tmp_path / name, "--frames", "1001") == 2
    assert message in capsys.readouterr().err
    assert not changed(before, tmp_path)


def test_unwritable_output_folder_refused_before_work(model, tmp_path, capsys, no_work):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        if __import__("os").access(locked, __import__("os").W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        assert generate(model, locked / "x.mp4") == 2
        assert "no write permission" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


def test_upscale_bad_output_refused_before_reading(tmp_path, capsys, monkeypatch):
    from minisora.upscale.model import Upscaler

    monkeypatch.setattr(Upscaler, "from_pretrained", classmethod(lambda cls, *a, **k: 1 / 0))
    src = clip(tmp_path / "in.mp4")
    before = snapshot(tmp_path)
    assert cli_main(["upscale", str(src), "-o", str(tmp_path / "out.avi"), "--quiet"]) == 2
    assert "unknown extension '.avi'" in capsys.readouterr().err
    assert not changed(before, tmp_path)


# --- join compatibility ----------------------------------------------------------------------

def test_connect_clips_of_different_sizes_with_join_refused(model, tmp_path, capsys, no_work):
    a, b = clip(tmp_path / "a.mp4"), clip(tmp_path / "b.mp4", height=64, width=64)
    before = snapshot(tmp_path)
    assert generate(model, tmp_path / "j.mp4", "--connect", str(a), str(b), "--join") == 2
    err = capsys.readouterr().err
    assert f"--connect {a} is 80x48" in err and f"--connect {b} is 64x64" in err and "one size" in err
    assert not changed(before, tmp_path)


def test_extend_with_mismatched_size_and_join_refused(model, tmp_path, capsys, no_work):
    v = clip(tmp_path / "v.mp4")
    before = snapshot(tmp_path)
    assert generate(model, tmp_path / "j.mp4", "--video", str(v), "--extend", "forward", "--size", "64x64",
                    "--join") == 2
    err = capsys.readouterr().err
    assert "clips' size 80x48" in err and "--size 64x64" in err and "give --size 80x48" in err
    assert not changed(before, tmp_path)


def test_join_without_size_takes_the_clip_size(model, tmp_path):
    v = clip(tmp_path / "v.mp4")
    out = tmp_path / "j.mp4"
    before = snapshot(tmp_path)
    assert generate(model, out, "--video", str(v), "--extend", "forward", "--frames", "9", "--join") == 0
    frames, _ = read_video(out)
    assert frames.shape[1:3] == (48, 80) and frames.shape[0] == 9 + 4  # the clip, then 4 new frames
    assert changed(before, tmp_path) == {"j.mp4", "j.mp4.json"}


def test_join_without_extend_or_connect_refused(model, tmp_path, capsys, no_work):
    assert generate(model, tmp_path / "j.mp4", "--join") == 2
    assert "--join" in capsys.readouterr().err and not (tmp_path / "j.mp4").exists()


def test_join_with_doubled_frame_rate_refused(model, tmp_path, capsys, no_work):
    v = clip(tmp_path / "v.mp4")
    assert generate(model, tmp_path / "j.mp4", "--video", str(v), "--extend", "forward", "--join",
                    "--upscale-time", "2") == 2
    assert "--upscale-time 2" in capsys.readouterr().err


# --- inputs that are not what they claim ----------------------------------------------------

def test_image_that_is_not_an_image(model, tmp_path, capsys, no_work):
    bad = tmp_path / "photo.png"
    bad.write_bytes(b"this is not a PNG")
    before = snapshot(tmp_path)
    assert generate(model, tmp_path / "x.mp4", "--image", str(bad)) == 2
    assert f"cannot read '{bad}' as an image" in capsys.readouterr().err
    assert not changed(before, tmp_path)


def test_image_that_is_not_an_image_python_api(model, tmp_path):
    from minisora.io import VideoReadError

    bad = tmp_path / "photo.jpg"
    bad.write_bytes(b"\xff\xd8 truncated jpeg")
    with pytest.raises(VideoReadError, match=f"cannot read '{bad}' as an image"):
        Pipeline.from_pretrained(model)("a red circle", image=str(bad), num_inference_steps=1, progress=False)


def test_missing_input_video(model, tmp_path, capsys, no_work):
    assert generate(model, tmp_path / "x.mp4", "--video", str(tmp_path / "nope.mp4"), "--extend", "forward") == 2
    assert "no such video file" in capsys.readouterr().err


def test_damaged_input_video_is_reported(model, tmp_path, capsys):
    v = damaged_video(tmp_path / "v.mp4")
    assert generate(model, tmp_path / "x.mp4", "--video", str(v), "--strength", "0.5", "--frames", "5") == 0
    err = capsys.readouterr().err
    assert f"warning: {v}: the decoder reported" in err and "some frames may be damaged" in err


# --- numbers: threads, guidance, seeds -------------------------------------------------------

@pytest.mark.parametrize("command", ["generate", "upscale", "eval", "cache-latents"])
@pytest.mark.parametrize("value", ["-1", "100000", "two"])
def test_bad_thread_counts(tmp_path, capsys, monkeypatch, command, value):
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(SystemExit) as e:
        cli_main([command, "--threads", value])
    assert e.value.code == 2
    assert f"{value!r} is not a thread count: use 0 (torch's default) or 1 to" in capsys.readouterr().err
    assert not changed(before, tmp_path)


@pytest.mark.parametrize("value", ["1e30", "nan", "-inf", "0.5", "25"])
def test_guidance_outside_the_sane_range(model, tmp_path, capsys, no_work, value):
    assert generate(model, tmp_path / "x.mp4", f"--guidance={value}") == 2
    assert "is not valid: use a number in [1, 20]" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize("seed", [2**40, 2**32, -1])
def test_seeds_outside_the_documented_range(model, tmp_path, capsys, no_work, seed):
    assert generate(model, tmp_path / "x.mp4", "--seed", str(seed)) == 2
    assert f"seed={seed} is not valid: use an integer in [0, 4294967295]" in capsys.readouterr().err


def test_upscale_seed_outside_range(tmp_path, capsys):
    src = clip(tmp_path / "in.mp4")
    assert cli_main(["upscale", str(src), "-o", str(tmp_path / "o.mp4"), "--seed", str(2**40), "--quiet"]) == 2
    assert "seed=1099511627776 is not valid" in capsys.readouterr().err


def test_largest_seed_gives_its_own_video(model):
    pipe = Pipeline.from_pretrained(model)
    kw = dict(num_frames=1, num_inference_steps=1, progress=False)
    top = pipe("a red circle", seed=2**32 - 1, **kw).frames
    zero = pipe("a red circle", seed=0, **kw).frames
    assert not np.array_equal(top, zero)


# --- memory and sizes -----------------------------------------------------------------------

def test_huge_size_refused_with_estimate_and_limit(model, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("minisora.generation_checks.available_bytes", lambda: 8 << 30)
    before = snapshot(tmp_path)
    assert generate(model, tmp_path / "x.mp4", "--size", "4096x4096") == 2
    err = capsys.readouterr().err
    assert "needs an estimated" in err and "only 8.0 GiB is available" in err and "--force" in err
    assert not changed(before, tmp_path)


def test_force_overrides_the_memory_refusal(model, tmp_path, monkeypatch):
    monkeypatch.setattr("minisora.generation_checks.available_bytes", lambda: 1)
    with pytest.raises(MemoryEstimateError):
        Pipeline.from_pretrained(model)("a red circle", num_frames=1, num_inference_steps=1, progress=False)
    assert generate(model, tmp_path / "x.png", "--frames", "1", "--force") == 0
    assert read_video(tmp_path / "x.png")[0].shape == (1, 64, 64, 3)


def test_memory_estimate_grows_with_the_clip():
    from minisora.dit.config import DiTConfig
    from minisora.vae.config import VAEConfig

    vae, dit = VAEConfig.preset("debug"), DiTConfig.preset("debug", latent_channels=4)
    small = estimate_peak_bytes(vae, dit, 17, 64, 64, 80, 5.0)
    big = estimate_peak_bytes(vae, dit, 17, 4096, 4096, 80 * 4096, 5.0)
    assert big > 1000 * small and big > 8 << 30


def test_untrained_size_warns_and_trained_size_does_not(model):
    import warnings

    pipe = Pipeline.from_pretrained(model)
    with pytest.warns(UntrainedSizeWarning, match=r"80x48 is not a size this model was trained at \(64x64\)"):
        pipe("a red circle", width=80, height=48, num_frames=1, num_inference_steps=1, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UntrainedSizeWarning)
        pipe("a red circle", num_frames=1, num_inference_steps=1, progress=False)


def test_untrained_size_warning_in_the_cli(model, tmp_path, capsys):
    assert generate(model, tmp_path / "x.png", "--frames", "1", "--size", "80x48") == 0
    assert "warning: 80x48 is not a size this model was trained at" in capsys.readouterr().err


# --- non-finite sampling ---------------------------------------------------------------------

def test_non_finite_velocity_stops_sampling(model):
    pipe = Pipeline.from_pretrained(model)
    with torch.no_grad():
        next(pipe.transformer.parameters()).fill_(float("nan"))  # what a corrupted run would hold
    calls = []
    with pytest.raises(NonFiniteError, match=r"velocity at evaluation 1 .*non-finite"):
        pipe("a red circle", num_frames=1, num_inference_steps=4, progress=False,
             callback=lambda i, t, x: calls.append(i))
    assert calls == [0]  # stopped at the first evaluation, not after all four steps


# --- sidecars --------------------------------------------------------------------------------

def test_sidecars_named_after_the_full_output_name(model, tmp_path):
    (tmp_path / "x.json").write_text('{"mine": true}')
    before = snapshot(tmp_path)
    assert generate(model, tmp_path / "x.gif", "--frames", "1") == 0
    assert generate(model, tmp_path / "x.png", "--frames", "1", "--seed", "1") == 0
    assert changed(before, tmp_path) == {"x.gif", "x.gif.json", "x.png", "x.png.json"}
    import json

    assert json.loads((tmp_path / "x.gif.json").read_text())["seed"] == 0
    assert json.loads((tmp_path / "x.png.json").read_text())["seed"] == 1
    assert (tmp_path / "x.json").read_text() == '{"mine": true}'


def test_sidecar_that_would_replace_a_folder_is_refused(model, tmp_path, capsys, no_work):
    (tmp_path / "x.mp4.json").mkdir()
    assert generate(model, tmp_path / "x.mp4") == 2
    assert "would replace a folder" in capsys.readouterr().err


# --- secrets ---------------------------------------------------------------------------------

def test_api_key_on_the_command_line_is_refused_without_echoing_it(capsys):
    with pytest.raises(SystemExit) as e:
        cli_main(["rewrite", "a red ball", "--rewriter", "openai", "--openai-api-key", "sk-SECRET123"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "MINISORA_OPENAI_API_KEY" in err and "--openai-api-key-file" in err and "sk-SECRET123" not in err


def test_api_key_file(tmp_path):
    from minisora.secrets import read_secret_file

    (tmp_path / "key").write_text("sk-from-file\n")
    assert read_secret_file(tmp_path / "key") == "sk-from-file"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValueError, match="is empty"):
        read_secret_file(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_secret_file(tmp_path / "nope")


def test_rewrite_with_an_empty_key_file_is_one_line(tmp_path, capsys):
    (tmp_path / "key").write_text("")
    assert cli_main(["rewrite", "a red ball", "--rewriter", "openai", "--openai-model", "m",
                     "--openai-api-key-file", str(tmp_path / "key")]) == 1
    assert f"key file '{tmp_path / 'key'}' is empty" in capsys.readouterr().out
