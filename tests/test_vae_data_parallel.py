"""VAE data parallelism: `train-vae` under torchrun with 2 ranks (gloo, CPU), with the harness's
`average` strategy (shared-memory gradient averaging) and with DDP, ends on the weights of a
1-process run that cuts each step's batch into the same 2 pieces (accumulation=2), within float
tolerance, image steps included."""

import os
import subprocess
import sys

import torch
from safetensors.torch import load_file

from minisora.vae.config import VAEConfig, VAETrainConfig
from minisora.vae.model import VideoVAE
from minisora.vae.train import train_vae

STEPS = 6
FLAGS = {"preset": "debug", "steps": STEPS, "batch_size": 4, "lr": 1e-3, "warmup_steps": 1, "num_train_clips": 8,
         "num_val_clips": 2, "height": 32, "width": 32, "num_frames": 5, "crop_size": 0, "crop_frames": 0,
         "image_every": 3, "eval_every": 0, "save_every": 0, "stats_clips": 4, "precision": "fp32", "threads": 1}


def _weights(run_dir) -> dict:
    return load_file(str(run_dir / "checkpoints" / f"step_{STEPS:08d}" / "model.safetensors"))


def test_two_ranks_equal_one_process(tmp_path):
    cache = tmp_path / "cache"
    one = tmp_path / "one"
    # The 1-process reference first: it renders the clip cache that the 2-rank runs then read.
    torch.manual_seed(123)  # the harness seeds itself; a different global state must not matter
    vae, hist = train_vae(VAETrainConfig(**FLAGS, accumulation=2, run_dir=str(one), data_cache=str(cache)),
                          progress=False)
    assert hist[-1]["step"] == STEPS
    procs = {}
    for strategy in ("average", "ddp"):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "minisora.cli", "train-vae", "--no-progress", "--out", str(tmp_path / strategy),
               f"data_cache={cache}", f"strategy={strategy}"] + [f"{k}={v}" for k, v in FLAGS.items()]
        procs[strategy] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                           env={**os.environ, "OMP_NUM_THREADS": "1"})
    a = _weights(one)
    torch.manual_seed(0)  # the harness's seed: the weights at step 0, so that the tolerance is not vacuous
    start = VideoVAE(VAEConfig.preset("debug")).state_dict()
    moved = max((a[k] - start[k]).abs().max().item() for k in start if k in a)
    assert moved > 1e-3, "training did not move the weights: the comparison would be vacuous"
    for strategy, proc in procs.items():
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out[-3000:]
        assert out.count('"run_dir"') == 1  # only rank 0 reports
        b = _weights(tmp_path / strategy)
        assert a.keys() == b.keys()
        for k in a:
            torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-4, msg=f"{strategy}: {k}")
