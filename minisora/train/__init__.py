"""Training: one harness for every trainer, on a laptop and under torchrun.

    from minisora.train.harness import fit, Loop       # the loop every trainer's Task runs on
    from minisora.train.config import load_config      # the DiT's TrainConfig from YAML + key=value overrides
    from minisora.train.engine import train            # the DiT: train(cfg) -> summary dict
    from minisora.train.export import export_release   # checkpoint -> bf16 safetensors + config.json

The other trainers are Tasks of the same harness: minisora.vae.train, minisora.upscale.train,
minisora.text.train.

Rooms: harness.py (the loop, LR schedule, budget, signals, resume and its config check),
checkpoint.py (the checkpoint contract), distributed.py (process group, the one `apply_parallelism`,
the gradient-averaging strategy), ema.py, monitor.py (metrics.jsonl, TensorBoard, loss curve, progress
bar, NaN policy), config.py (typed TrainConfig), engine.py (the DiT's Task), data.py (latent cache,
pixel sources), cache_config.py (the latent-cache stage: CacheConfig and write_cache), cli.py (the one
way into every trainer and the cache stage) / cache_cli.py.
"""
