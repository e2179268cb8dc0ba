"""`minisora train-rewriter` really trains: the loss falls and the released folder loads and rewrites."""

from __future__ import annotations

import json

from minisora.text.config import RewriterTrainConfig
from minisora.text.backends import load_rewriter
from minisora.world.grammar import parse
from minisora.world.rules import check_caption
from minisora.text.train import train_rewriter

DEBUG = dict(preset="debug", num_pairs=600, val_pairs=64, steps=60, batch_size=32, warmup_steps=20, eval_every=30,
             heldout_check=4, log_every=10, precision="fp32")


def test_train_release_load_rewrite(tmp_path):
    cfg = RewriterTrainConfig(**DEBUG, run_dir=str(tmp_path / "run"))
    result = train_rewriter(cfg, progress=False)
    hist = result["metrics"]["history"]
    assert [h["step"] for h in hist] == [30, 60]
    assert hist[-1]["val_loss"] < hist[0]["val_loss"] - 0.3  # it learns
    out = tmp_path / "run" / "release"  # the default release folder: inside the run, never the package
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "minisora-rewriter" and config["train"]["steps"] == 60
    assert (out / "model.safetensors").stat().st_size < 1_000_000
    rw = load_rewriter("builtin", out, max_tries=1, candidates=2)
    r = rw.rewrite("a small red star moving up", seed=0)
    assert r.path in ("builtin", "rule-based")
    assert check_caption(parse("a small red star moving up"), r.caption).ok  # kept, whichever path
