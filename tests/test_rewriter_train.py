"""`minisora train-rewriter` really trains: the loss falls and the released folder loads and rewrites."""

from __future__ import annotations

import json

from minisora.text.config import RewriterTrainConfig
from minisora.text.backends import load_rewriter
from minisora.world.rules import check_caption
from minisora.text.train import train_rewriter
from minisora.world.grammar import parse


def test_train_release_load_rewrite(tmp_path):
    cfg = RewriterTrainConfig.preset_named("debug").with_(num_pairs=600, val_pairs=64, steps=60, batch_size=32,
                                                          eval_every=30, heldout_check=4)
    out = tmp_path / "rewriter"
    result = train_rewriter(cfg, out_dir=out, progress=False)
    hist = result["metrics"]["history"]
    assert hist[-1]["val_loss"] < hist[0]["val_loss"] - 0.3  # it learns
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "minisora-rewriter" and config["train"]["steps"] == 60
    assert (out / "model.safetensors").stat().st_size < 1_000_000
    rw = load_rewriter("builtin", out, max_tries=1, candidates=2)
    r = rw.rewrite("a small red star moving up", seed=0)
    assert r.path in ("builtin", "rule-based")
    assert check_caption(parse("a small red star moving up"), r.caption).ok  # kept, whichever path
