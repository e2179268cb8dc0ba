"""No command writes inside the installed package: every `minisora` command runs once at debug size
from a scratch folder, with its default output locations, and the package tree's hashes are compared
before and after (Python's own byte-code caches aside). Trainers default to `runs/`, generation to
`outputs/`, all relative to the working folder."""

from __future__ import annotations

import numpy as np
import pytest

from hostile import PACKAGE_DIR, debug_model, snapshot
from minisora.cli import COMMANDS
from minisora.cli import main as cli_main
from minisora.io import export_to_video

# command -> arguments, at the smallest size each accepts; "{model}" is a debug pipeline folder,
# "{clip}" a 5-frame 32x32 mp4, "{cache}" a random latent cache. None: not run here, with the reason.
RUNS: dict[str, list[str] | str] = {
    "synth": ["--out", "synth", "--n", "2", "--frames", "5", "--size", "32x32"],
    "train-vae": ["preset=debug", "steps=1", "batch_size=1", "height=32", "width=32", "num_frames=5",
                  "crop_size=16", "crop_frames=5", "num_train_clips=2", "num_val_clips=1", "stats_clips=2",
                  "eval_every=1", "save_every=1", "log_every=1", "--no-progress"],
    "train": ["data.source=cache", "data.cache_dir={cache}", "model.overrides={latent_channels: 4, text_dim: 32, text_len: 8}",
              "optim.global_batch_size=2", "optim.micro_batch_size=2", "schedule.max_steps=1",
              "schedule.warmup_steps=1", "checkpoint.every=1", "logging.progress=false", "logging.tensorboard=false"],
    "cache-latents": ["--vae", "{model}/vae", "--data", "synthetic", "--num-samples", "2", "--bucket", "5x32x32",
                      "--out", "cache-out", "--batch-size", "2"],
    "train-rewriter": ["num_pairs=64", "val_pairs=8", "batch_size=8", "heldout_check=4", "--preset", "debug",
                       "--steps", "1", "--no-progress"],
    "rewrite": ["a red ball going left"],
    "generate": ["a red circle", "--model", "{model}", "--steps", "1", "--frames", "1", "--quiet"],
    "eval": ["--model", "{model}", "--n", "1", "--steps", "1", "--tasks", "0", "--quiet", "--workers", "1"],
    "train-upscaler": ["preset=debug", "batch_size=2", "pool_size=4", "val_clips=1", "sizes=[[32, 32]]",
                       "num_frames=5", "crop=16", "--steps", "1", "--no-progress"],
    "upscale": ["{clip}", "-o", "up.mp4", "--model", "{model}/upscaler", "--steps", "1", "--quiet"],
    "export": "needs a trained transformer run; its output folder is required (--out) and must not exist",
    "recipe": "runs whole training stages (minutes even with --smoke); writes into its run folder",
    "serve": "a long-running server; its --data folder defaults to ./serve-data",
    "convert": "needs a Wan2.1 folder in the diffusers layout; its --out is required",
    "scale": "a whole scaling study (a grid of training runs) into its config's work_dir",
}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    from minisora.train.data import write_random_cache

    root = tmp_path_factory.mktemp("untouched")
    model = debug_model(root / "model")
    clip = export_to_video(np.zeros((5, 32, 32, 3), np.uint8), root / "clip.mp4")
    cache = write_random_cache(root / "cache", 4, [(4, 3, 8, 8)], text_len=8, text_dim=32)
    return {"model": str(model), "clip": str(clip), "cache": str(cache)}


def test_every_command_is_listed():
    assert set(RUNS) == set(COMMANDS)


@pytest.mark.parametrize("command", [c for c, a in RUNS.items() if isinstance(a, list)])
def test_command_leaves_the_package_untouched(command, workspace, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = RUNS[command]
    for key, value in workspace.items():
        args = [a.replace("{" + key + "}", value) for a in args]
    before = snapshot(PACKAGE_DIR)
    rc = cli_main([command, *args])
    after = snapshot(PACKAGE_DIR)
    touched = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert touched == [], f"`minisora {command}` wrote inside the package: {touched}"
    assert rc == (1 if command == "eval" else 0)  # eval exits 1 when an (untrained) model misses its bars
