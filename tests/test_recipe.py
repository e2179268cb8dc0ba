"""The declared recipe (minisora.recipe): the smoke variant of configs/minisora-tiny runs every stage at
debug size into a run folder, the exported model folder generates, and finished stages are skipped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minisora.config import ConfigError
from minisora.recipe import Recipe, Stage, load_recipe, stage_argv

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "configs" / "minisora-tiny" / "recipe.yaml"


def recipe(run_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "minisora.cli", "recipe", str(RECIPE), "--smoke",
                           "--run-dir", str(run_dir), *extra], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    run = tmp_path_factory.mktemp("recipe") / "run"
    return run, recipe(run)


def test_smoke_recipe_runs_every_stage_and_the_model_generates(smoke_run):
    run, proc = smoke_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    stages = [s.name for s in load_recipe(RECIPE).stages]
    assert stages == ["vae", "rewriter", "cache", "transformer", "upscaler", "export"]
    report = json.loads((run / "recipe.json").read_text())
    assert [report["stages"][s]["status"] for s in stages] == ["done"] * len(stages)
    from minisora.pipeline import Pipeline

    pipe = Pipeline.from_pretrained(run / "model")
    assert pipe.index.text_encoder.object_slots == 3 and pipe.index.trained_sizes == [(16, 16)]
    assert pipe.index.rewriter.backend == "builtin" and pipe.index.upscaler == "upscaler"
    out = pipe("a red circle moving right", num_frames=5, height=16, width=16, num_inference_steps=2, seed=0,
               progress=False)
    assert out.frames.shape == (5, 16, 16, 3) and out.frames.dtype == np.uint8


def test_finished_stages_are_skipped_and_one_stage_reruns(smoke_run):
    run, proc = smoke_run
    assert proc.returncode == 0
    again = recipe(run)
    assert again.returncode == 0 and again.stdout.count("skipped (done)") >= 6
    weights = (run / "model" / "transformer" / "model.safetensors").read_bytes()
    (run / ".stages" / "upscaler.done").unlink()
    redo = recipe(run, "--only", "upscaler")
    assert redo.returncode == 0, redo.stderr[-2000:]
    assert "[5/6] upscaler: done" in redo.stdout and "[1/6] vae: skipped (done)" in redo.stdout
    assert (run / "model" / "transformer" / "model.safetensors").read_bytes() == weights


def test_smoke_overrides_follow_the_command():
    stage = Stage(name="cache", command=["cache-latents", "{recipe}/cache.yaml", "out={run}/cache", "captions=3"],
                  output="cache", smoke=["buckets=[5x16x16]", "captions=1"])
    argv = stage_argv(stage, Path("/r"), Path("/c"), smoke=True)
    assert argv == ["cache-latents", "/c/cache.yaml", "out=/r/cache", "captions=3", "buckets=[5x16x16]", "captions=1"]
    assert stage_argv(stage, Path("/r"), Path("/c"), smoke=False) == argv[:4]
    with pytest.raises(ConfigError, match=r"stage 'cache': smoke arguments must be key=value overrides, got "
                                          r"'--bucket', '5x16x16'"):
        Stage(name="cache", command=["cache-latents"], output="cache", smoke=["--bucket", "5x16x16"])


def test_bad_recipes_are_refused():
    with pytest.raises(ConfigError, match="stage names must be unique, repeated: a"):
        Recipe(name="x", run_dir="r", stages=[Stage("a", ["synth"], "o"), Stage("a", ["synth"], "p")])
    with pytest.raises(ConfigError, match="has no stages"):
        Recipe(name="x", run_dir="r")
    from minisora.recipe import run_recipe

    with pytest.raises(ConfigError, match="unknown stage 'vea'; stages of 'minisora-tiny': vae, rewriter"):
        run_recipe(RECIPE, smoke=True, run_dir="/tmp/never-written", only=["vea"])
