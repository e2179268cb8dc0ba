"""Benchmark: DiT training throughput with cached latents, 1 process and 2-rank DDP (torchrun, gloo).

Trains the shipped configuration (configs/default.yaml: DiT `tiny`, bf16 autocast, its bucket
mix) on a latent cache of random tensors with the exact shapes of the real one (writing the real
cache needs the VAE; reading costs the same), and reports per run:

  samples/s, matmul GFLOP/s achieved (FLOPs of `minisora.dit.flops`, 3x forward per training step,
  counted per step for the bucket that step used) and its share of the matmul peak measured in the
  same run (bf16 for bf16 autocast), and the share of step time spent waiting for data.

Step times are medians over the timed steps (the first steps, which allocate, are dropped);
the CPU may be shared, and the medians resist a busy neighbour better than means.

Bar (exit status 1 when missed): with cached latents, data loading takes < 5% of step time in
both runs.

    python bench/train.py                 # ~2-3 minutes
    python bench/train.py --steps 8 --preset debug
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
BAR_DATA_SHARE = 0.05
# Latent shapes of the default buckets (VAE x8 space, x4 time): 17x64x64, 17x48x80, 17x80x48, 1x64x64.
DEFAULT_LATENTS = [(16, 5, 8, 8), (16, 5, 6, 10), (16, 5, 10, 6), (16, 1, 8, 8)]


def matmul_peak(dtype: torch.dtype, threads: int, n: int = 2048, rounds: int = 8) -> float:
    """GFLOP/s of a large square matmul on `threads` threads: the best of `rounds`."""
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    torch.set_num_threads(prev)
    return 2 * n ** 3 / best / 1e9


def analyse(summary: dict, dit_cfg, text_len: int, global_batch: int, skip: int) -> dict:
    from minisora.dit.flops import forward_flops

    recs = summary["step_records"][skip:]
    if not recs:
        raise SystemExit("no timed steps left: raise --steps")
    seconds = [r[0] for r in recs]
    flops = [3 * forward_flops(dit_cfg, r[2], r[3], r[4], text_len, batch=global_batch)["total"] for r in recs]
    med = statistics.median(seconds)
    # FLOP rate: total FLOPs over total time of the steps at or under the median time (the busy
    # neighbour's share removed the same way as for the samples/s figure)
    fast = [(s, f) for s, f in zip(seconds, flops) if s <= med]
    return {"samples_s": global_batch / med, "gflops": sum(f for _, f in fast) / sum(s for s, _ in fast) / 1e9,
            "data_share": sum(r[1] for r in recs) / sum(seconds), "step_ms": 1e3 * med, "steps": len(recs)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "default.yaml"))
    ap.add_argument("--preset", default=None, help="override the config's DiT preset")
    ap.add_argument("--steps", type=int, default=24, help="training steps per run (first --skip not timed)")
    ap.add_argument("--skip", type=int, default=4)
    ap.add_argument("--items", type=int, default=256, help="items in the benchmark cache")
    ap.add_argument("--no-ddp", action="store_true")
    args = ap.parse_args()

    from minisora.precision import resolve as resolve_precision
    from minisora.train.config import dit_config, load_config
    from minisora.train.data import write_random_cache

    base = load_config(args.config)
    preset = args.preset or base.model.preset
    dit_cfg = dit_config(load_config(args.config, [f"model.preset={preset}"]).model)
    text_len = dit_cfg.text_len
    gb = base.optim.global_batch_size
    bf16 = resolve_precision(base.precision) == "bf16"
    work = Path(tempfile.mkdtemp(prefix="minisora-bench-train-"))
    latents = [(dit_cfg.latent_channels, *s[1:]) for s in DEFAULT_LATENTS]
    cache = write_random_cache(work / "cache", args.items, latents, text_len=text_len, text_dim=dit_cfg.text_dim)
    overrides = [f"data.cache_dir={cache}", f"model.preset={preset}", f"schedule.max_steps={args.steps}",
                 f"checkpoint.every={10 * args.steps}", "checkpoint.keep_last=1", "logging.sample_every=0",
                 f"schedule.warmup_steps={min(base.schedule.warmup_steps, args.steps // 2)}",
                 "logging.progress=false", "logging.tensorboard=false", f"logging.every={args.steps}"]
    cfg_file = Path(args.config)
    print(f"benchmark cache: {args.items} random items, latents {latents}, text {text_len}x{dit_cfg.text_dim}")

    # The matmul peak is measured around each run (before and after, best kept): the 2 cores may
    # be shared, and a peak taken at a quiet moment would flatter or shame the run next to it.
    peak_dtype = torch.bfloat16 if bf16 else torch.float32
    peak_name = f"{'bf16' if bf16 else 'fp32'} matmul peak (2 threads)"
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)

    def timed_run(cmd: list[str], env: dict, run_dir: Path, label: str) -> tuple[dict, float]:
        before = matmul_peak(peak_dtype, 2)
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
        after = matmul_peak(peak_dtype, 2)
        if r.returncode:
            print(r.stdout[-2000:], r.stderr[-4000:])
            raise SystemExit(f"{label} run failed")
        print(f"{label}: {peak_name} {before:.0f} before, {after:.0f} after (GFLOP/s); "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
        return analyse(json.loads((run_dir / "summary.json").read_text()), dit_cfg, text_len, gb, args.skip), \
            max(before, after)

    single_dir = work / "single"
    a, peak = timed_run([sys.executable, "-m", "minisora.train", str(cfg_file), *overrides, f"run_dir={single_dir}"],
                        {**os.environ, "OMP_NUM_THREADS": "2"}, single_dir, "1 process")
    rows = [(f"1 process, 2 threads, accum {gb // base.optim.micro_batch_size}", a, peak)]
    if not args.no_ddp:
        micro = max(1, min(base.optim.micro_batch_size, gb // 2))
        ddp_dir = work / "ddp"
        a, peak = timed_run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             "-m", "minisora.train", str(cfg_file), *overrides, f"run_dir={ddp_dir}",
                             "parallel.strategy=ddp", f"optim.micro_batch_size={micro}"],
                            {**os.environ, "OMP_NUM_THREADS": "1"}, ddp_dir, "2-rank DDP")
        rows.append((f"2-rank DDP (gloo), 1 thread each, accum {gb // (2 * micro)}", a, peak))

    from minisora.dit.flops import describe

    print(describe(dit_cfg, *latents[0][1:], text_len))
    print(f"config {cfg_file.name}: preset {preset}, global batch {gb}, precision {base.precision}, "
          f"buckets {latents}; timed steps: {args.steps - args.skip} per run (median step time)")
    print()
    print(f"| run | step ms | samples/s | GFLOP/s | {peak_name} | share of peak | data-loading share |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    ok = True
    for name, a, peak in rows:
        bar = a["data_share"] < BAR_DATA_SHARE
        ok &= bar
        print(f"| {name} | {a['step_ms']:.0f} | {a['samples_s']:.1f} | {a['gflops']:.0f} | {peak:.0f} | "
              f"{100 * a['gflops'] / peak:.0f}% | {100 * a['data_share']:.2f}% {'ok' if bar else 'MISSED'} |")
    shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"bar: data loading < {100 * BAR_DATA_SHARE:.0f}% of step time with cached latents: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
