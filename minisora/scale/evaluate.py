"""What is measured for every run, with its EMA weights:

1. the held-out rectified-flow loss: fixed held-out clips (VAE latents), fixed t values (midpoints of
   `loss_timesteps` equal bins of [0, 1]) and fixed noise per (clip, t); no text dropout, no given frames;
2. the judge's scores on `prompts` fixed held-out scenes: each scene's descriptive caption (the
   training captions' style) is sampled from fixed noise and the clip is judged against the scene;
   per prompt we keep passed/stated counts per attribute, so intervals can resample prompts;
3. sampling time: wall seconds per clip (denoise + VAE decode, batch `batch_size`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from minisora.scale.config import ScaleConfig

# The judge's attribute types that make its mean ("motion" is the judge's name for direction).
JUDGE_TYPES = ("color", "shape", "motion", "count")


@dataclass
class EvalSet:
    """Fixed held-out data, built once per study process (a pure function of the config)."""
    latents: torch.Tensor  # (B, C, T, H, W) held-out clips
    tokens: torch.Tensor  # (B, L, Dt) their captions
    mask: torch.Tensor  # (B, L)
    pooled: torch.Tensor  # (B, Dt)
    noise: torch.Tensor  # (K, B, C, T, H, W): one fixed draw per (t value, clip)
    times: torch.Tensor  # (K,)
    specs: list  # SceneSpec of each judged prompt
    captions: list[str]
    vae: object
    latent_shape: tuple[int, int, int, int]
    fps: float


def build_eval_set(cfg: ScaleConfig) -> EvalSet:
    from minisora.text.encoder import shared_encoder
    from minisora.train.data import synthetic_dataset
    from minisora.train.engine import load_vae
    from minisora.world.captions import write_caption
    from minisora.world.scenes import sample_scene

    d, e = cfg.data, cfg.eval
    vae = load_vae(d.vae).eval()
    text = shared_encoder()  # the encoder that made the training captions' embeddings
    # held-out clips for the loss: their own dataset seed, so they are not the judged scenes
    ds = synthetic_dataset(e.loss_clips, [(d.num_frames, d.height, d.width)], "heldout", 10_000 + e.seed)
    items = [ds[i] for i in range(len(ds))]
    with torch.no_grad():
        latents = vae.encode(torch.stack([it["video"] for it in items])).float()  # B, C, T, H, W
    emb = text.encode([it["caption"] for it in items])
    K = e.loss_timesteps
    times = (torch.arange(K, dtype=torch.float32) + 0.5) / K
    g = torch.Generator().manual_seed(e.seed)
    noise = torch.randn((K, *latents.shape), generator=g)
    specs, captions = [], []
    for i in range(e.prompts):
        rng = np.random.default_rng((e.seed, i))
        spec = sample_scene(rng, split="heldout")
        specs.append(spec)
        captions.append(write_caption(spec, rng))
    return EvalSet(latents, emb.tokens, emb.mask, emb.pooled, noise, times, specs, captions, vae,
                   tuple(latents.shape[1:]), 8.0)


def load_ema_model(path: str, device: torch.device):
    """A run's DiT with its EMA weights, in eval mode, from a training checkpoint or the run's `ema`
    model folder (written once the run finished)."""
    from minisora.train.export import load_dit

    return load_dit(path).to(device).eval()


@torch.no_grad()
def heldout_loss(net, es: EvalSet) -> float:
    """Mean velocity MSE over the fixed clips, t values and noise (rectified flow, flow/objective.py)."""
    from minisora.flow.objective import interpolate, velocity_target

    dev = next(net.parameters()).device
    x = es.latents.to(dev)
    cond = dict(text_tokens=es.tokens.to(dev), text_mask=es.mask.to(dev), text_pooled=es.pooled.to(dev))
    total = 0.0
    for k, t in enumerate(es.times.tolist()):
        noise = es.noise[k].to(dev)
        tt = torch.full((x.shape[0],), t, device=dev)
        v = net(interpolate(x, noise, tt), tt, **cond)
        total += float((v.float() - velocity_target(x, noise)).square().mean())
    return total / len(es.times)


@torch.no_grad()
def sample_clips(net, es: EvalSet, captions: list[str], seeds: list[int], cfg: ScaleConfig) -> tuple[np.ndarray, float]:
    """uint8 clips (B, T, H, W, 3) of `captions`, clip j from noise `seeds[j]`; and seconds per clip."""
    from minisora.dit.patchify import num_tokens
    from minisora.flow.samplers import make_noise
    from minisora.flow.schedules import schedule_shift
    from minisora.flow.training import FlowTrainConfig
    from minisora.sampling import decode_frames, denoise
    from minisora.text.encoder import shared_encoder

    e = cfg.eval
    dev = next(net.parameters()).device
    C, T, H, W = es.latent_shape
    shift = schedule_shift(FlowTrainConfig(base_shift=e.base_shift), num_tokens((T, H, W), net.config.patch_size))
    out, seconds = [], 0.0
    for i in range(0, len(captions), e.batch_size):
        chunk = captions[i:i + e.batch_size]
        emb = shared_encoder().encode(chunk).to(dev)
        noise = torch.cat([make_noise((1, C, T, H, W), seed=s) for s in seeds[i:i + e.batch_size]]).to(dev)
        null = net.null_text(len(chunk), emb.tokens.shape[1])
        t0 = time.perf_counter()
        z = denoise(net, noise, steps=e.sample_steps, method="euler", guidance=e.guidance, shift=shift,
                    cond=dict(text_tokens=emb.tokens, text_mask=emb.mask, text_pooled=emb.pooled),
                    uncond=dict(zip(("text_tokens", "text_mask", "text_pooled"), null)))
        out.append(decode_frames(es.vae, z))  # b, T, H, W, 3 uint8
        seconds += time.perf_counter() - t0
    return np.concatenate(out), seconds / len(captions)


def judge_run(net, es: EvalSet, cfg: ScaleConfig) -> dict:
    """Sample every held-out caption and judge it: pooled score per attribute, their mean, per-prompt
    counts (for intervals), sampling seconds per clip."""
    from minisora.world.judge import judge

    clips, seconds = sample_clips(net, es, es.captions, [cfg.eval.seed + i for i in range(len(es.captions))], cfg)
    counts = np.zeros((len(clips), len(JUDGE_TYPES), 2), dtype=np.int64)  # prompt, type, (passed, stated)
    for i, (clip, spec) in enumerate(zip(clips, es.specs)):
        res = judge(clip, spec, fps=es.fps)
        for k, ok in res.checks.items():
            kind = k.split(".")[-1]
            if kind in JUDGE_TYPES:
                j = JUDGE_TYPES.index(kind)
                counts[i, j] += (int(bool(ok)), 1)
    scores = pooled_scores(counts)
    return {"scores": dict(zip(JUDGE_TYPES, scores.tolist())), "mean": float(scores.mean()),
            "counts": counts.tolist(), "seconds_per_clip": seconds}


def pooled_scores(counts: np.ndarray) -> np.ndarray:
    """(prompts, types, 2) passed/stated counts -> pooled score per type (passed / stated)."""
    c = np.asarray(counts).sum(axis=0)
    return c[:, 0] / np.maximum(c[:, 1], 1)
