"""The training harness serves all four trainers alike: a run killed with SIGKILL mid-training and
resumed from its last checkpoint ends on bit-identical weights (model, EMA, optimizer) to an
uninterrupted run; SIGTERM writes a checkpoint at the next step boundary and exits with a message,
and the resumed run again equals the uninterrupted one bit for bit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from minisora.train import checkpoint as ckpt
from minisora.train.cli import INTERRUPTED_EXIT

STEPS = 10
# each trainer at debug size: (command, key=value settings, in-process function running the same config)
TRAINERS = {
    "train-vae": ["preset=debug", "num_train_clips=4", "num_val_clips=1", "height=16", "width=16", "num_frames=5",
                  "batch_size=2", "crop_size=0", "crop_frames=0", "image_every=3", "eval_every=0", "stats_clips=2",
                  "ema_decay=0.9", "warmup_steps=2", "lr=2e-3", "precision=fp32"],
    "train-upscaler": ["preset=debug", "sizes=[[16, 16]]", "num_frames=5", "pool_size=4", "crop=0", "val_clips=0",
                       "batch_size=2", "ema_decay=0.9", "ema_start=2", "warmup_steps=2", "lr=3e-3", "precision=fp32"],
    "train-rewriter": ["preset=debug", "num_pairs=200", "val_pairs=16", "num_merges=30", "heldout_check=0",
                       "batch_size=16", "eval_every=0", "warmup_steps=2", "precision=fp32"],
}


def _settings(name: str, run_dir: Path) -> list[str]:
    return [*TRAINERS[name], f"steps={STEPS}", "save_every=1", "log_every=1", "threads=1", "keep_last=3",
            f"run_dir={run_dir}"]


def _run_in_process(name: str, settings: list[str]) -> dict:
    """The same config the CLI builds, trained in this process."""
    from minisora.config import apply_overrides

    if name == "train-vae":
        from minisora.vae.config import VAETrainConfig
        from minisora.vae.train import train_vae

        train_vae(apply_overrides(VAETrainConfig(), settings), progress=False)
    elif name == "train-upscaler":
        from minisora.upscale.config import UpscaleTrainConfig
        from minisora.upscale.train import train_upscaler

        train_upscaler(apply_overrides(UpscaleTrainConfig(), settings), progress=False)
    else:
        from minisora.text.config import RewriterTrainConfig
        from minisora.text.train import train_rewriter

        train_rewriter(apply_overrides(RewriterTrainConfig(), settings), progress=False)


def _cli(name: str, settings: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "minisora.cli", name, "--no-progress", *settings],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def _last_step(run_dir: Path) -> int:
    path = run_dir / "metrics.jsonl"
    lines = [ln for ln in path.read_text().splitlines() if ln.endswith("}")] if path.exists() else []
    return json.loads(lines[-1])["step"] if lines else 0


def _wait_for_step(proc: subprocess.Popen, run_dir: Path, step: int) -> None:
    deadline = time.monotonic() + 120
    while _last_step(run_dir) < step and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)


def _assert_same_final_weights(a_dir: Path, b_dir: Path) -> None:
    a, b = ckpt.latest_checkpoint(a_dir / "checkpoints"), ckpt.latest_checkpoint(b_dir / "checkpoints")
    assert a.name == b.name == f"step_{STEPS:08d}"
    slots = sorted(p.name for p in a.glob("*.safetensors") if not p.name.startswith("rng"))
    assert "model.safetensors" in slots and "optimizer.safetensors" in slots
    for slot in slots:
        x, y = load_file(a / slot), load_file(b / slot)
        assert x.keys() == y.keys()
        assert all(torch.equal(x[k], y[k]) for k in x), f"{slot} differs after resume"


@pytest.fixture(scope="module")
def references(tmp_path_factory) -> dict[str, Path]:
    """Each trainer's uninterrupted run."""
    root = tmp_path_factory.mktemp("reference")
    for name in TRAINERS:
        _run_in_process(name, _settings(name, root / name))
    return {name: root / name for name in TRAINERS}


@pytest.mark.parametrize("name", list(TRAINERS))
def test_sigkill_then_resume_is_bit_exact(name, references, tmp_path):
    run_dir = tmp_path / "killed"
    proc = _cli(name, _settings(name, run_dir))
    _wait_for_step(proc, run_dir, 3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed_at = _last_step(run_dir)
    assert proc.returncode == -signal.SIGKILL, f"the run ended on its own (rc {proc.returncode}) before the kill"
    assert 0 < killed_at < STEPS, f"killed at step {killed_at}: too early or too late to test anything"
    _run_in_process(name, _settings(name, run_dir))
    _assert_same_final_weights(references[name], run_dir)


def test_sigterm_writes_a_checkpoint_and_the_resumed_run_is_bit_exact(references, tmp_path, capsys):
    name = "train-rewriter"
    run_dir = tmp_path / "stopped"
    settings = [s for s in _settings(name, run_dir) if not s.startswith("save_every")] + ["save_every=0"]
    proc = _cli(name, settings)  # no periodic checkpoints: only the signal's
    _wait_for_step(proc, run_dir, 3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == INTERRUPTED_EXIT, err[-2000:]
    saved = ckpt.list_checkpoints(run_dir / "checkpoints")
    assert len(saved) == 1 and 3 <= int(saved[0].name[5:]) < STEPS, saved
    stopped_at = int(saved[0].name[5:])
    assert f"stopped by SIGTERM after step {stopped_at}; checkpoint written to {saved[0]}" in err
    from minisora.cli import main

    assert main([name, "--no-progress", *settings]) == 0
    assert f"resumed from {saved[0]} at step {stopped_at}" in capsys.readouterr().out
    _assert_same_final_weights(references[name], run_dir)


def test_a_changed_config_is_refused_naming_the_keys(references, capsys):
    from minisora.cli import main

    name = "train-rewriter"
    code = main([name, "--no-progress", *_settings(name, references[name]), "lr=1e-3", "batch_size=8", "steps=12"])
    err = capsys.readouterr().err
    assert code == 1
    assert "batch_size: checkpoint 16, config 8; lr: checkpoint 0.003, config 0.001" in err and "--allow-changed" in err
    assert ckpt.latest_checkpoint(references[name] / "checkpoints").name == f"step_{STEPS:08d}"  # nothing trained


@pytest.mark.parametrize("name,key", [("train-rewriter", "run_dir"), ("train-vae", "release_dir"),
                                      ("train-upscaler", "run_dir")])
def test_no_trainer_writes_inside_the_package(name, key, tmp_path, capsys):
    from minisora.cli import main
    from minisora.train.harness import PACKAGE_DIR

    target = PACKAGE_DIR / "assets" / "minisora-tiny" / "rewriter"
    before = sorted((p.name, p.stat().st_mtime_ns) for p in target.iterdir())
    settings = [s for s in _settings(name, tmp_path / "run") if not s.startswith(key)] + [f"{key}={target}"]
    assert main([name, "--no-progress", *settings]) == 1
    err = capsys.readouterr().err
    assert f"='{target}" in err and "lies inside the installed minisora package" in err, err
    assert sorted((p.name, p.stat().st_mtime_ns) for p in target.iterdir()) == before
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_time_budget_ends_the_run_with_a_final_checkpoint(tmp_path):
    from minisora.config import apply_overrides
    from minisora.text.config import RewriterTrainConfig
    from minisora.text.train import train_rewriter

    cfg = apply_overrides(RewriterTrainConfig(), _settings("train-rewriter", tmp_path / "run")
                          + ["steps=100000", "minutes=0.0001", "save_every=0"])
    summary = train_rewriter(cfg, progress=False)
    assert 1 <= summary["steps"] < 100000
    assert summary["stopped"] == f"time budget of 0.0001 min reached at step {summary['steps']}"
    assert ckpt.latest_checkpoint(tmp_path / "run" / "checkpoints").name == f"step_{summary['steps']:08d}"
    assert (tmp_path / "run" / "release" / "model.safetensors").is_file()
