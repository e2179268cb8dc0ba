"""Exact resume: a run killed with SIGKILL at a random step and resumed from its last checkpoint
produces, from there on, the very same losses (bit for bit) and weights as an uninterrupted run."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from minisora.train.config import load_config
from minisora.train.data import write_random_cache
from minisora.train.engine import train

MAX_STEPS = 12


def _overrides(cache: Path, run_dir: Path) -> list[str]:
    return [f"run_dir={run_dir}", "data.source=cache", f"data.cache_dir={cache}",
            "model.overrides={latent_channels: 4, text_dim: 32, text_len: 8}",
            "optim.global_batch_size=4", "optim.micro_batch_size=2",  # 2 accumulation steps
            f"schedule.max_steps={MAX_STEPS}", "schedule.warmup_steps=3", "checkpoint.every=2",
            "checkpoint.keep_last=2", "logging.every=1", "logging.progress=false", "logging.tensorboard=false",
            "flow.text_drop_prob=0.3", "precision=bf16"]


def _losses(run_dir: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _last_step(run_dir: Path) -> int:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return 0
    lines = [ln for ln in path.read_text().splitlines() if ln.endswith("}")]
    return json.loads(lines[-1])["step"] if lines else 0


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny models run fastest on one thread, and the cores are often shared; the subprocess gets
    # the same count (OMP_NUM_THREADS) so every step runs the same kernels as in the reference.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_sigkill_then_resume_is_bit_exact(tmp_path):
    cache = write_random_cache(tmp_path / "cache", 24, [(4, 3, 8, 8), (4, 1, 8, 12)], text_len=8, text_dim=32)
    ref_dir, run_dir = tmp_path / "reference", tmp_path / "killed"
    ref = train(load_config(None, _overrides(cache, ref_dir)))
    assert ref["steps"] == MAX_STEPS

    kill_at = random.randint(3, MAX_STEPS - 3)
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text("{}\n")
    proc = subprocess.Popen([sys.executable, "-m", "minisora.train", str(cfg_file), *_overrides(cache, run_dir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while _last_step(run_dir) < kill_at and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed_at = _last_step(run_dir)
    assert proc.returncode == -signal.SIGKILL, f"the run ended on its own (rc {proc.returncode}) before the kill"
    assert killed_at < MAX_STEPS, f"killed too late to test anything (step {killed_at})"

    resumed = train(load_config(None, _overrides(cache, run_dir)))
    assert resumed["resumed_from"] is not None, f"no checkpoint to resume from (killed at step {killed_at})"
    start = int(Path(resumed["resumed_from"]).name.split("_")[1])
    assert start <= killed_at and resumed["steps_this_run"] == MAX_STEPS - start
    # every loss, before and after the kill, equals the uninterrupted run's exactly
    assert _losses(run_dir) == _losses(ref_dir), f"killed at step {killed_at}, resumed from {start}"
    for slot in ("model", "ema", "optimizer"):
        a = load_file(Path(ref["checkpoint"]) / f"{slot}.safetensors")
        b = load_file(Path(resumed["checkpoint"]) / f"{slot}.safetensors")
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), f"{slot} differs after resume (killed at {killed_at})"
    # no half-written checkpoint survives, and only the last 2 are kept
    names = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert names == [f"step_{MAX_STEPS - 2:08d}", f"step_{MAX_STEPS:08d}"], names
