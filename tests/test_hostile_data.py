"""Hostile inputs against configs, datasets and media files: malformed YAML/JSON, non-finite
hyperparameters, undecodable captions, damaged videos, images that are not images, bad environment.

Each case asserts the specific error (naming the file or key) or the specific result, and that
nothing outside the named output changed.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from hostile import bundled_models_unchanged, changed, damaged_video, snapshot  # noqa: F401 (fixture)
from minisora.cli import main as cli_main
from minisora.config import ConfigError, apply_overrides, load_json, load_yaml
from minisora.data.video_folder import VideoFolderDataset
from minisora.frame_reader import read_frames
from minisora.io import CorruptVideoWarning, VideoReadError, export_to_video, read_image, read_video
from minisora.train.config import TrainConfig


def small_clip(path, frames=9, color=(0, 200, 0)):
    x = np.zeros((frames, 32, 32, 3), np.uint8)
    x[:, 8:24, 8:24] = color
    return export_to_video(x, path)


# --- configs ---------------------------------------------------------------------------------

def test_malformed_yaml_names_file_line_and_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  lr: [1e-4\nschedule: {}\n")
    with pytest.raises(ConfigError, match=rf"{bad}:3:\d+: not valid YAML"):
        load_yaml(TrainConfig, bad)


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_non_finite_hyperparameter_in_yaml_names_the_key(tmp_path, value):
    bad = tmp_path / "run.yaml"
    bad.write_text(f"optim:\n  lr: {value}\n")
    with pytest.raises(ConfigError, match=rf"{bad}: optim.lr: -?(nan|inf) is not a finite number"):
        load_yaml(TrainConfig, bad)


def test_non_finite_override_names_the_key():
    with pytest.raises(ConfigError, match=r"optim.lr: nan is not a finite number"):
        apply_overrides(TrainConfig(), ["optim.lr=.nan"])


def test_non_finite_number_in_json_config_names_file_and_key(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"optim": {"lr": NaN}}')
    with pytest.raises(ConfigError, match=rf"{path}: optim.lr: nan is not a finite number"):
        load_json(TrainConfig, path)


def test_yaml_that_is_not_utf8(tmp_path):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("run_dir: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=rf"{bad}: not UTF-8 text"):
        load_yaml(TrainConfig, bad)


def test_yaml_that_is_a_list(tmp_path):
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=rf"{bad}: .*expected a mapping, got list"):
        load_yaml(TrainConfig, bad)


@pytest.mark.parametrize("command", ["train", "train-vae"])
def test_training_commands_report_malformed_yaml_in_one_line(tmp_path, capsys, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: {lr: 1e-4\n")
    before = snapshot(tmp_path)
    assert cli_main([command, str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:" in err and "not valid YAML" in err and "Traceback" not in err
    assert not changed(before, tmp_path)


def test_training_command_reports_nan_learning_rate(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "nan.yaml"
    bad.write_text("optim:\n  lr: .nan\n")
    before = snapshot(tmp_path)
    assert cli_main(["train", str(bad)]) == 2
    assert "optim.lr: nan is not a finite number" in capsys.readouterr().err
    assert not changed(before, tmp_path)


def test_bad_malloc_choice_is_an_error(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("MINISORA_MALLOC", "fastest")
    assert cli_main(["upscale", "x.mp4", "-o", str(tmp_path / "o.mp4")]) == 2
    assert "MINISORA_MALLOC='fastest' is not valid; choose one of keep, system" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_bad_precision_choice_is_an_error(monkeypatch):
    from minisora.precision import resolve

    monkeypatch.setenv("MINISORA_PRECISION", "fp8")
    with pytest.raises(ValueError, match="MINISORA_PRECISION='fp8' is not valid; choose one of bf16, fp32"):
        resolve("auto")


# --- images and videos -----------------------------------------------------------------------

@pytest.mark.parametrize("content", [b"", b"GIF89a but not really", b"\x89PNG\r\n\x1a\n" + b"\0" * 20])
def test_read_image_of_a_non_image(tmp_path, content):
    bad = tmp_path / "x.png"
    bad.write_bytes(content)
    with pytest.raises(VideoReadError, match=f"cannot read '{bad}' as an image"):
        read_image(bad)


def test_damaged_video_is_counted_and_warned(tmp_path):
    v = damaged_video(tmp_path / "v.mp4")
    errors: list[str] = []
    frames, _ = read_video(v, errors)
    assert frames.shape == (17, 64, 64, 3) and len(errors) >= 1 and errors[0].startswith("h264: ")
    with pytest.warns(CorruptVideoWarning, match=rf"{v}: the decoder reported {len(errors)} error\(s\)"):
        read_video(v)


def test_damaged_video_through_partial_reads(tmp_path):
    v = damaged_video(tmp_path / "v.mp4")
    errors: list[str] = []
    frames, _ = read_frames(v, list(range(17)), decode_errors=errors)
    assert frames.shape[0] == 17 and errors


def test_clean_video_reports_no_decoder_errors(tmp_path):
    v = small_clip(tmp_path / "ok.mp4")
    errors: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorruptVideoWarning)
        read_video(v, errors)
        read_video(v)
    assert errors == []


def test_truncated_video_is_a_clear_error(tmp_path):
    v = small_clip(tmp_path / "v.mp4", frames=17)
    v.write_bytes(v.read_bytes()[:200])
    with pytest.raises(VideoReadError, match=f"cannot read '{v}'"):
        read_video(v)


# --- datasets --------------------------------------------------------------------------------

@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    for i in range(3):
        small_clip(root / f"c{i}.mp4")
        (root / f"c{i}.txt").write_text(f"clip {i}")
    return root


def test_caption_with_invalid_utf8_is_skipped_and_counted(folder):
    (folder / "c1.txt").write_bytes(b"a red \xff\xfe circle")
    before = snapshot(folder)
    with pytest.warns(RuntimeWarning, match=r"skipping .*c1.mp4: caption file .*c1.txt is not UTF-8 text"):
        ds = VideoFolderDataset(folder, num_frames=5, height=32, width=32)
    assert len(ds) == 2 and [ds[i]["caption"] for i in range(2)] == ["clip 0", "clip 2"]
    r = ds.report()
    assert r["total"] == 3 and r["skipped"] == 1 and "not UTF-8" in r["skipped_files"][str(folder / "c1.mp4")]
    assert "2 of 3 videos usable, 1 skipped" in ds.summary()
    assert not changed(before, folder)


def test_every_caption_unreadable_is_one_clear_error(folder):
    for i in range(3):
        (folder / f"c{i}.txt").write_bytes(b"\xff")
    with pytest.warns(RuntimeWarning), pytest.raises(ValueError, match="none of the 3 videos .* is usable"):
        VideoFolderDataset(folder, num_frames=5, height=32, width=32)


@pytest.mark.parametrize("name", ["index.jsonl", "index.csv"])
def test_index_file_with_invalid_utf8_names_the_file(folder, name):
    index = folder / name
    index.write_bytes(b'{"path": "c0.mp4", "caption": "caf\xe9"}\n' if name.endswith("jsonl")
                      else b"path,caption\nc0.mp4,caf\xe9\n")
    with pytest.raises(ValueError, match=rf"{index}: not UTF-8 text"):
        VideoFolderDataset(index, num_frames=5, height=32, width=32)


def test_damaged_video_in_a_dataset_is_kept_and_counted(folder):
    damaged_video(folder / "c1.mp4")
    ds = VideoFolderDataset(folder, num_frames=17, height=32, width=32, clip_start="start")
    with pytest.warns(RuntimeWarning, match=r"c1.mp4: the decoder reported"):
        item = ds[1]
    assert item["path"] == str(folder / "c1.mp4") and tuple(item["video"].shape) == (3, 17, 32, 32)
    assert list(ds.report()["damaged"]) == [str(folder / "c1.mp4")]
    assert "1 with decoder errors" in ds.summary()


def test_unreadable_video_in_a_dataset_is_skipped_and_counted(folder):
    (folder / "c2.mp4").write_bytes(b"junk" * 50)
    ds = VideoFolderDataset(folder, num_frames=5, height=32, width=32)
    with pytest.warns(RuntimeWarning, match="skipping unreadable video"):
        items = [ds[i]["path"] for i in range(3)]
    assert items[2] == str(folder / "c0.mp4")  # fell through to the next readable one
    assert ds.report()["skipped"] == 1


def test_cache_latents_prints_the_skip_summary(folder, tmp_path, capsys):
    from hostile import debug_model

    (folder / "c1.txt").write_bytes(b"\xff\xfe")
    model = debug_model(tmp_path / "model")
    before = snapshot(folder)
    with pytest.warns(RuntimeWarning, match="not UTF-8"):
        rc = cli_main(["cache-latents", "--vae", str(model / "vae"), "--data", str(folder), "--bucket", "5x32x32",
                       "--out", str(tmp_path / "cache"), "--batch-size", "2"])
    assert rc == 0
    out = capsys.readouterr().out
    assert f"{folder}: 2 of 3 videos usable, 1 skipped" in out and "wrote 2 clips" in out
    assert not changed(before, folder)


def test_train_vae_prints_the_skip_summary(folder, tmp_path, capsys):
    (folder / "c1.txt").write_bytes(b"\xff\xfe")
    before = snapshot(folder)
    with pytest.warns(RuntimeWarning, match="not UTF-8"):
        rc = cli_main(["train-vae", "preset=debug", f"data={folder}", "height=32", "width=32", "num_frames=5",
                       "steps=1", "batch_size=2", "crop_size=0", "crop_frames=0", "eval_every=0", "stats_clips=2",
                       "num_val_clips=1", "precision=fp32", "threads=1", f"run_dir={tmp_path / 'run'}"])
    assert rc == 0
    assert f"{folder}: 2 of 3 videos usable, 1 skipped" in capsys.readouterr().out
    assert not changed(before, folder)
