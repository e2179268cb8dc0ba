"""VAE data parallelism: `train-vae` under torchrun with 2 ranks (gloo, CPU) ends on the weights of a
1-process run with the same global batch, within float tolerance, image steps included."""

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


def test_two_ranks_equal_one_process(tmp_path):
    cache = tmp_path / "cache"
    one = tmp_path / "one"
    # The 1-process reference first: it renders the clip cache that the 2-rank run then reads.
    torch.manual_seed(123)  # train_vae seeds itself; a different global state must not matter
    vae, hist = train_vae(VAETrainConfig(**FLAGS, out=str(one), data_cache=str(cache)), progress=False)
    assert hist[-1]["step"] == STEPS
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "minisora.cli", "train-vae", "--no-progress", "--out", str(tmp_path / "two"),
           "--data-cache", str(cache)] + [a for k, v in FLAGS.items() for a in ("--set", f"{k}={v}")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stdout.count("done:") == 1  # only rank 0 reports

    a = load_file(str(one / "checkpoint" / "model.safetensors"))
    b = load_file(str(tmp_path / "two" / "checkpoint" / "model.safetensors"))
    assert a.keys() == b.keys()
    torch.manual_seed(0)  # train_vae's seed: the weights at step 0, so that the tolerance is not vacuous
    start = VideoVAE(VAEConfig.preset("debug")).state_dict()
    moved = max((a[k] - start[k]).abs().max().item() for k in start if k in a)
    assert moved > 1e-3, "training did not move the weights: the comparison would be vacuous"
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-4, msg=k)
