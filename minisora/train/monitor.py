"""What a run reports: metrics.jsonl, TensorBoard scalars, a loss-curve PNG, a progress bar, and the
NaN/Inf guard. Only rank 0 writes; other ranks get a silent monitor.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from tqdm import tqdm


class DivergedError(RuntimeError):
    """Training produced NaN/Inf losses or gradients too many steps in a row."""


class NaNGuard:
    """Skip steps whose loss or gradient norm is not finite; stop after `max_consecutive` in a row.

    A single bad batch (e.g. an overflow in a rare configuration) costs one skipped update; a run
    that has truly diverged stops with a message instead of writing NaN checkpoints forever.
    """

    def __init__(self, max_consecutive: int):
        self.max_consecutive = max_consecutive
        self.consecutive = 0
        self.skipped = 0

    def check(self, step: int, loss: float, grad_norm: float) -> bool:
        """True when the step may be applied; raises DivergedError after too many bad steps in a row."""
        if math.isfinite(loss) and math.isfinite(grad_norm):
            self.consecutive = 0
            return True
        self.consecutive += 1
        self.skipped += 1
        if self.consecutive >= self.max_consecutive:
            raise DivergedError(
                f"training diverged: {self.consecutive} consecutive steps (up to step {step}) had a non-finite "
                f"loss ({loss}) or gradient norm ({grad_norm}); {self.skipped} steps skipped in all. Lower optim.lr, "
                f"raise schedule.warmup_steps, keep optim.grad_clip > 0, or resume from an earlier checkpoint.")
        return False

    def state_dict(self) -> dict:
        return {"consecutive": self.consecutive, "skipped": self.skipped}

    def load_state_dict(self, state: dict) -> None:
        self.consecutive, self.skipped = int(state["consecutive"]), int(state["skipped"])


class Monitor:
    """metrics.jsonl + TensorBoard + progress bar + loss-curve PNG for one run folder."""

    def __init__(self, run_dir: str | Path, *, enabled: bool, total_steps: int, start_step: int,
                 samples_per_step: int, tensorboard: bool, progress: bool, desc: str = "train"):
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.samples_per_step = samples_per_step
        self.tb = None
        self.bar = None
        self._t0 = time.perf_counter()
        self._start_step = start_step
        if not enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.metrics_path = self.run_dir / "metrics.jsonl"
        # On resume, records past the checkpoint (written by the interrupted run) are dropped, so
        # the file reads as one uninterrupted run.
        kept = []
        if self.metrics_path.exists():
            for line in self.metrics_path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a kill
                    continue
                if rec.get("step", 0) <= start_step:
                    kept.append(line)
        self.metrics_path.write_text("".join(k + "\n" for k in kept))
        self._file = open(self.metrics_path, "a")
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(self.run_dir / "tensorboard"), purge_step=start_step + 1)
        if progress:
            self.bar = tqdm(total=total_steps, initial=start_step, desc=desc, unit="step", dynamic_ncols=True)

    def log(self, step: int, record: dict) -> None:
        if not self.enabled:
            return
        rec = {"step": step, **record}
        self._file.write(json.dumps(rec) + "\n")
        self._file.flush()
        if self.tb is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    self.tb.add_scalar(f"train/{k}", v, step)

    def note(self, line: str) -> None:
        """A line for the person watching (above the progress bar when there is one)."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(line)
        else:
            print(line, flush=True)

    def history(self) -> list[dict]:
        """Every record of metrics.jsonl (this run and the runs it resumed), in order."""
        return [json.loads(line) for line in self.metrics_path.read_text().splitlines()]

    def progress(self, step: int, loss: float) -> None:
        if self.bar is None:
            return
        elapsed = max(time.perf_counter() - self._t0, 1e-9)
        rate = (step - self._start_step) / elapsed
        self.bar.update(step - self.bar.n)
        self.bar.set_postfix(loss=f"{loss:.4f}", steps_s=f"{rate:.2f}", samples_s=f"{rate * self.samples_per_step:.1f}",
                             refresh=False)

    def plot_loss(self) -> Path | None:
        """loss_curve.png from metrics.jsonl (raw loss and a running mean)."""
        if not self.enabled:
            return None
        return plot_loss_curve(self.metrics_path, self.run_dir / "loss_curve.png")

    def close(self) -> None:
        if not self.enabled:
            return
        self._file.close()
        if self.tb is not None:
            self.tb.close()
        if self.bar is not None:
            self.bar.close()


def plot_loss_curve(metrics_path: str | Path, out: str | Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    steps, losses = [], []
    for line in Path(metrics_path).read_text().splitlines():
        rec = json.loads(line)
        if "loss" in rec and math.isfinite(rec["loss"]) and rec["loss"] > 0:  # log axis
            steps.append(rec["step"])
            losses.append(rec["loss"])
    if not steps:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, losses, lw=0.8, alpha=0.5, label="loss")
    window = max(1, len(losses) // 20)
    if window > 1:
        smooth = [sum(losses[max(0, i - window + 1):i + 1]) / len(losses[max(0, i - window + 1):i + 1])
                  for i in range(len(losses))]
        ax.plot(steps, smooth, lw=1.5, label=f"running mean ({window})")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
