"""`minisora scale CONFIG --jobs N`: one study split across N worker processes on one machine.

A CPU study at one torch thread per process leaves the other cores idle, and two OpenMP threads
of one process crawl as soon as anything else shares the cores (README "Scaling study"). So the
grid is split by size instead: each worker runs whole sizes (their lr sweep and every grid run) as
`minisora scale CONFIG grid.only=[...]`, and the sizes are dealt out so that the workers' costs,
counted in FLOPs, come out about even. The latent cache is built once before any worker starts.
When every worker is done, the study runs once more in this process: every run is found finished,
so it only writes the summary, the fits and the figures. An interrupted split study resumes the
same way a plain one does: run the same command again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tqdm import tqdm

from minisora.config import ConfigError
from minisora.scale import grid as G
from minisora.scale.config import ScaleConfig

# Decoding and judging one sampled clip cost about 0.2 s on the 2-core AVX2 CPU whatever the size,
# about what 4 GFLOP of transformer work takes there; counted so the smallest sizes are not free.
JUDGE_FLOPS_PER_CLIP = 4e9


def size_costs(cfg: ScaleConfig, facts: dict[str, G.SizeFacts]) -> dict[str, float]:
    """Each size's share of the study in FLOPs: its training runs plus sampling and judging its runs."""
    runs, extra = G.planned_runs(cfg, facts)
    e = cfg.eval
    costs = {s.name: 0.0 for s in cfg.grid.sizes}
    for r in runs + extra:
        costs[r.size] += r.flops
    for r in runs:  # guided sampling: 2 forwards per step, a forward is a third of a training step
        forward = facts[r.size].train_flops_per_sample / 3
        costs[r.size] += e.prompts * (e.sample_steps * 2 * forward + JUDGE_FLOPS_PER_CLIP)
    return costs


def split_sizes(costs: dict[str, float], jobs: int) -> list[list[str]]:
    """Sizes dealt to `jobs` workers, costliest first to the least loaded (no worker left empty)."""
    jobs = min(jobs, len(costs))
    shares: list[list[str]] = [[] for _ in range(jobs)]
    loads = [0.0] * jobs
    for name in sorted(costs, key=costs.get, reverse=True):
        k = loads.index(min(loads))
        shares[k].append(name)
        loads[k] += costs[name]
    return shares


def _finished(cfg: ScaleConfig) -> int:
    """Grid and sweep runs whose JSON is written (a worker's mark of a finished run)."""
    return len(list((Path(cfg.out_dir) / "runs").glob("*.json")))


def run_split(cfg: ScaleConfig, config_path: str, overrides: list[str], jobs: int,
              log=lambda msg: print(msg, flush=True)) -> None:
    """Run every size's runs in `jobs` worker processes; the caller then writes the summary."""
    from minisora.scale.study import ensure_cache

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("--jobs splits a study across processes on one machine; under torchrun the ranks "
                          "already share every run, so leave --jobs at 1")
    facts = G.size_facts(cfg, G.latent_shape(cfg))
    shares = split_sizes(size_costs(cfg, facts), jobs)
    if cfg.data.source == "cache":
        ensure_cache(cfg, G.data_clips(cfg, facts), log)
    total = sum(map(len, G.planned_runs(cfg, facts)))  # every run's JSON, sweep and grid
    # each worker gets its cores' share of threads unless the config fixes them
    threads = cfg.recipe.threads or max(1, (os.cpu_count() or 1) // len(shares))
    logs = Path(cfg.work_dir) / "jobs"
    logs.mkdir(parents=True, exist_ok=True)
    workers = []
    for k, names in enumerate(shares):
        cmd = [sys.executable, "-m", "minisora.cli", "scale", config_path, *overrides,
               f"grid.only=[{','.join(names)}]", f"recipe.threads={threads}"]
        out = open(logs / f"job{k}.log", "a")
        workers.append((names, subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT), out))
        log(f"scale: worker {k} runs {', '.join(names)} (log: {logs / f'job{k}.log'})")
    try:
        with tqdm(total=total, desc="scaling runs", unit="run", initial=_finished(cfg)) as bar:
            while any(p.poll() is None for _, p, _ in workers):
                time.sleep(5)
                bar.n = min(total, _finished(cfg))
                bar.refresh()
    except KeyboardInterrupt:  # the workers stop too; their checkpoints let the next call resume
        for _, p, _ in workers:
            p.terminate()
        raise
    finally:
        for _, p, out in workers:
            p.wait()
            out.close()
    failed = [(names, p.returncode) for names, p, _ in workers if p.returncode]
    if failed:
        raise RuntimeError("scale: worker(s) failed: " + "; ".join(f"{', '.join(n)} exited {rc}" for n, rc in failed)
                           + f"; see the logs in {logs}, then run the same command again to resume")
