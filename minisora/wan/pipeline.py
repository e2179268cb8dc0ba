"""Wan2.1 text-to-video in minisora's own modules: `WanVideoPipeline`.

The transformer is minisora's DiT holding Wan's weights (folder.py), the VAE is wan/vae.py, the text
encoder is umT5 through transformers (wan/text.py), and sampling is minisora's flow sampler on the
folder's schedule. The call takes the keyword arguments of `minisora.pipeline.Pipeline.__call__` and
returns its `PipelineOutput`, so the CLI, the server and the cascade see one interface.

The Sora editing features (image-to-video, extend forward/backward, loop, connect) work on Wan2.1,
a model with no frame-conditioning channels, by training-free latent replacement: the given latent
frames are re-noised to the current t and put into x before every transformer evaluation
(flow/samplers.py, replace_given). minisora's own models instead see the given frames through
trained mask channels. SDEdit (video + strength) starts from the clip's latent noised to `strength`.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Callable

import torch

from minisora.wan.folder import CONVERTED_FORMAT, WanFolderError, check_wan_folder, load_wan_transformer

# Wan2.1-T2V's usual settings (its README / diffusers example): 832x480, 81 frames at 16 fps.
DEFAULTS = dict(num_frames=81, height=480, width=832, num_inference_steps=50, guidance_scale=5.0, fps=16.0)
EXTEND_CONTEXT = 2  # latent frames of an input clip given as context when extending / connecting
# the folder's scheduler -> minisora's sampler for it (flow/samplers.py), on the scheduler's own grid
SCHEDULERS = {"FlowMatchEulerDiscreteScheduler": "euler", "UniPCMultistepScheduler": "unipc"}
SAMPLERS = ("unipc", "euler", "heun")


def read_schedule(folder: Path) -> tuple[float, int, str]:
    """(shift, num_train_timesteps, sampler) from scheduler/scheduler_config.json: a FlowMatchEuler
    folder samples with Euler on its grid, a UniPC folder (Wan2.1's release) with UniPC on its grid."""
    index = json.loads((folder / "model_index.json").read_text())
    if index.get("format") == CONVERTED_FORMAT:
        return float(index["shift"]), int(index["num_train_timesteps"]), str(index["sampler"])
    f = folder / "scheduler" / "scheduler_config.json"
    if not f.is_file():
        raise WanFolderError(f"component 'scheduler': {f} is missing")
    cfg = json.loads(f.read_text())
    name = cfg.get("_class_name")
    if name not in SCHEDULERS:
        raise WanFolderError(f"component 'scheduler': _class_name is {name!r}; supported: {', '.join(SCHEDULERS)}")
    unipc_ok = (cfg.get("solver_type", "bh2") == "bh2" and cfg.get("predict_x0", True) and not cfg.get("disable_corrector")
                and cfg.get("final_sigmas_type", "zero") == "zero" and cfg.get("lower_order_final", True)
                and not cfg.get("thresholding"))
    if name == "UniPCMultistepScheduler" and not unipc_ok:
        raise WanFolderError("component 'scheduler': UniPC is supported with solver_type='bh2', predict_x0=true, "
                             "lower_order_final=true, final_sigmas_type='zero', no disabled corrector, no thresholding")
    if cfg.get("use_dynamic_shifting") or cfg.get("invert_sigmas") or cfg.get("shift_terminal") \
            or any(cfg.get(k) for k in ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas")):
        raise WanFolderError("component 'scheduler': dynamic shifting, inverted, terminal-stretched or "
                             "karras/exponential/beta sigmas are not supported (Wan2.1 uses a fixed shift)")
    flow = cfg.get("use_flow_sigmas") and cfg.get("prediction_type") == "flow_prediction"
    if name == "UniPCMultistepScheduler" and not flow:
        raise WanFolderError("component 'scheduler': a UniPC scheduler must have use_flow_sigmas=true and "
                             "prediction_type='flow_prediction' (a flow-matching model)")
    shift = cfg.get("shift") if name == "FlowMatchEulerDiscreteScheduler" else cfg.get("flow_shift")
    return float(shift if shift is not None else 1.0), int(cfg.get("num_train_timesteps", 1000)), SCHEDULERS[name]


class WanVideoPipeline:
    """Generate with a Wan2.1 T2V folder. Components stay on `device` unless `offload`, in which case
    each moves to it only while it runs (the text encoder always runs on the CPU then)."""

    def __init__(self, transformer, vae, text_encoder, shift: float, num_train_timesteps: int = 1000,
                 sampler: str = "euler", folder: Path | None = None, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, offload: bool = False, rewriter=None):
        self.transformer, self.vae, self.text_encoder = transformer, vae, text_encoder
        self.shift, self.num_train_timesteps, self.sampler = shift, num_train_timesteps, sampler
        self.solver_order = 2  # UniPC's order (Wan2.1's scheduler config)
        self.folder, self.device, self.dtype, self.offload = folder, torch.device(device), dtype, offload
        self.rewriter = rewriter  # None, or an OpenAI-compatible rewriter (text/openai_backend.py); never the builtin
        self.load_seconds: dict[str, float] = {}
        if not offload:
            for m in (transformer, vae, text_encoder.model):
                m.to(self.device)

    @classmethod
    def from_pretrained(cls, path: str | Path, dtype: torch.dtype | None = None, offload: bool = False,
                        device: str | torch.device | None = None, rewriter=None) -> "WanVideoPipeline":
        """Load a diffusers-layout Wan2.1 T2V folder. dtype: None = bf16 on CUDA, fp32 on CPU;
        offload: keep components on the CPU and move each to the GPU only while it runs."""
        from minisora.wan.text import UMT5TextEncoder
        from minisora.wan.vae import WanVAE

        from minisora.dit.model import DiT

        folder = Path(path)
        index = check_wan_folder(folder)
        converted = index.get("format") == CONVERTED_FORMAT
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        dtype = dtype or (torch.bfloat16 if device.type == "cuda" else torch.float32)
        shift, ntt, sampler = read_schedule(folder)
        seconds, t0 = {}, time.perf_counter()
        if converted:
            transformer = DiT.from_pretrained(folder / "transformer", dtype=dtype).eval()
        else:
            transformer = load_wan_transformer(folder / "transformer", dtype=dtype)
        seconds["transformer"], t0 = time.perf_counter() - t0, time.perf_counter()
        vae = (WanVAE.from_minisora if converted else WanVAE.from_pretrained)(folder / "vae", dtype=dtype)
        seconds["vae"], t0 = time.perf_counter() - t0, time.perf_counter()
        text = UMT5TextEncoder.from_pretrained(folder, dtype=dtype)
        seconds["text_encoder"] = time.perf_counter() - t0
        if text.dim != transformer.config.text_dim:
            raise WanFolderError(f"component 'text_encoder': d_model={text.dim}, but the transformer's text_dim is "
                                 f"{transformer.config.text_dim}")
        pipe = cls(transformer, vae, text, shift, ntt, sampler, folder=folder, device=device, dtype=dtype,
                   offload=offload, rewriter=rewriter)
        pipe.load_seconds = {k: round(v, 4) for k, v in seconds.items()}
        return pipe

    # -------------------------------------------------------------------------- placement
    @contextlib.contextmanager
    def _placed(self, module: torch.nn.Module):
        """With offload, `module` lives on the device only inside this context."""
        if self.offload:
            module.to(self.device)
        try:
            yield
        finally:
            if self.offload:
                module.to("cpu")
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()

    def check_size(self, num_frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        """Latent (C, T', H', W') of a clip, or a ValueError naming the nearest valid values (as Pipeline's)."""
        from minisora.conditioning_plan import check_clip_size

        check_clip_size(num_frames, height, width, self.vae.temporal_factor, self.vae.spatial_factor,
                        self.transformer.config.patch_size)
        return self.vae.latent_shape(num_frames, height, width)

    def _encode_text(self, texts: list[str]) -> torch.Tensor:
        return self.text_encoder.encode(texts).to(self.device, self.dtype)  # B, 512, Dt

    def encode_video(self, frames, height: int, width: int) -> torch.Tensor:
        """uint8 (T, H, W, 3) -> normalised latent (1, 16, T', H', W') float32 on the CPU."""
        from minisora.conditioning_plan import to_model_video

        with self._placed(self.vae):
            return self.vae.encode(to_model_video(frames, height, width).to(self.device, self.dtype)).float().cpu()

    # -------------------------------------------------------------------------- generation
    @torch.no_grad()
    def __call__(self, prompt: str, negative_prompt: str | None = None, num_frames: int | None = None,
                 height: int | None = None, width: int | None = None, num_inference_steps: int | None = None,
                 guidance_scale: float | None = None, seed: int | None = None,
                 generator: torch.Generator | None = None, rewrite: bool = True, image=None, video=None,
                 strength: float = 0.8, extend: str | None = None, connect: tuple | None = None,
                 loop: bool = False, callback: Callable[[int, float, torch.Tensor], None] | None = None,
                 sampler: str | None = None, fps: float | None = None, progress: bool = True,
                 return_latents: bool = False, keep_given_frame: bool = True, upscale: int | None = None,
                 upscale_time: int | None = None, force: bool = False):
        """Generate one clip; the arguments mean what they mean for `minisora.pipeline.Pipeline.__call__`.

        negative_prompt: encoded for the unconditional branch (None = "", as diffusers' WanPipeline);
        generator: draws the same initial noise as diffusers' WanPipeline with the same generator;
        rewrite: applies only an explicitly given rewriter (the OpenAI-compatible backend);
        upscale / upscale_time: minisora's cascade stage is not available for Wan (must be 1 or None);
        force: accepted for interface compatibility (no memory estimate is made here).
        Returns a PipelineOutput with frames uint8 (T, H, W, 3).
        """
        from minisora.conditioning_plan import check_sampling, check_task, loop_plan, plan_conditioning
        from minisora.flow.samplers import make_noise, sample, sample_unipc
        from minisora.flow.schedules import flow_match_times, unipc_flow_times
        from minisora.sampling import PipelineOutput, StepTimer, decode_frames

        timer = StepTimer()

        # 1. check inputs -------------------------------------------------------------------------
        for name, v in (("upscale", upscale), ("upscale_time", upscale_time)):
            if v not in (None, 1):
                raise ValueError(f"{name}={v!r} is not available for a Wan model: minisora's upscaler is a second "
                                 f"stage trained with minisora's own models; use {name}=1 (or None)")
        num_frames = DEFAULTS["num_frames"] if num_frames is None else num_frames
        height = DEFAULTS["height"] if height is None else height
        width = DEFAULTS["width"] if width is None else width
        steps = DEFAULTS["num_inference_steps"] if num_inference_steps is None else num_inference_steps
        guidance = DEFAULTS["guidance_scale"] if guidance_scale is None else float(guidance_scale)
        method = sampler or self.sampler
        fps = float(fps or DEFAULTS["fps"])
        if method not in SAMPLERS:
            raise ValueError(f"sampler={method!r} is not valid for a Wan model; choose one of {', '.join(SAMPLERS)}")
        check_sampling(prompt, negative_prompt, steps, guidance, "euler", seed, generator)  # sampler checked above
        task = check_task(image, video, strength, extend, connect, loop)
        tf = self.vae.temporal_factor
        latent_shape = self.check_size(num_frames, height, width)  # C, T', H', W'
        Tl = latent_shape[1]
        if task in ("extend", "connect", "loop") and Tl < 2 + (task == "connect"):
            raise ValueError(f"{task} needs num_frames >= {1 + (1 + (task == 'connect')) * tf}, got {num_frames}")
        if seed is None and generator is None:
            seed = int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF
        timer.lap("check")

        # 2. rewrite (only with an explicitly configured rewriter) --------------------------------
        caption, report = prompt, None
        if rewrite and self.rewriter is not None:
            res = self.rewriter.rewrite(prompt, seed=int(seed or 0))
            caption, report = res.caption, json.loads(json.dumps(res.to_dict(), default=str))
        timer.lap("rewrite")

        # 3. encode text: the prompt, and the negative prompt for CFG (as diffusers: None -> "") ---
        texts = [caption] + ([negative_prompt or ""] if guidance > 1.0 else [])
        tokens = self._encode_text(texts)  # 1 or 2, 512, Dt (with offload, encoded on the CPU)
        pooled = torch.zeros(1, self.transformer.config.text_dim, device=self.device, dtype=self.dtype)
        mask = torch.ones(1, tokens.shape[1], dtype=torch.bool, device=self.device)  # Wan: no text mask
        cond = {"text_tokens": tokens[:1], "text_mask": mask, "text_pooled": pooled}
        uncond = {"text_tokens": tokens[1:], "text_mask": mask, "text_pooled": pooled} if guidance > 1.0 else None
        timer.lap("encode_text")

        # 4. prepare latents and conditioning ----------------------------------------------------
        if generator is not None:
            noise = torch.randn((1, *latent_shape), generator=generator, dtype=torch.float32)
        else:
            noise = make_noise((1, *latent_shape), seed)  # 1, C, T', H', W'
        plan = plan_conditioning(task, latent_shape, height, width, encode=self.encode_video, temporal_factor=tf,
                                 extend_context=EXTEND_CONTEXT, image=image, video=video, extend=extend,
                                 connect=connect, strength=strength)
        timer.lap("prepare")

        # 5. denoise on the scheduler's grid, given frames by latent replacement -------------------
        model_fn = self._model_fn(callback)

        def run(p) -> torch.Tensor:
            dev = lambda x: None if x is None else x.to(self.device)  # noqa: E731
            given = dict(cond=cond, uncond=uncond, guidance_scale=guidance, frame_cond=dev(p.frame_cond),
                         frame_mask=dev(p.frame_mask), x_init=dev(p.x_init), strength=p.strength, progress=progress)
            if method == "unipc":
                times, model_times = unipc_flow_times(steps, self.shift, self.num_train_timesteps)
                out = sample_unipc(model_fn, noise.to(self.device), times=times, model_times=model_times,
                                   order=self.solver_order, **given)
            else:
                times = flow_match_times(steps, self.shift, self.num_train_timesteps)
                out = sample(model_fn, noise.to(self.device), steps=steps, method=method, times=times,
                             replace_given=True, **given)
            return out.float().cpu()

        with self._placed(self.transformer):
            if plan.needs_first_pass:  # loop without an image: a first pass draws the frame at both ends
                plan = loop_plan(run(plan)[:, :, :1], latent_shape)
            latents = run(plan)
        timer.lap("denoise")

        # 6. decode ---------------------------------------------------------------------------------
        with self._placed(self.vae):
            frames = decode_frames(self.vae, latents)[0]  # T, H, W, 3
        if keep_given_frame and plan.given_frame0 is not None:
            frames[0] = plan.given_frame0
        frames = frames[plan.keep]
        timer.lap("decode")

        # 7. return ---------------------------------------------------------------------------------
        timings = timer.finish(self.load_seconds)
        settings = {"num_frames": num_frames, "height": height, "width": width, "num_inference_steps": steps,
                    "guidance_scale": guidance, "sampler": method, "shift": round(self.shift, 6),
                    "rewrite": report is not None, "task": task, "strength": strength if task == "sdedit" else None,
                    "extend": extend, "loop": loop, "upscale": 1, "upscale_time": 1,
                    "keep_given_frame": keep_given_frame if task in ("i2v", "loop") else None,
                    "model": str(self.folder) if self.folder else None, "architecture": "wan2.1",
                    "given_frames": "latent replacement" if task not in ("t2v", "sdedit") else None,
                    "dtype": str(self.dtype).replace("torch.", ""), "offload": self.offload}
        return PipelineOutput(frames=frames, fps=fps, prompt=prompt, caption=caption, negative_prompt=negative_prompt,
                              seed=seed, settings=settings, timings=timings, rewrite=report,
                              latents=latents if return_latents else None)

    def _model_fn(self, callback):
        from minisora.generation_checks import check_finite

        dit, calls = self.transformer, [0]

        def fn(x, t, **kw):
            if callback is not None:
                callback(calls[0], float(t[0]), x[:1])
            calls[0] += 1
            v = dit(x.to(self.dtype), t, **kw).float()
            check_finite(v, f"the transformer's velocity at evaluation {calls[0]} (t={float(t[0]):.3f})")
            return v

        return fn
