"""Distributed equivalence: 2-rank torchrun (gloo, CPU) with DDP and with FSDP2 gives the weights of
a 1-process run with the same global batch (there: 2 gradient-accumulation steps), within float
tolerance; the sharded FSDP checkpoint also reloads in one process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from minisora.train.checkpoint import load_weights_only
from minisora.train.config import load_config
from minisora.train.data import write_random_cache
from minisora.train.engine import train

STEPS = 4


def _overrides(cache: Path, run_dir: Path) -> list[str]:
    return [f"run_dir={run_dir}", "data.source=cache", f"data.cache_dir={cache}",
            "model.overrides={latent_channels: 4, text_dim: 32, text_len: 8}",
            "optim.global_batch_size=4", "optim.micro_batch_size=2", "optim.lr=1e-3",
            f"schedule.max_steps={STEPS}", "schedule.warmup_steps=1", f"checkpoint.every={STEPS}",
            "logging.every=1", "logging.progress=false", "logging.tensorboard=false", "ema.decay=0.5"]


def _torchrun(cfg_file: Path, overrides: list[str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "minisora.train", str(cfg_file), *overrides]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_ddp_and_fsdp_equal_one_process(tmp_path):
    cache = write_random_cache(tmp_path / "cache", 16, [(4, 3, 8, 8), (4, 1, 8, 12)], text_len=8, text_dim=32)
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text("{}\n")
    # both 2-rank runs start first and run side by side with the 1-process reference
    # FSDP2 runs with activation checkpointing too: the composition must not change the result
    extra = {"ddp": [], "fsdp": ["parallel.activation_checkpointing=true"]}
    procs = {s: _torchrun(cfg_file, _overrides(cache, tmp_path / s) + [f"parallel.strategy={s}", *extra[s]])
             for s in ("ddp", "fsdp")}
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ref = train(load_config(None, _overrides(cache, tmp_path / "single")))
    finally:
        torch.set_num_threads(n)
    assert ref["grad_accum"] == 2 and ref["world_size"] == 1
    from minisora.dit.model import DiT
    from minisora.train.config import dit_config

    torch.manual_seed(0)  # the weights at step 0, so that the tolerance is not vacuous
    start = DiT(dit_config(load_config(None, _overrides(cache, tmp_path)).model)).state_dict()
    for strategy, proc in procs.items():
        try:
            out, _ = proc.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"{strategy}: torchrun timed out")
        assert proc.returncode == 0, f"{strategy} run failed:\n{out[-3000:]}"
        ckpt = tmp_path / strategy / "checkpoints" / f"step_{STEPS:08d}"
        assert (ckpt / "sharded").is_dir() == (strategy == "fsdp")
        for slot in ("model", "ema"):
            a, _ = load_weights_only(ref["checkpoint"], slot)
            b, _ = load_weights_only(ckpt, slot)
            assert a.keys() == b.keys()
            for k in a:
                torch.testing.assert_close(b[k], a[k], rtol=1e-5, atol=1e-6, msg=f"{strategy} {slot} {k}")
        moved = max((a[k] - start[k]).abs().max().item() for k in start)
        assert moved > 1e-3, "training did not move the weights: the comparison would be vacuous"
        if strategy == "fsdp":
            _continue_from_sharded(tmp_path, cache, ckpt, Path(ref["checkpoint"]))


def _continue_from_sharded(tmp_path, cache, sharded_ckpt: Path, single_ckpt: Path):
    """A sharded (FSDP) checkpoint resumes in one process exactly like the 1-process checkpoint:
    every slot (weights, EMA, AdamW moments, schedule, data position) came back."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = {}
        for name, src in (("from_sharded", sharded_ckpt), ("from_single", single_ckpt)):
            out[name] = train(load_config(None, _overrides(cache, tmp_path / name) + [
                f"checkpoint.resume={src}", f"schedule.max_steps={STEPS + 1}"]))
    finally:
        torch.set_num_threads(n)
    assert out["from_sharded"]["steps_this_run"] == 1
    a, _ = load_weights_only(out["from_single"]["checkpoint"], "model")
    b, _ = load_weights_only(out["from_sharded"]["checkpoint"], "model")
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-5, atol=1e-6, msg=f"resumed from sharded: {k}")
