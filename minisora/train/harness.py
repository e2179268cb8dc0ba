"""The one training loop of the package: every trainer (DiT, VAE, upscaler, rewriter) is a `Task`
that knows its model, its loss and its data; `fit(loop, build_task)` does everything else.

What the harness owns, once for all trainers:
  - the process group and parallelism (`distributed.py`: DDP / FSDP2 through torchrun, or the
    gradient-averaging strategy), applied from outside the model;
  - AdamW, the learning-rate schedule (`lr_factor`: linear warmup, then cosine, driven by steps or by
    the time budget, whichever is further along), gradient clipping, the NaN policy (`NaNGuard`), EMA;
  - the checkpoint contract (`checkpoint.py`), resume (with the config check), the budget in steps or
    minutes, SIGINT/SIGTERM handling (a checkpoint at the next step boundary, then `Interrupted`);
  - metrics.jsonl, TensorBoard, the loss-curve PNG and the progress bar (`monitor.py`).

A Task (duck-typed) provides:
    model: nn.Module            the plain module whose trainable parameters are optimised
    model_config: dict          JSON; a checkpoint of a different model config is refused
    param_groups() -> list      AdamW groups (`{"params": [...], "weight_decay": ...}`)
    wrap(model, info) -> module the module to call in `loss` (`distributed.apply_parallelism`)
    start(data_state | None)    position the data (fresh, or as a checkpoint left it)
    micro_batch(step, index, count) piece `index` of `count` equal pieces of step `step`'s global batch
    loss(module, batch, generator) -> (scalar loss, dict of floats)
    data_state() -> dict        JSON, checkpointed (may be {} when batches are a function of the step)
    progress: float             set by the harness before each step: share of the budget spent
    evaluate(step, model, ema) -> dict   metrics of the weights that get released (all ranks call it)
    release(step, model, ema, record)    write released weights, if the task has any (all ranks call it)

Determinism (resume is bit-exact, N ranks equal one): the randomness of a micro-batch's loss comes
from `micro_generator(seed, step, index)`, a function of what is computed, not where; the data
position and the global RNG states are checkpointed.
"""

from __future__ import annotations

import contextlib
import math
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from minisora.config import ConfigError
from minisora.train import checkpoint as ckpt
from minisora.train.config import ParallelConfig
from minisora.train.distributed import (DistInfo, GradientAverager, all_reduce_max, all_reduce_mean,
                                        init_distributed, shutdown)
from minisora.train.ema import EMA
from minisora.train.monitor import Monitor, NaNGuard
from minisora.train.schedule import Schedule, lr_factor  # noqa: F401  (lr_factor: part of the harness's API)


class Interrupted(RuntimeError):
    """SIGINT/SIGTERM stopped the run; a checkpoint of the last finished step was written."""


@dataclass(frozen=True)
class Loop:
    """What the harness needs of a run. Each trainer fills it from its typed config (the config
    dataclass is where the defaults live; this has none)."""
    name: str  # "train-vae", ...: used in messages
    run_dir: str
    seed: int
    max_steps: int
    minutes: float  # wall-clock budget (0: none); the run ends at whichever of steps/minutes comes first
    lr: float
    warmup_steps: int
    min_lr_ratio: float
    weight_decay: float
    grad_clip: float  # 0: no clipping (the norm is still measured for the NaN policy)
    betas: tuple[float, float]
    ema_decay: float  # 0: no EMA
    ema_start: int
    nan_max_consecutive: int
    global_batch_size: int  # samples per optimizer step, over all ranks and accumulation steps
    micro_batch_size: int  # samples per forward/backward on one rank; 0: global / (world size x accumulation)
    log_every: int
    eval_every: int  # 0: only at the end
    checkpoint_every: int  # 0: only at the end
    keep_last: int
    config: dict  # the trainer's whole config: checkpointed, compared on resume
    budget_keys: tuple[str, ...]  # dotted keys of `config` that may change on resume
    checkpoint_dir: str = ""  # "": <run_dir>/checkpoints
    resume: str = "auto"  # auto: the latest checkpoint if any; never; or a checkpoint folder
    allow_changed: bool = False  # resume although the config differs (beyond the budget keys)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    tensorboard: bool = True
    progress: bool = True
    eps: float = 1e-8
    threads: int = 0  # torch CPU threads for the run (0: leave as is)
    accumulation: int = 1  # micro-batches per rank and step, when micro_batch_size is 0
    # (saved config, where) -> the same in today's layout, for a trainer whose config layout changed
    # (TrainConfig.upgrade_old_forms): a checkpoint written before is compared in today's terms
    upgrade_config: Callable[[dict, str], dict] | None = None


# What the VAE, upscaler and rewriter configs call the loop's fields (they share these names).
FLAT_FIELDS = {"run_dir": "run_dir", "seed": "seed", "max_steps": "steps", "minutes": "minutes", "lr": "lr",
               "warmup_steps": "warmup_steps", "min_lr_ratio": "min_lr_ratio", "weight_decay": "weight_decay",
               "grad_clip": "grad_clip", "nan_max_consecutive": "nan_max_consecutive",
               "global_batch_size": "batch_size", "log_every": "log_every", "eval_every": "eval_every",
               "checkpoint_every": "save_every", "keep_last": "keep_last", "resume": "resume", "threads": "threads"}


def flat_loop(cfg: Any, name: str, budget_keys: tuple[str, ...], **rest) -> Loop:
    """The Loop of a flat trainer config (fields named as in FLAT_FIELDS); `rest` gives the others."""
    from minisora.config import to_dict

    fields = {k: getattr(cfg, v) for k, v in FLAT_FIELDS.items()}
    check_values({v: getattr(cfg, v) for v in FLAT_FIELDS.values() if v in _RANGES} | {"ema_decay": rest["ema_decay"]})
    return Loop(name=name, config=to_dict(cfg), budget_keys=budget_keys, **fields, **rest)


_RANGES = {  # key: (low, high, low inclusive, what it means)
    "lr": (0.0, math.inf, False, "the peak learning rate"), "steps": (1, math.inf, True, "optimizer steps"),
    "minutes": (0.0, math.inf, True, "the time budget, 0: none"), "warmup_steps": (0, math.inf, True, "steps"),
    "min_lr_ratio": (0.0, 1.0, True, "a share of lr"), "weight_decay": (0.0, math.inf, True, "AdamW's decay"),
    "grad_clip": (0.0, math.inf, True, "the max gradient norm, 0: no clipping"),
    "nan_max_consecutive": (1, math.inf, True, "skipped steps in a row"), "batch_size": (1, math.inf, True, "samples"),
    "log_every": (1, math.inf, True, "steps"), "eval_every": (0, math.inf, True, "steps, 0: at the end"),
    "save_every": (0, math.inf, True, "steps, 0: at the end"), "keep_last": (1, math.inf, True, "checkpoints"),
    "threads": (0, math.inf, True, "CPU threads, 0: torch's default"), "ema_decay": (0.0, 1.0, True, "0: no EMA"),
}


def check_values(values: dict[str, Any]) -> None:
    """Range checks of the loop's settings, each error naming the key and what would be valid (a NaN is never valid)."""
    for key, v in values.items():
        low, high, inclusive, meaning = _RANGES[key]
        ok = isinstance(v, (int, float)) and not math.isnan(v) and (v >= low if inclusive else v > low) and v <= high
        if key == "ema_decay":
            ok = ok and v < 1.0
        if not ok:
            bound = f">= {low}" if inclusive else f"> {low}"
            rng = "in [0, 1)" if key == "ema_decay" else (f"in [{low}, {high}]" if high < math.inf else bound)
            raise ConfigError(f"{key}={v!r} is not valid: {meaning}, must be {rng} and finite")


def micro_generator(seed: int, step: int, micro_index: int) -> torch.Generator:
    """The generator of one micro-batch: a function of (seed, step, index in the global batch) only."""
    mixed = np.random.SeedSequence([seed, step, micro_index]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(mixed[0]) << 32 | int(mixed[1]))


class StopSignals:
    """SIGINT/SIGTERM set a flag that the loop reads at the next step boundary (a second SIGINT
    while waiting raises KeyboardInterrupt as usual). Handlers are restored on exit."""

    def __init__(self):
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "StopSignals":
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: no handlers, no clean stop
                pass
        return self

    def _handle(self, signum, frame) -> None:
        if self.received == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signum

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the installed minisora package


def check_outside_package(path: str | Path, key: str) -> None:
    """Refuse an output folder inside the installed package: training never overwrites shipped files."""
    resolved = Path(path).resolve()
    if resolved == PACKAGE_DIR or PACKAGE_DIR in resolved.parents:
        raise ConfigError(f"{key}={str(path)!r} lies inside the installed minisora package ({PACKAGE_DIR}); "
                          f"training writes only outside it, e.g. under runs/")


def release_folder(cfg: Any) -> Path:
    """Where a flat trainer config's released weights go: `release_dir`, or <run_dir>/release; never
    inside the package (refused with a ConfigError)."""
    folder = Path(cfg.release_dir) if cfg.release_dir else Path(cfg.run_dir) / "release"
    check_outside_package(folder, "release_dir")
    return folder


def check_config_change(saved: dict, current: dict, budget_keys: tuple[str, ...], where: str) -> None:
    """Refuse a resume whose config differs beyond the budget keys, naming every differing key."""
    diff = [d for d in ckpt.config_mismatch(saved, current) if d.split(":")[0] not in budget_keys]
    if diff:
        raise ckpt.CheckpointError(
            f"the config differs from the one {where} was trained with: " + "; ".join(diff)
            + f". Only {', '.join(budget_keys)} may change on resume; pass --allow-changed (allow_changed=true) "
            f"to resume anyway, or use another run folder")


def fit(loop: Loop, build_task: Callable[[DistInfo], Any]) -> dict:
    """Run `build_task(info)`'s task as `loop` says; returns a summary (rank 0's view)."""
    previous_threads = torch.get_num_threads()
    if loop.threads:
        torch.set_num_threads(loop.threads)
    info = init_distributed(loop.parallel)
    ok = False
    try:
        summary = _fit(loop, build_task, info)
        ok = True
        return summary
    finally:
        torch.set_num_threads(previous_threads)
        # after a failure another rank may never reach a barrier: only a clean run synchronises
        if ok:
            shutdown(info)
        elif info.distributed and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _fit(loop: Loop, build_task, info: DistInfo) -> dict:
    world = info.world_size
    micro = loop.micro_batch_size or loop.global_batch_size // (world * loop.accumulation)
    if micro < 1 or loop.global_batch_size % (micro * world):
        raise ConfigError(f"the global batch ({loop.global_batch_size}) must be a multiple of the micro-batch x "
                          f"world size ({micro} x {world} = {micro * world})")
    accum = loop.global_batch_size // (micro * world)
    ckpt_dir = Path(loop.checkpoint_dir or Path(loop.run_dir) / "checkpoints")
    check_outside_package(loop.run_dir, "run_dir")
    check_outside_package(ckpt_dir, "the checkpoint folder")
    ckpt.check_writable(ckpt_dir)
    resume_from = None
    if loop.resume == "auto":
        resume_from = ckpt.latest_checkpoint(ckpt_dir)
    elif loop.resume != "never":
        resume_from = Path(loop.resume)
    if resume_from is not None and not loop.allow_changed:  # before any expensive set-up
        where = f"checkpoint {str(resume_from)!r}"
        saved = ckpt.read_state(resume_from)["config"]
        if loop.upgrade_config is not None:
            saved = loop.upgrade_config(saved, where)
        check_config_change(saved, loop.config, loop.budget_keys, where)

    torch.manual_seed(loop.seed)  # identical initial weights on every rank
    task = build_task(info)
    model = task.model
    train_model = task.wrap(model, info)
    ema = EMA(model, loop.ema_decay, loop.ema_start) if loop.ema_decay > 0 else None
    # fused: one kernel for all parameters (measured on the 2-core CPU: the per-tensor loop took ~30% of
    # a VAE step); DTensor shards (FSDP2) take the multi-tensor path instead
    sharded = loop.parallel.strategy == "fsdp" and info.distributed
    optimizer = torch.optim.AdamW(task.param_groups(), lr=loop.lr, betas=loop.betas, eps=loop.eps,
                                  weight_decay=loop.weight_decay, **({"foreach": True} if sharded else {"fused": True}))
    schedule = Schedule(optimizer, loop)
    guard = NaNGuard(loop.nan_max_consecutive)
    averager = GradientAverager([p for g in optimizer.param_groups for p in g["params"]], info) \
        if loop.parallel.strategy == "average" else None

    step, elapsed0, data_state = 0, 0.0, None
    if resume_from is not None:
        state = ckpt.load_checkpoint(resume_from, model=model, ema=ema, optimizer=optimizer, scheduler=schedule,
                                     info=info, model_config=task.model_config)
        step, elapsed0, data_state = state["step"], state["elapsed_s"], state["data"]
        guard.load_state_dict(state["nan_guard"])
        if info.is_main:
            print(f"{loop.name}: resumed from {resume_from} at step {step}", flush=True)
    task.start(data_state)

    monitor = Monitor(loop.run_dir, enabled=info.is_main, total_steps=loop.max_steps, start_step=step,
                      samples_per_step=loop.global_batch_size, tensorboard=loop.tensorboard, progress=loop.progress,
                      desc=loop.name)
    fsdp = loop.parallel.strategy == "fsdp" and info.distributed
    ddp = loop.parallel.strategy == "ddp" and info.distributed
    start_step, t_start = step, time.perf_counter() - elapsed0
    last_saved = resume_from  # a run resumed at its last step writes nothing new
    last_loss, record, stats, step_times = float("nan"), {}, {}, []

    def elapsed() -> float:  # rank 0's clock drives the schedule and the stop, so all ranks agree
        t = torch.tensor(time.perf_counter() - t_start, dtype=torch.float64)
        return float(all_reduce_max(t, info)) if info.distributed else float(t)

    def save(step: int) -> Path:
        path = ckpt.save_checkpoint(ckpt_dir, step, model=model, ema=ema, optimizer=optimizer, scheduler=schedule,
                                    info=info, keep_last=loop.keep_last,
                                    state={"data": task.data_state(), "nan_guard": guard.state_dict(),
                                           "config": loop.config, "model_config": task.model_config,
                                           "elapsed_s": elapsed()})
        task.release(step, model, ema, record)
        return path

    stop_reason = None
    try:
        with StopSignals() as signals:
            while step < loop.max_steps:
                now = elapsed()
                if loop.minutes > 0 and now >= 60.0 * loop.minutes:
                    stop_reason = f"time budget of {loop.minutes:g} min reached at step {step}"
                    break
                lr = schedule.set(step, now)
                # the share of the budget spent, for tasks whose data changes late in a run
                task.progress = max(step / loop.max_steps, now / (60.0 * loop.minutes) if loop.minutes > 0 else 0.0)
                step += 1
                loss_sum = torch.zeros((), dtype=torch.float64)
                t_step, data_s = time.perf_counter(), 0.0
                for a in range(accum):
                    index = info.rank * accum + a
                    t_data = time.perf_counter()
                    batch = task.micro_batch(step, index, world * accum)
                    data_s += time.perf_counter() - t_data
                    last_micro = a == accum - 1
                    # gradients are reduced across ranks only on the last micro-batch of a step
                    if fsdp:
                        model.set_requires_gradient_sync(last_micro)
                    sync = train_model.no_sync() if (ddp and not last_micro) else contextlib.nullcontext()
                    with sync:
                        if fsdp:
                            model.unshard()  # the loss may read root parameters outside forward
                        loss, stats = task.loss(train_model, batch, micro_generator(loop.seed, step, index))
                        (loss / accum).backward()
                    loss_sum += loss.detach().double().cpu()
                loss_mean = float(all_reduce_mean(loss_sum / accum, info))
                if averager is not None:
                    averager()
                grad_norm = _clip(optimizer, loop.grad_clip)
                if guard.check(step, loss_mean, grad_norm):
                    optimizer.step()
                    if ema is not None:
                        ema.update(model, step)
                optimizer.zero_grad(set_to_none=True)
                last_loss = loss_mean
                step_times.append([time.perf_counter() - t_step, data_s])  # for benchmarks (bench/train.py)

                if step % loop.log_every == 0 or step == loop.max_steps:
                    t = elapsed()
                    monitor.log(step, {"loss": loss_mean, **{k: v for k, v in stats.items() if k != "loss"},
                                       "grad_norm": grad_norm, "lr": lr, "skipped_steps": guard.skipped,
                                       "steps_per_s": (step - start_step) / max(t - elapsed0, 1e-9),
                                       "samples_per_s": (step - start_step) * loop.global_batch_size
                                       / max(t - elapsed0, 1e-9), "elapsed_s": t})
                monitor.progress(step, loss_mean)
                if loop.eval_every and step % loop.eval_every == 0 and step < loop.max_steps:
                    record = _evaluate(task, step, model, ema, monitor, elapsed())
                stop = signals.received is not None
                if info.distributed:  # a signal seen by one rank stops all of them at this boundary
                    stop = bool(all_reduce_max(torch.tensor(float(stop)), info))
                if stop:
                    last_saved = save(step)
                    name = signal.Signals(signals.received).name if signals.received else "a signal on another rank"
                    raise Interrupted(f"{loop.name}: stopped by {name} after step {step}; checkpoint written to "
                                      f"{last_saved}. Run the same command again to resume from it.")
                if loop.checkpoint_every and step % loop.checkpoint_every == 0 and step < loop.max_steps:
                    last_saved = save(step)
            if stop_reason:
                monitor.note(f"{loop.name}: {stop_reason}")
            if step > start_step or last_saved is None:
                record = _evaluate(task, step, model, ema, monitor, elapsed(), final=True)
                last_saved = save(step)
        monitor.plot_loss()
    finally:
        monitor.close()
    seconds = elapsed() - elapsed0
    return {"steps": step, "steps_this_run": step - start_step, "final_loss": last_loss,
            "skipped_steps": guard.skipped, "seconds": seconds, "world_size": world, "grad_accum": accum,
            "samples_per_s": (step - start_step) * loop.global_batch_size / max(seconds, 1e-9),
            "checkpoint": str(last_saved) if last_saved else None, "run_dir": loop.run_dir,
            "resumed_from": str(resume_from) if resume_from else None, "stopped": stop_reason,
            "final": record, "history": monitor.history() if info.is_main else [], "step_times": step_times}


def _evaluate(task, step: int, model, ema, monitor: Monitor, elapsed_s: float, final: bool = False) -> dict:
    """The task's metrics of the weights that get released, logged (when there are any) and shown."""
    metrics = task.evaluate(step, model, ema)
    if not metrics:
        return {}
    record = {**metrics, "elapsed_s": elapsed_s, **({"final": True} if final else {})}
    monitor.log(step, record)
    monitor.note(f"step {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, float)))
    return record


def _clip(optimizer: torch.optim.Optimizer, max_norm: float) -> float:
    """Global gradient norm (over all ranks and shards); clips in place when max_norm > 0."""
    grads = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
    if not grads:
        return 0.0
    norm = torch.nn.utils.clip_grad_norm_(grads, max_norm if max_norm > 0 else float("inf"))
    if hasattr(norm, "full_tensor"):  # DTensor under FSDP2: the norm is already reduced
        norm = norm.full_tensor()
    return float(norm)
