"""DiT training: one engine for a laptop and for torchrun.

    from minisora.train.config import load_config      # TrainConfig from YAML + key=value overrides
    from minisora.train.engine import train            # train(cfg) -> summary dict
    from minisora.train.export import export_release   # checkpoint -> bf16 safetensors + config.json

Rooms: config.py (typed TrainConfig), engine.py (the loop), distributed.py (process group and the
one `apply_parallelism`), checkpoint.py (the checkpoint contract), ema.py, data.py (latent cache,
pixel sources), monitor.py (metrics, TensorBoard, loss curve, NaN guard), cli.py / cache_cli.py.
"""
