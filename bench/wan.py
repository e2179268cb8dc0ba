"""Wan2.1 in minisora's modules against diffusers' WanPipeline, on CPU, random weights (issue 29).

Reports, each measured in this run:
  - parity (fp32, relative max error) of the transformer forward, VAE encode, VAE decode and the
    frames (before uint8) of a 4-step pipeline run with CFG and a negative prompt (Euler), and of a
    5-step run with Wan2.1's UniPC scheduler, on tiny models;
  - end-to-end generation time of minisora's WanVideoPipeline against diffusers' WanPipeline at one
    small Wan config (transformer 256 wide, 4 layers, umT5 64 wide, VAE base 16; 33 x 128 x 128,
    4 steps, CFG 5), same folder, same arguments, alternating runs, the best of `--repeats`;
  - the Wan VAE's decode peak memory at 17 and at 81 frames (Wan2.1's VAE architecture, base 96, random
    weights, 64 x 64), each in a fresh process: RSS sampled every millisecond during the decode, minus
    RSS just before it.

Bars (exit 1 when missed): parity <= 1e-4 each; diffusers time / minisora time >= 1.2; decode
activation peak at 81 frames <= 1.3x the peak at 17 frames. Figures are printed last.

    python bench/wan.py            # ~9 min on 2 cores
    python bench/wan.py --quick    # smaller speed config (a smoke test, not the bar's config)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minisora.wan.reference import ReferenceSize, quiet, save_reference_folder  # noqa: E402

PARITY_BAR, SPEED_BAR, MEMORY_BAR = 1e-4, 1.2, 1.3
SPEED_SIZE = ReferenceSize(dim=256, heads=2, layers=4, ffn=1024, text_dim=64, vae_base=16, vae_mult=(1, 2, 4, 4))
SPEED_CALL = dict(prompt="a dog runs on the beach at sunset", negative_prompt="blurry low quality", num_frames=33,
                  height=128, width=128, num_inference_steps=4, guidance_scale=5.0)
MEMORY_VAE = dict(base_dim=96, size=64)


def rel_err(a, b) -> float:
    a, b = (torch.as_tensor(np.asarray(v.detach() if isinstance(v, torch.Tensor) else v)).double() for v in (a, b))
    return float((a - b).abs().max() / a.abs().max())


def parity(tmp: Path) -> dict[str, float]:
    from minisora.wan.folder import load_wan_transformer
    from minisora.wan.pipeline import WanVideoPipeline
    from minisora.wan.vae import WanVAE

    folder = tmp / "parity"
    pipe = save_reference_folder(folder)
    pipe.set_progress_bar_config(disable=True)
    g = torch.Generator().manual_seed(0)
    out = {}
    dit = load_wan_transformer(folder / "transformer")
    x, t, text = torch.randn(2, 16, 3, 6, 8, generator=g), torch.tensor([0.9, 0.25]), torch.randn(2, 512, 32, generator=g)
    with torch.no_grad():
        want = pipe.transformer(hidden_states=x, timestep=t * 1000, encoder_hidden_states=text, return_dict=False)[0]
        got = dit(x, t, text, torch.ones(2, 512, dtype=torch.bool), torch.zeros(2, 32))
    out["transformer forward"] = rel_err(want, got)
    vae = WanVAE.from_pretrained(folder / "vae")
    video, z = torch.rand(1, 3, 9, 32, 48, generator=g) * 2 - 1, torch.randn(1, 16, 3, 4, 6, generator=g)
    cfg = pipe.vae.config
    mean, std = (torch.tensor(v).view(1, -1, 1, 1, 1) for v in (cfg.latents_mean, cfg.latents_std))
    with torch.no_grad():
        out["VAE encode"] = rel_err(pipe.vae.encode(video).latent_dist.mean, vae.encode_moments(video)[0])
        out["VAE decode"] = rel_err(pipe.vae.decode(z * std + mean).sample, vae.decode(z))
    ours = WanVideoPipeline.from_pretrained(folder)
    kw = dict(prompt="a dog runs on the beach", negative_prompt="blurry low quality", num_frames=9, height=32,
              width=48, num_inference_steps=4, guidance_scale=5.0)
    want = pipe(**kw, generator=torch.Generator().manual_seed(3), output_type="np").frames[0]
    res = ours(**kw, generator=torch.Generator().manual_seed(3), return_latents=True, progress=False)
    out["pipeline frames (4 steps, CFG)"] = rel_err(want, (ours.vae.decode(res.latents)[0].permute(1, 2, 3, 0) + 1) / 2)
    # the same with Wan2.1's release scheduler, UniPC (flow sigmas, order 2), 5 steps
    from diffusers import UniPCMultistepScheduler

    pipe.scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    pipe.scheduler.save_pretrained(folder / "scheduler")
    ours = WanVideoPipeline.from_pretrained(folder)
    kw["num_inference_steps"] = 5
    want = pipe(**kw, generator=torch.Generator().manual_seed(3), output_type="np").frames[0]
    res = ours(**kw, generator=torch.Generator().manual_seed(3), return_latents=True, progress=False)
    out["pipeline frames (UniPC, 5 steps)"] = rel_err(want, (ours.vae.decode(res.latents)[0].permute(1, 2, 3, 0) + 1) / 2)
    return out


def speed(tmp: Path, size: ReferenceSize, call: dict, repeats: int) -> dict[str, float]:
    from diffusers import WanPipeline

    from minisora.wan.pipeline import WanVideoPipeline

    folder = tmp / "speed"
    save_reference_folder(folder, size)
    ref = WanPipeline.from_pretrained(str(folder))
    ref.set_progress_bar_config(disable=True)
    ours = WanVideoPipeline.from_pretrained(folder)
    warm = {**call, "num_frames": 5, "height": 32, "width": 32, "num_inference_steps": 1}
    ref(**warm, generator=torch.Generator().manual_seed(0), output_type="np")
    ours(**warm, generator=torch.Generator().manual_seed(0), progress=False)
    t_ref, t_ours, split = [], [], {}
    for _ in range(repeats):  # alternate, so a busy spell on a shared machine hits both
        t0 = time.perf_counter()
        with torch.no_grad():
            ref(**call, generator=torch.Generator().manual_seed(1), output_type="np")
        t_ref.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        res = ours(**call, generator=torch.Generator().manual_seed(1), progress=False)
        t_ours.append(time.perf_counter() - t0)
        split = res.timings
    return {"diffusers_s": min(t_ref), "minisora_s": min(t_ours), "split": split}


def _rss_mb() -> float:
    import resource

    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def memprobe(frames: int) -> dict:
    """In a fresh process: RSS just before, and peak RSS during, one decode of `frames` frames."""
    from minisora.wan.vae import WanVAE, WanVAEConfig

    torch.manual_seed(0)
    vae = WanVAE(WanVAEConfig(base_dim=MEMORY_VAE["base_dim"])).eval()
    s = MEMORY_VAE["size"] // 8
    vae.decode(torch.randn(1, 16, 2, s, s))  # load kernels and thread pools
    z = torch.randn(1, 16, 1 + (frames - 1) // 4, s, s)
    base = _rss_mb()
    peak, stop = [base], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.001)

    th = threading.Thread(target=sample)
    th.start()
    t0 = time.perf_counter()
    video = vae.decode(z)
    seconds = time.perf_counter() - t0
    stop.set()
    th.join()
    assert video.shape[2] == frames
    return {"base_mb": base, "peak_mb": max(peak[0], _rss_mb()), "seconds": seconds}


def run_memprobe(frames: int) -> dict:
    # A fixed glibc mmap threshold returns freed activations at once, so RSS measures live memory
    # (bench/vae.py explains why the dynamic threshold would count dead chunks).
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    out = subprocess.run([sys.executable, __file__, "--memprobe", str(frames)], capture_output=True, text=True,
                         check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--memprobe", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="a smaller speed config (smoke test; the bar is not judged)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.memprobe:
        print(json.dumps(memprobe(args.memprobe)))
        return 0
    quiet()
    size, call = SPEED_SIZE, SPEED_CALL
    if args.quick:
        size = ReferenceSize(dim=64, heads=1, layers=2, ffn=128, text_dim=32, vae_base=8)
        call = {**SPEED_CALL, "num_frames": 9, "height": 64, "width": 64, "num_inference_steps": 2}
    with tempfile.TemporaryDirectory() as tmp:
        errs = parity(Path(tmp))
        sp = speed(Path(tmp), size, call, args.repeats)
    mem = {f: run_memprobe(f) for f in (17, 81)}
    act = {f: m["peak_mb"] - m["base_mb"] for f, m in mem.items()}
    ratio = sp["diffusers_s"] / sp["minisora_s"]
    growth = act[81] / max(act[17], 1.0)
    ok = {"parity": all(e <= PARITY_BAR for e in errs.values()), "speed": ratio >= SPEED_BAR or args.quick,
          "memory": growth <= MEMORY_BAR}
    print(f"\nWan2.1 in minisora vs diffusers {__import__('diffusers').__version__}, torch {torch.__version__}, "
          f"{args.threads} threads")
    for name, e in errs.items():
        print(f"  parity  {name:32s} rel. max error {e:.2e}   (bar <= {PARITY_BAR:g})")
    cfg = f"{size.dim} wide, {size.layers} layers, {call['num_frames']}x{call['height']}x{call['width']}, " \
          f"{call['num_inference_steps']} steps, CFG"
    print(f"  speed   {cfg}: diffusers {sp['diffusers_s']:.1f} s, minisora {sp['minisora_s']:.1f} s "
          f"-> {ratio:.2f}x   (bar >= {SPEED_BAR}{', not judged with --quick' if args.quick else ''})")
    print(f"          minisora split: {json.dumps({k: v for k, v in sp['split'].items() if k != 'load'})}")
    print(f"  memory  VAE decode {MEMORY_VAE['size']}x{MEMORY_VAE['size']} (base {MEMORY_VAE['base_dim']}): "
          f"activation peak 17 frames {act[17]:.0f} MB, 81 frames {act[81]:.0f} MB -> {growth:.2f}x "
          f"(total RSS {mem[17]['peak_mb']:.0f} / {mem[81]['peak_mb']:.0f} MB)   (bar <= {MEMORY_BAR}x)")
    print("  bars: " + ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in ok.items()))
    return 0 if all(ok.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
