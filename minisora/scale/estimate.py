"""How long a study will take on this machine, from step times measured now (`minisora scale --plan`).

Per size: one training step (forward + backward of the flow loss + AdamW) at the study's batch, and one
sampling forward at the evaluation batch (both guidance branches), each timed after a warm-up; per clip:
rendering + VAE + text encoding (the cache) and VAE decoding + judging. A shared or busy CPU gives
longer times than an idle one: the estimate is for the machine as it is at the moment of measuring.
"""

from __future__ import annotations

import time

import torch

from minisora.io import unit_to_pixels
from minisora.scale import grid as G
from minisora.scale.config import ScaleConfig


def _timed(fn, repeats: int = 2) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def size_times(cfg: ScaleConfig, spec, latent) -> tuple[float, float]:
    """(seconds per training step, seconds per guided sampling forward of eval.batch_size clips)."""
    from minisora.dit.config import DiTConfig
    from minisora.dit.model import DiT
    from minisora.flow.training import FlowTrainConfig, flow_matching_loss

    net = DiT(DiTConfig.preset("debug", **G.dit_overrides(spec)))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4, foreach=True)
    B, L, Dt = cfg.recipe.global_batch_size, net.config.text_len, net.config.text_dim
    x, tok, pooled = torch.randn(B, *latent), torch.randn(B, L, Dt), torch.randn(B, Dt)
    mask = torch.ones(B, L, dtype=torch.bool)

    def step():
        loss, _ = flow_matching_loss(net, x, tok, mask, pooled, FlowTrainConfig(), torch.Generator().manual_seed(0))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    E = 2 * cfg.eval.batch_size
    xs, ts = torch.randn(E, *latent), torch.rand(E)
    toks, masks, pools = torch.randn(E, L, Dt), torch.ones(E, L, dtype=torch.bool), torch.randn(E, Dt)

    @torch.no_grad()
    def forward():
        net(xs, ts, toks, masks, pools)

    return _timed(step), _timed(forward)


def estimate(cfg: ScaleConfig, facts: dict, runs: list, sweep_only: list, clips: int) -> dict:
    """Seconds of training, evaluation and caching of the planned runs (`runs` are judged, the extra
    learning-rate sweep runs `sweep_only` are not), measured on this machine now."""
    from minisora.text.encoder import shared_encoder
    from minisora.train.data import synthetic_dataset
    from minisora.train.engine import load_vae
    from minisora.world.judge import judge

    if cfg.recipe.threads:
        torch.set_num_threads(cfg.recipe.threads)
    latent = G.latent_shape(cfg)
    d, e = cfg.data, cfg.eval
    per_size = {name: size_times(cfg, f.spec, latent) for name, f in facts.items()}
    train_s = sum(r.steps * per_size[r.size][0] for r in runs + sweep_only)
    judged = runs
    batches = -(-e.prompts // e.batch_size)
    sample_s = sum(batches * e.sample_steps * per_size[r.size][1] for r in judged)
    vae, text = load_vae(d.vae).eval(), shared_encoder()
    ds = synthetic_dataset(4, [(d.num_frames, d.height, d.width)], "train", d.dataset_seed)
    items = [ds[i] for i in range(4)]
    video = torch.stack([it["video"] for it in items])
    with torch.no_grad():
        encode_s = _timed(lambda: (vae.encode(video), text.encode([it["caption"] + f" {time.time()}" for it in items])), 1) / 4
        z = vae.encode(video)
        decode_s = _timed(lambda: vae.decode(z), 1) / 4
    frames = unit_to_pixels(video[0].permute(1, 2, 3, 0)).numpy()  # T, H, W, 3
    judge_s = _timed(lambda: judge(frames, items[0]["caption"]), 1)
    eval_s = sample_s + len(judged) * e.prompts * (decode_s + judge_s)
    cache_s = clips * encode_s if d.source == "cache" else 0.0
    return {"train_s": train_s, "eval_s": eval_s, "cache_s": cache_s, "total_s": train_s + eval_s + cache_s,
            "step_s": {k: v[0] for k, v in per_size.items()}, "sample_forward_s": {k: v[1] for k, v in per_size.items()},
            "encode_s_per_clip": encode_s, "decode_s_per_clip": decode_s, "judge_s_per_clip": judge_s}
