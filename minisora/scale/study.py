"""The study runner: cache -> learning-rate sweep -> grid -> per-run evaluation -> summary, fits, pictures.

Resumable at every level: a run whose JSON is in `<out_dir>/runs/` is skipped; an unfinished run
resumes from the last checkpoint in its run folder (the trainer's `checkpoint.resume: auto`, bit-exact);
a finished run whose evaluation was cut off is evaluated from its final checkpoint. The same code
runs under torchrun: every rank trains every run (DDP/FSDP); rank 0 alone evaluates, writes and
draws, and the other ranks read the sweep's records (for the learning rates) from its JSONs.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import torch

from minisora.config import ConfigError, to_dict
from minisora.scale import grid as G
from minisora.scale.config import ScaleConfig
from minisora.scale.evaluate import EvalSet, build_eval_set, heldout_loss, judge_run, load_ema_model
from minisora.weights import atomic_write_bytes


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def join_process_group(run_id: str) -> None:
    """Under torchrun, a fresh process group for each run, in its own namespace of torchrun's store.

    The trainer joins the default group when none exists and leaves it at the end of the run; a second
    default group on the same store keys found the first one's stale gloo addresses and hung in
    `connectFullMesh` (2 CPU ranks, torch 2.13). A prefix per run keeps each group's keys apart."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) == 1 or dist.is_initialized():
        return
    store, rank, world = next(dist.rendezvous("env://"))
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo", store=dist.PrefixStore(f"minisora-scale/{run_id}", store),
                            rank=rank, world_size=world, device_id=_device() if cuda else None)


def _final_checkpoint(folder: Path, steps: int) -> Path | None:
    from minisora.train.checkpoint import latest_checkpoint, read_state

    last = latest_checkpoint(folder)
    return last if last is not None and read_state(last)["step"] == steps else None


def _wait_for_json(path: Path) -> dict:
    """Another rank's record of a run (rank 0 writes it after evaluating the run)."""
    while not path.is_file():
        time.sleep(2)
    return json.loads(path.read_text())


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(data, indent=1) + "\n").encode())


def ensure_cache(cfg: ScaleConfig, clips: int, log) -> str:
    """The shared latent cache of `clips` train-split clips (built once; a finished one is reused)."""
    from minisora.text.encoder import shared_encoder
    from minisora.train.data import INDEX_NAME, cache_latents, synthetic_dataset
    from minisora.train.engine import load_vae

    d = cfg.data
    folder = Path(cfg.work_dir) / f"cache_{clips}x{d.num_frames}x{d.height}x{d.width}_seed{d.dataset_seed}"
    if (folder / INDEX_NAME).is_file():
        return str(folder)
    if _rank() != 0:  # rank 0 writes it; the others wait for its index (written last, atomically)
        while not (folder / INDEX_NAME).is_file():
            time.sleep(5)
        return str(folder)
    if folder.exists():  # an interrupted build: its shards are incomplete, start again
        shutil.rmtree(folder)
    t0 = time.perf_counter()
    ds = synthetic_dataset(clips, [(d.num_frames, d.height, d.width)], "train", d.dataset_seed)
    dtype = {"float32": torch.float32, "float16": torch.float16}[d.cache_dtype]
    # the shared encoder's config is the one the synthetic source and the evaluation use
    cache_latents(ds, load_vae(d.vae), shared_encoder(), folder, dtype=dtype, progress=True)
    log(f"scale: latent cache of {clips} clips in {time.perf_counter() - t0:.0f} s -> {folder}")
    return str(folder)


class Study:
    def __init__(self, cfg: ScaleConfig, log=lambda msg: print(msg, flush=True)):
        self.cfg, self.log = cfg, log
        self.out = Path(cfg.out_dir)
        self.main = _rank() == 0
        self.latent = G.latent_shape(cfg)
        self.facts = G.size_facts(cfg, self.latent)
        self.sweep = G.sweep_runs(cfg, self.facts)
        self.clips = G.data_clips(cfg, self.facts)
        self._eval_set: EvalSet | None = None
        self.skipped: list[str] = []  # runs found finished (what a resumed study did not redo)

    @property
    def eval_set(self) -> EvalSet:
        if self._eval_set is None:
            self._eval_set = build_eval_set(self.cfg)
        return self._eval_set

    def run_path(self, run: G.RunSpec) -> Path:
        return self.out / "runs" / f"{run.run_id}.json"

    def do_run(self, run: G.RunSpec, role: str, cache_dir: str, with_judge: bool) -> dict:
        """Train (or resume) one run and evaluate it; its JSON is the mark of a finished run."""
        from minisora.train.engine import train

        path = self.run_path(run)
        record = json.loads(path.read_text()) if path.is_file() else None
        if record is not None and (record["flops"], record["samples"]) != (run.flops, run.samples):
            raise ConfigError(f"{path} records {record['flops']:.4g} FLOPs over {record['samples']} clips but this "
                              f"config plans {run.flops:.4g} over {run.samples}: the study's settings changed "
                              f"(e.g. the clip size); use another out_dir or remove the stale results")
        if record is not None and (record.get("judge") is not None or not with_judge):
            self.skipped.append(run.run_id)
            return record
        tcfg = G.train_config(self.cfg, run, cache_dir)
        if record is None:
            t0 = time.perf_counter()
            # A run whose final checkpoint exists is not trained again: under torchrun every rank makes
            # this decision from the same files (rank 0 writes the JSON before it removes the
            # checkpoints), so no rank joins a process group that the others skip.
            final = _final_checkpoint(tcfg.checkpoint_dir, run.steps)
            if final is None:
                join_process_group(run.run_id)
                summary = train(tcfg)
            else:
                summary = {"steps": run.steps, "checkpoint": str(final), "resumed_from": str(final), "final_loss": None}
            if summary["steps"] != run.steps:
                raise RuntimeError(f"run {run.run_id} stopped at step {summary['steps']} of {run.steps}")
            if not self.main:  # the other ranks only train; rank 0 evaluates and records
                return _wait_for_json(path) if role == "lr-sweep" else {}
            facts = self.facts[run.size]
            record = {"run_id": run.run_id, "role": role, "size": run.size, "params": facts.params,
                      "multiplier": run.multiplier, "seed": run.seed, "lr": run.lr, "steps": run.steps,
                      "samples": run.samples, "tokens": run.samples * facts.tokens_per_sample,
                      "budget_flops": run.budget_flops, "flops": run.flops,
                      "flops_per_step": run.flops // run.steps, "attention_share": facts.attention_share,
                      "warmup_steps": tcfg.schedule.warmup_steps, "ema_decay": tcfg.ema.decay,
                      "checkpoint": summary["checkpoint"], "resumed_from": summary["resumed_from"],
                      "train_seconds": time.perf_counter() - t0, "final_train_loss": summary["final_loss"]}
            net = load_ema_model(record["checkpoint"], _device())
            record["heldout_loss"] = heldout_loss(net, self.eval_set)
            # the EMA weights are what later steps need (judge, figure): kept as a model folder
            record["weights"] = str(Path(tcfg.run_dir) / "ema")
            net.cpu().save_pretrained(record["weights"], dtype=None)
        if not self.main:
            return record
        if with_judge:
            net = load_ema_model(record["weights"], _device())
            t0 = time.perf_counter()
            record["judge"] = judge_run(net, self.eval_set, self.cfg)
            record["judge_seconds"] = time.perf_counter() - t0
        write_json(path, record)
        # a finished run needs no optimizer state (the JSON, written first, marks it finished)
        shutil.rmtree(Path(tcfg.run_dir) / "checkpoints", ignore_errors=True)
        judged = f", judge mean {record['judge']['mean']:.3f}" if record.get("judge") else ""
        self.log(f"scale: {run.run_id}: {run.steps} steps, {run.flops:.3g} FLOPs, held-out loss "
                 f"{record['heldout_loss']:.4f}{judged}")
        return record

    def run(self) -> dict:
        """The whole study; returns the summary (also written to <out_dir>/summary.json)."""
        from minisora.scale.report import summarize, write_outputs

        cfg = self.cfg
        if cfg.recipe.threads:
            torch.set_num_threads(cfg.recipe.threads)
        t0 = time.perf_counter()
        cache_dir = ensure_cache(cfg, self.clips, self.log) if cfg.data.source == "cache" else ""
        names = cfg.grid.only or [s.name for s in cfg.grid.sizes]
        # 1. the learning-rate sweep at the smallest budget, first seed
        sweep = [self.do_run(r, "lr-sweep", cache_dir, with_judge=False) for r in self.sweep if r.size in names]
        lrs = {}
        for name in names:
            mine = [r for r in sweep if r["size"] == name]
            lrs[name] = min(mine, key=lambda r: (r["heldout_loss"], r["lr"]))["lr"]
        # 2. the grid at each size's chosen lr (the sweep's winner is its first run)
        planned = G.grid_runs(cfg, self.facts, {s.name: lrs.get(s.name, 0.0) for s in cfg.grid.sizes})
        runs = [self.do_run(r, "grid", cache_dir, with_judge=True) for r in planned if r.size in names]
        if not self.main:
            return {}
        if cfg.grid.only:  # one worker's share of the grid: the summary needs every size
            return {"sizes": names, "runs": len(runs), "skipped_runs": len(self.skipped)}
        summary = summarize(cfg, self.facts, self.latent, sweep, runs, lrs, self.clips)
        summary["timing"] = {"study_seconds_this_call": time.perf_counter() - t0,
                             "skipped_runs": len(self.skipped)}
        if self.main:
            write_outputs(cfg, summary, self, lrs)
        return summary


def run_study(cfg: ScaleConfig, log=lambda msg: print(msg, flush=True)) -> dict:
    if not cfg.grid.sizes:
        raise ConfigError("grid.sizes is empty")
    study = Study(cfg, log)
    if study.main and not cfg.grid.only:
        write_json(Path(cfg.out_dir) / "config.json", to_dict(cfg))
    return study.run()
