"""Hostile inputs against training checkpoints: truncated and damaged slots, a damaged state.json, a
changed config on resume. Each case asserts the specific error naming the file or key, and that the
run folder is left as it was."""

from __future__ import annotations

import shutil

import pytest

from hostile import bundled_models_unchanged, changed, snapshot  # noqa: F401 (fixture)
from minisora.train import checkpoint as ckpt
from minisora.train.config import load_config
from minisora.train.data import write_random_cache
from minisora.train.engine import train
from minisora.train.export import export_release
from minisora.weights import WeightsError


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile-ckpt")
    cache = write_random_cache(tmp / "cache", 4, [(4, 3, 8, 8)], text_len=8, text_dim=32)
    base = ["data.source=cache", f"data.cache_dir={cache}",
            "model.overrides={latent_channels: 4, text_dim: 32, text_len: 8}", "optim.global_batch_size=2",
            "optim.micro_batch_size=2", "schedule.max_steps=2", "schedule.warmup_steps=1", "checkpoint.every=1",
            "checkpoint.keep_last=1", "logging.progress=false", "logging.tensorboard=false"]
    train(load_config(None, base + [f"run_dir={tmp / 'run'}"]))
    return tmp / "run", base


@pytest.fixture
def run(trained, tmp_path):
    """A private copy of the finished run, and the settings that resume it for one more step."""
    src, base = trained
    dst = shutil.copytree(src, tmp_path / "run")
    return dst, base + [f"run_dir={dst}", "schedule.max_steps=3"]


def _latest(run_dir):
    found = [p for p in run_dir.rglob("state.json")]
    assert found, "the run wrote no checkpoint"
    return max(found).parent


@pytest.mark.parametrize("slot", ["model.safetensors", "optimizer.safetensors"])
def test_resume_from_truncated_slot_names_the_file(run, slot):
    run_dir, settings = run
    path = _latest(run_dir) / slot
    path.write_bytes(path.read_bytes()[:100])
    before = snapshot(run_dir)
    with pytest.raises(WeightsError, match=rf"{path} is not a readable safetensors file"):
        train(load_config(None, settings))
    assert not changed(before, run_dir)


def test_resume_from_damaged_state_json_names_the_file(run):
    run_dir, settings = run
    state = _latest(run_dir) / "state.json"
    state.write_text(state.read_text()[:40])
    with pytest.raises(ckpt.CheckpointError, match=rf"{state} is damaged \(not valid JSON"):
        train(load_config(None, settings))


def test_resume_with_changed_learning_rate_is_refused_naming_the_key(run):
    run_dir, settings = run
    before = snapshot(run_dir)
    with pytest.raises(ckpt.CheckpointError, match=r"optim\.lr: checkpoint 0\.0003, config 0\.001"):
        train(load_config(None, settings + ["optim.lr=1e-3"]))
    assert not changed(before, run_dir)


def test_export_from_truncated_checkpoint_names_the_file(run, tmp_path):
    run_dir, _ = run
    latest = _latest(run_dir)
    slot = "ema.safetensors" if (latest / "ema.safetensors").is_file() else "model.safetensors"
    (latest / slot).write_bytes(b"\0" * 8)
    with pytest.raises(WeightsError, match=rf"{latest / slot} is not a readable safetensors file"):
        export_release(latest, tmp_path / "release")
    assert not (tmp_path / "release").exists()


def test_checkpoint_without_state_is_not_a_checkpoint(tmp_path):
    (tmp_path / "step_00000001").mkdir()
    with pytest.raises(ckpt.CheckpointError, match="is not a training checkpoint: state.json is missing"):
        ckpt.read_state(tmp_path / "step_00000001")
