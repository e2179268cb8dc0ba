"""`minisora scale CONFIG [key=value ...]`: run (or resume) a scaling study.

    minisora scale configs/scaling-cpu.yaml            # the CPU grid (see the file for its duration)
    minisora scale configs/scaling-cpu.yaml --plan     # sizes, FLOPs, steps; nothing is trained
    minisora scale configs/scaling-cpu.yaml --jobs 2   # sizes split across 2 worker processes
    torchrun --nproc_per_node=8 -m minisora.cli scale configs/scaling-gpu.yaml

Run the same command again after an interruption: finished runs are skipped and the unfinished one
resumes from its checkpoint.
"""

from __future__ import annotations

import argparse
import os
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="a scaling-study YAML (configs/scaling-*.yaml)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="override fields, e.g. grid.seeds=[0]")
    parser.add_argument("--plan", action="store_true", help="print the grid (sizes, FLOPs, steps, data) and exit")
    parser.add_argument("--estimate", action="store_true",
                        help="with --plan: time each size's steps on this machine now and print the study's duration")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="split the sizes across N worker processes on this machine (a CPU study at one "
                             "thread per process uses one core per worker); the summary is written at the end")


def run(args: argparse.Namespace) -> int:
    from minisora.config import ConfigError
    from minisora.scale import grid as G
    from minisora.scale.config import load_config

    cfg = load_config(args.config, args.overrides)
    if args.jobs < 1:
        raise ConfigError(f"--jobs must be >= 1 (worker processes), got {args.jobs}")
    if args.plan:
        latent = G.latent_shape(cfg)
        facts = G.size_facts(cfg, latent)
        runs, extra = G.planned_runs(cfg, facts)
        print(G.describe_plan(cfg, facts))
        print(f"{len(runs)} grid runs + {len(extra)} extra sweep runs, {G.total_flops(runs + extra):.3g} training "
              f"FLOPs; latent {latent}; {G.data_clips(cfg, facts)} distinct clips for the longest run")
        if cfg.stated_duration:
            print(f"stated duration: {cfg.stated_duration}")
        if args.estimate:
            from minisora.scale.estimate import estimate

            est = estimate(cfg, facts, runs, extra, G.data_clips(cfg, facts))
            print("measured now: seconds per training step " + ", ".join(f"{k} {v:.3f}" for k, v in est["step_s"].items())
                  + "; per guided sampling forward of eval.batch_size clips "
                  + ", ".join(f"{k} {v:.3f}" for k, v in est["sample_forward_s"].items()))
            print(f"per clip: encode {est['encode_s_per_clip']:.3f} s, decode {est['decode_s_per_clip']:.3f} s, "
                  f"judge {est['judge_s_per_clip']:.3f} s")
            print(f"estimated duration on this machine now, in one process (--jobs N: about 1/N of it): "
                  f"{est['total_s'] / 3600:.2f} h (training "
                  f"{est['train_s'] / 3600:.2f} h, evaluation {est['eval_s'] / 3600:.2f} h, cache "
                  f"{est['cache_s'] / 60:.1f} min)")
        return 0
    from minisora.scale.study import run_study

    if args.jobs > 1 and not cfg.grid.only:
        from minisora.scale.parallel import run_split

        run_split(cfg, args.config, args.overrides, args.jobs)
    summary = run_study(cfg)
    if int(os.environ.get("RANK", "0")) == 0 and cfg.grid.only:
        print(f"scale: the runs of {', '.join(cfg.grid.only)} are done; run without grid.only for the summary")
    elif int(os.environ.get("RANK", "0")) == 0:
        print(f"scale: summary in {cfg.out_dir}/summary.json; bars: "
              + ", ".join(f"{k}={v}" for k, v in summary["bars"].items()))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="minisora scale", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
