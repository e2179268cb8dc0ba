"""`minisora eval` on a debug model: runs end to end, writes the report and the sheet, and fails
(exit 1) when the quality bars are missed, as an untrained model must."""

from __future__ import annotations

import json

import numpy as np
import torch

from minisora.cli import main as cli_main
from minisora.dit.config import DiTConfig
from minisora.dit.model import DiT
from minisora.eval.eval_cli import by_object_count, by_window, pooled_table, seam_ratio
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


def test_a_clip_longer_than_the_window_is_judged_whole_and_per_window(tmp_path, capsys):
    torch.manual_seed(0)
    vae = VideoVAE(VAEConfig.preset("debug"))
    dit = DiT(DiTConfig.preset("debug", latent_channels=vae.latent_channels))
    index = ModelIndex(name="debug")
    index.defaults.window_frames = 9  # windows of 9 frames, 4 new each: 17 = 9 + 4 + 4
    model = Pipeline(vae=vae, transformer=dit, index=index).save_pretrained(tmp_path / "m")
    rc = cli_main(["eval", "--model", str(model), "--n", "2", "--tasks", "0", "--steps", "1", "--no-rewrite",
                   "--frames", "17", "--out-dir", str(tmp_path / "ev"), "--quiet"])
    assert rc == 1
    assert "by window (judged alone)" in capsys.readouterr().out
    report = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert [w["span"] for w in report["samples"][0]["windows"]] == [[0, 9], [4, 13], [8, 17]]
    assert set(report["by_window"]) == {"color", "shape", "motion"} and len(report["by_window"]["color"]) == 3


def test_by_window_pools_each_window_index():
    samples = [{"windows": [{"checks": {"obj0.color": True, "obj0.motion": False, "count": False}},
                            {"checks": {"obj0.color": False, "obj0.motion": True}}]},
               {"windows": [{"checks": {"obj0.color": True, "obj1.color": True}},
                            {"checks": {"obj0.color": True}}]},
               {"checks": {"obj0.color": True}}]  # a one-window clip has no "windows"
    table = by_window(samples)
    assert [r["score"] for r in table["color"]] == [1.0, 0.5]
    assert [(r["passed"], r["stated"]) for r in table["motion"]] == [(0, 1), (1, 1)]
    assert table["shape"][0]["score"] is None and "count" not in table
    assert by_window([{"checks": {}}]) == {}
