"""A declared recipe: the stages that make a model folder from nothing, run in order into one run folder.

    minisora recipe configs/minisora-tiny/recipe.yaml              # the shipped model, from today's defaults
    minisora recipe configs/minisora-tiny/recipe.yaml --smoke      # every stage at debug size (a test)

A recipe file lists stages; each stage is one `minisora` subcommand with its arguments (a stage file of
its own under the recipe's folder, plus overrides) and the output it leaves in the run folder. A finished
stage leaves a marker (`<run>/.stages/<name>.done`) and is skipped next time, so an interrupted recipe continues where it stopped;
the stage that was running resumes from its own checkpoints (every trainer resumes exactly). Each
stage runs in its own process, so a crash or a kill stops only that stage. Nothing is written outside
the run folder: `{run}` in a command names it, `{recipe}` names the recipe's folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from minisora.config import ConfigError, load_yaml

STAGE_MARKERS = ".stages"  # <run>/.stages/<stage>.done: the stage finished (its wall time and argv inside)


@dataclass
class Stage:
    name: str
    command: list[str]  # a minisora subcommand and its arguments; {run} and {recipe} are substituted
    output: str  # file or folder the stage leaves, relative to the run folder (checked when it ends)
    # key=value overrides appended in --smoke mode (debug sizes); flags are refused, since a repeatable
    # one (cache-latents --bucket) would add to the command's instead of replacing them
    smoke: list[str] = field(default_factory=list)
    measured_minutes: float = 0.0  # wall time of the full stage, measured on 2 cores (stated, not enforced)

    def __post_init__(self) -> None:
        flags = [a for a in self.smoke if "=" not in a or a.startswith("-")]
        if flags:
            raise ConfigError(f"stage {self.name!r}: smoke arguments must be key=value overrides, got "
                              f"{', '.join(map(repr, flags))}")


@dataclass
class Recipe:
    name: str
    run_dir: str  # where every stage writes, e.g. runs/minisora-tiny
    stages: list[Stage] = field(default_factory=list)

    def __post_init__(self) -> None:
        names = [s.name for s in self.stages]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"recipe {self.name!r}: stage names must be unique, repeated: {', '.join(dup)}")
        if not self.stages:
            raise ConfigError(f"recipe {self.name!r} has no stages")


def load_recipe(path: str | Path) -> Recipe:
    return load_yaml(Recipe, path)


def stage_argv(stage: Stage, run: Path, recipe_dir: Path, smoke: bool) -> list[str]:
    """The stage's arguments; in smoke mode its `smoke` overrides follow them, and win by coming last."""
    args = list(stage.command) + (list(stage.smoke) if smoke else [])
    return [a.replace("{run}", str(run)).replace("{recipe}", str(recipe_dir)) for a in args]


def run_recipe(path: str | Path, *, smoke: bool = False, run_dir: str | None = None, only: list[str] | None = None,
               python: str = sys.executable) -> dict:
    """Run the recipe's unfinished stages in order; returns {stage: {"status", "seconds"}}.

    smoke: append each stage's `smoke` arguments (and default the run folder to <run_dir>-smoke);
    run_dir: override the recipe's run folder; only: run just these stages (the others must be done)."""
    recipe_path = Path(path)
    recipe = load_recipe(recipe_path)
    run = Path(run_dir or (recipe.run_dir + ("-smoke" if smoke else "")))
    names = [s.name for s in recipe.stages]
    for n in only or []:
        if n not in names:
            raise ConfigError(f"unknown stage {n!r}; stages of {recipe.name!r}: {', '.join(names)}")
    run.mkdir(parents=True, exist_ok=True)
    report: dict[str, dict] = {}
    total = len(recipe.stages)
    for i, stage in enumerate(recipe.stages, 1):
        done = run / STAGE_MARKERS / f"{stage.name}.done"
        if done.exists() or (only and stage.name not in only):
            report[stage.name] = {"status": "skipped (done)" if done.exists() else "skipped"}
            print(f"[{i}/{total}] {stage.name}: {report[stage.name]['status']}", flush=True)
            continue
        argv = stage_argv(stage, run, recipe_path.parent, smoke)
        stated = f" (measured {stage.measured_minutes:g} min on 2 cores)" if stage.measured_minutes and not smoke else ""
        print(f"[{i}/{total}] {stage.name}{stated}: minisora {' '.join(argv)}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([python, "-m", "minisora.cli", *argv], env={**os.environ, "PYTHONUNBUFFERED": "1"})
        seconds = round(time.perf_counter() - t0, 1)
        if rc != 0:
            report[stage.name] = {"status": f"failed (exit {rc})", "seconds": seconds}
            _write_report(run, recipe, report, smoke)
            raise RuntimeError(f"stage {stage.name!r} failed with exit code {rc}; fix it and run the recipe again "
                               f"(finished stages are skipped, this one resumes from its checkpoints)")
        if not (run / stage.output).exists():
            raise RuntimeError(f"stage {stage.name!r} finished but left no {str(run / stage.output)!r}")
        done.parent.mkdir(exist_ok=True)
        done.write_text(json.dumps({"seconds": seconds, "argv": argv}) + "\n")
        report[stage.name] = {"status": "done", "seconds": seconds}
        print(f"[{i}/{total}] {stage.name}: done in {seconds / 60:.1f} min", flush=True)
    _write_report(run, recipe, report, smoke)
    return report


def _write_report(run: Path, recipe: Recipe, report: dict, smoke: bool) -> None:
    from minisora.weights import atomic_write_bytes

    body = {"recipe": recipe.name, "smoke": smoke, "stages": report,
            "finished_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}
    atomic_write_bytes(run / "recipe.json", (json.dumps(body, indent=2) + "\n").encode())
