"""A smoke scaling study end to end (cache, sweep, runs, evaluation, fits, plots, Sora figure), its FLOP
budgets measured by torch's FLOP counter, and a study interrupted mid-run that resumes to the same summary."""

import json
import os
import shutil
import signal
from pathlib import Path

import pytest
import torch

from minisora.scale import grid as G
from minisora.scale.config import load_config
from minisora.scale.report import comparable
from minisora.scale.study import run_study
from minisora.train.harness import Interrupted

# Smaller than configs/scaling-smoke.yaml so the two studies below take well under a minute each.
TINY = ["grid.base_samples=4", "grid.lr_sweep=[0.003]", "grid.multipliers=[1, 4, 32]", "eval.prompts=3",
        "eval.loss_clips=2", "eval.bootstrap=20", "figure.prompts=2", "recipe.checkpoint_every=8"]


def tiny_config(root, extra=()):
    return load_config("configs/scaling-smoke.yaml", TINY + [f"out_dir={root}/out", f"work_dir={root}/work", *extra])


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    cfg = tiny_config(root)
    return cfg, run_study(cfg, log=lambda msg: None)


def measured_step_flops(cfg, size: str, latent) -> int:
    """FLOPs of one real training step (forward + backward of the flow loss), by torch's counter."""
    from torch.utils.flop_counter import FlopCounterMode

    from minisora.dit.config import DiTConfig
    from minisora.dit.model import DiT
    from minisora.flow.training import FlowTrainConfig, flow_matching_loss

    spec = next(s for s in cfg.grid.sizes if s.name == size)
    net = DiT(DiTConfig.preset("debug", **G.dit_overrides(spec)))
    B, L = cfg.recipe.global_batch_size, net.config.text_len
    g = torch.Generator().manual_seed(0)
    with FlopCounterMode(display=False) as counter:
        loss, _ = flow_matching_loss(net, torch.randn(B, *latent), torch.randn(B, L, net.config.text_dim),
                                     torch.ones(B, L, dtype=torch.bool), torch.randn(B, net.config.text_dim),
                                     FlowTrainConfig(), g)
        loss.backward()
    return counter.get_total_flops()


def test_smoke_study_runs_end_to_end(finished):
    cfg, summary = finished
    out = os.fspath(cfg.out_dir)
    for name in ("summary.json", "loss_vs_flops.png", "judge_vs_flops.png", "sora_figure.png", "sora_figure.gif"):
        assert os.path.getsize(os.path.join(out, name)) > 100, name
    runs = os.listdir(os.path.join(out, "runs"))
    assert len(runs) == len(cfg.grid.sizes) * len(cfg.grid.multipliers) * len(cfg.grid.seeds)
    table = summary["table"]
    assert set(table) == {s.name for s in cfg.grid.sizes}
    for row in table.values():
        assert [float(k) for k in row] == cfg.grid.multipliers
        for cell in row.values():
            assert len(cell["heldout_loss_per_seed"]) == 2 and cell["judge_mean"] is not None
    assert set(summary["bars"]) >= {"loss_decreases_per_size", "loss_decreases_on_frontier",
                                    "judge_grows_beyond_interval", "exponent_intervals", "n_opt_grows_with_budget"}
    assert summary["figure"]["size"] == "d64" and len(summary["figure"]["runs"]) == 3
    assert json.loads(open(os.path.join(out, "summary.json")).read())["lr_sweep"]["d32"] == {"0.003": pytest.approx(
        table["d32"]["1"]["heldout_loss_per_seed"][0])}


def test_every_budget_is_honoured_within_5_percent(finished):
    cfg, summary = finished
    latent = summary["clip"]["latent"]
    measured = {s.name: measured_step_flops(cfg, s.name, latent) for s in cfg.grid.sizes}
    for name in os.listdir(os.path.join(cfg.out_dir, "runs")):
        r = json.loads(open(os.path.join(cfg.out_dir, "runs", name)).read())
        assert abs(r["flops"] / r["budget_flops"] - 1) <= 0.05
        assert abs(r["steps"] * measured[r["size"]] / r["budget_flops"] - 1) <= 0.05, r["run_id"]
        assert r["samples"] == r["steps"] * cfg.recipe.global_batch_size


def test_interrupted_study_resumes_to_the_same_summary(finished, tmp_path, monkeypatch):
    cfg_a, summary_a = finished
    cfg = tiny_config(tmp_path)
    cache = next(Path(cfg_a.work_dir).glob("cache_*"))  # the same clips: no need to encode them again
    shutil.copytree(cache, Path(cfg.work_dir) / cache.name)
    # Runs finished in an earlier call of the study: the smallest size's and the sweep's (copied, to
    # keep the test short); the study must skip them and train the rest.
    (Path(cfg.out_dir) / "runs").mkdir(parents=True)
    for f in (Path(cfg_a.out_dir) / "runs").glob("*.json"):
        if f.name.startswith("d32_") or "_x1_2st_s0_" in f.name:
            shutil.copy(f, Path(cfg.out_dir) / "runs" / f.name)
    target = "d48_x32_64st_s0"
    from minisora.train import monitor

    real = monitor.Monitor.progress

    def interrupt(self, step, loss):  # SIGINT in the middle of one run, as a user's Ctrl-C would
        real(self, step, loss)
        if target in str(self.run_dir) and step == 10:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(monitor.Monitor, "progress", interrupt)
    with pytest.raises(Interrupted):
        run_study(cfg, log=lambda msg: None)  # Ctrl-C during the target run
    monkeypatch.setattr(monitor.Monitor, "progress", real)
    done_before = set(os.listdir(os.path.join(cfg.out_dir, "runs")))
    assert done_before and not any(target in n for n in done_before)

    from minisora.scale.study import Study

    study = Study(cfg, log=lambda msg: None)
    summary_b = study.run()
    assert {f"{s}.json" for s in study.skipped} == done_before
    resumed = json.loads(open(os.path.join(cfg.out_dir, "runs", f"{target}_lr0.003.json")).read())
    assert resumed["resumed_from"].endswith("step_00000010")
    assert comparable(summary_b) == comparable(summary_a)


def test_split_study_gives_the_same_summary(finished, tmp_path):
    """`--jobs 2`: two worker processes share the sizes; the summary equals the one-process study's."""
    from minisora.cli import main as cli_main
    from minisora.scale.parallel import size_costs, split_sizes

    cfg_a, summary_a = finished
    root = tmp_path
    overrides = TINY + [f"out_dir={root}/out", f"work_dir={root}/work"]
    cfg = tiny_config(root)
    cache = next(Path(cfg_a.work_dir).glob("cache_*"))
    shutil.copytree(cache, Path(cfg.work_dir) / cache.name)
    shares = split_sizes(size_costs(cfg, G.size_facts(cfg, G.latent_shape(cfg))), 2)
    assert sorted(n for share in shares for n in share) == ["d32", "d48", "d64"] and all(shares)
    assert cli_main(["scale", "configs/scaling-smoke.yaml", *overrides, "--jobs", "2"]) == 0
    logs = sorted((Path(cfg.work_dir) / "jobs").glob("job*.log"))
    assert len(logs) == 2 and all("are done" in f.read_text() for f in logs)
    summary_b = json.loads((Path(cfg.out_dir) / "summary.json").read_text())
    # the final call trains nothing: every run is found finished (each sweep winner twice: sweep, grid)
    runs = len(list((Path(cfg.out_dir) / "runs").glob("*.json")))
    assert summary_b["timing"]["skipped_runs"] == runs + len(cfg.grid.sizes)
    assert comparable(summary_b) == comparable(json.loads(json.dumps(summary_a)))


def test_split_sizes_balances_the_cost():
    from minisora.scale.parallel import split_sizes

    costs = {"a": 10.0, "b": 6.0, "c": 5.0, "d": 1.0}
    assert split_sizes(costs, 2) == [["a", "d"], ["b", "c"]]
    assert split_sizes(costs, 9) == [["a"], ["b"], ["c"], ["d"]]  # never an empty worker
    cfg = load_config("configs/scaling-cpu.yaml")
    from minisora.scale.parallel import size_costs

    c = size_costs(cfg, G.size_facts(cfg, (16, 5, 8, 8)))
    assert list(c) == [s.name for s in cfg.grid.sizes] and sorted(c.values()) == list(c.values())
    from minisora.config import ConfigError

    with pytest.raises(ConfigError, match=r"grid.only names \['w1'\].*choose from w96d3"):
        load_config("configs/scaling-cpu.yaml", ["grid.only=[w1]"])
