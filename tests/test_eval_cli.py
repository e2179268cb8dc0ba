"""`minisora eval` on a debug model: runs end to end, writes the report and the sheet, and fails
(exit 1) when the quality bars are missed, as an untrained model must."""

from __future__ import annotations

import json

import numpy as np
import torch

from minisora.cli import main as cli_main
from minisora.dit.config import DiTConfig
from minisora.dit.model import DiT
from minisora.eval.eval_cli import by_object_count, pooled_table, seam_ratio
from minisora.pipeline import ModelIndex, Pipeline
from minisora.vae.config import VAEConfig
from minisora.vae.model import VideoVAE


def test_eval_untrained_model_misses_bars(tmp_path, capsys):
    torch.manual_seed(0)
    vae = VideoVAE(VAEConfig.preset("debug"))
    dit = DiT(DiTConfig.preset("debug", latent_channels=vae.latent_channels))
    model = Pipeline(vae=vae, transformer=dit, index=ModelIndex(name="debug")).save_pretrained(tmp_path / "m")
    rc = cli_main(["eval", "--model", str(model), "--n", "3", "--tasks", "1", "--steps", "1", "--no-rewrite",
                   "--out-dir", str(tmp_path / "ev"), "--quiet"])
    assert rc == 1
    out = capsys.readouterr().out
    assert "color" in out and "MISSED" in out
    report = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert report["n"] == 3 and len(report["samples"]) == 3 and report["deterministic"] is True
    assert report["missed"] and report["tasks"]["i2v_psnr_frame0"] is not None
    assert (tmp_path / "ev" / "samples.png").stat().st_size > 0
    assert report["unmapped_words"] == {} and all(s["unmapped"] == [] for s in report["samples"])


def test_unmapped_words_are_counted_over_the_samples():
    from collections import Counter

    from minisora.eval.eval_cli import unmapped_words

    samples = [{"unmapped": ["zorblax", "glim"]}, {"unmapped": ["zorblax"]}, {"unmapped": []}]
    assert unmapped_words(samples) == Counter(zorblax=2, glim=1)


def test_seam_ratio_and_pooling():
    ramp = np.stack([np.full((8, 8, 3), 10 * i, np.uint8) for i in range(10)])  # steady change of 10
    assert seam_ratio(ramp[:5], ramp[5:]) == 1.0
    jump = ramp[5:].copy()
    jump[:] += 40
    assert seam_ratio(ramp[:5], jump) == 5.0

    class R:
        def __init__(self, checks, flicker):
            self.checks, self.flicker, self.accuracy = checks, flicker, float(np.mean(list(checks.values())))

    t = pooled_table([R({"obj0.color": True, "obj1.color": False, "count": True}, 0.9),
                      R({"obj0.color": True}, 1.0)])
    assert t["color"]["score"] == 2 / 3 and t["color"]["stated"] == 3 and t["count"]["score"] == 1.0
    assert abs(t["flicker"]["score"] - 0.95) < 1e-9


def test_by_object_count_splits_per_object_attributes():
    class R:
        def __init__(self, checks):
            self.checks = checks

    t = by_object_count([R({"obj0.motion": True, "obj0.color": True, "count": True}),
                         R({"obj0.motion": False, "obj1.motion": True, "obj1.color": False}),
                         R({"obj0.motion": False, "obj1.motion": False})])
    assert t["motion"][1] == {"passed": 1, "stated": 1, "score": 1.0}
    assert t["motion"][2] == {"passed": 1, "stated": 4, "score": 0.25}
    assert t["color"] == {1: {"passed": 1, "stated": 1, "score": 1.0}, 2: {"passed": 0, "stated": 1, "score": 0.0}}
    assert "count" not in t
