"""The text-to-video pipeline: prompt -> rewrite -> text encoder -> DiT sampling -> VAE decode -> frames.

Shaped like a diffusers pipeline:

    pipe = Pipeline.from_pretrained()            # None = the bundled default model, minisora-tiny
    out = pipe("a red circle moving right", seed=0)
    out.frames                                   # uint8 (T, H, W, 3)
    pipe.save_pretrained("my-model")

Three rooms: `minisora.model_folder` is the folder contract (model_index.json, which component lives
where), `minisora.conditioning_plan` turns a request (image, video, extend, connect, loop, strength)
into a typed plan of given latent frames, and this module loads the components and runs the numbered
steps of `Pipeline.__call__`. `denoise` and `decode_frames` are the one sampling path: training-time
sample videos (minisora.train.engine) call them too.

Components load lazily on first use, so `from_pretrained` is instant and a pipeline that only
rewrites never loads the VAE.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from minisora.conditioning_plan import (EXTEND_MODES, SAMPLERS, ConditioningPlan, check_sampling,  # noqa: F401
                                        check_clip_size, check_task, check_upscale, loop_plan, plan_conditioning, to_frames,
                                        to_model_video)
from minisora.dit.patchify import num_tokens
from minisora.generation_checks import check_finite, check_request
from minisora.flow.schedules import schedule_shift
from minisora.model_folder import (DEFAULT_MODEL_DIR, MODEL_INDEX_FORMAT, MODEL_INDEX_NAME,  # noqa: F401 (re-exported)
                                   GenerationDefaults, ModelIndex, RewriterRef, SchedulerConfig, TextEncoderRef)
from minisora.precision import resolve_dtype
from minisora.sampling import PipelineOutput, StepTimer, decode_frames, denoise  # noqa: F401 (re-exported)

class Pipeline:
    """Text (+ image / video) to video. Build with `from_pretrained(path)` or from components."""

    def __init__(self, vae=None, transformer=None, text_encoder=None, rewriter=None,
                 index: ModelIndex | None = None, folder: str | Path | None = None,
                 dtype: torch.dtype | None = None, upscaler=None, upscale: int = 1, upscale_time: int = 1):
        self.index = index or ModelIndex()
        self.folder = Path(folder) if folder is not None else None
        self._vae, self._transformer, self._text_encoder, self._rewriter = vae, transformer, text_encoder, rewriter
        self._upscaler = upscaler
        # the cascade's default factors for every call (each call may override them)
        self.upscale, self.upscale_time = check_upscale(upscale, upscale_time)
        # bf16 only where the CPU/GPU multiplies it natively (minisora.precision; MINISORA_PRECISION overrides)
        self.dtype = dtype or resolve_dtype("auto")
        self.load_seconds: dict[str, float] = {}
        if transformer is not None:
            self._prepare_transformer(transformer)

    # -------------------------------------------------------------------------- loading
    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, dtype: torch.dtype | None = None,
                        load: bool = False, upscale: int = 1, upscale_time: int = 1,
                        offload: bool = False) -> "Pipeline":
        """Open a model folder (None = the bundled minisora-tiny). Components load on first use;
        `load=True` loads them all now. upscale (1, 2, 4) and upscale_time (1, 2): the cascade's
        default factors (generate small, then the upscaler enlarges in space and frame rate); offload
        (Wan2.1 folders only): components move to the GPU one at a time."""
        folder = Path(path) if path is not None else DEFAULT_MODEL_DIR
        from minisora.wan.folder import is_wan_folder  # Wan2.1 folders run in minisora/wan's pipeline
        if is_wan_folder(folder):
            from minisora.wan.pipeline import WanVideoPipeline
            return WanVideoPipeline.from_pretrained(folder, dtype=dtype, offload=offload)
        if not folder.is_dir():
            hint = " (the bundled model is missing: run `make train-default`)" if path is None else ""
            raise FileNotFoundError(f"model folder {str(folder)!r} does not exist{hint}")
        pipe = cls(index=ModelIndex.load(folder), folder=folder, dtype=dtype, upscale=upscale,
                   upscale_time=upscale_time)
        for name in ("vae", "transformer"):
            sub = folder / getattr(pipe.index, name)
            if not (sub / "model.safetensors").is_file():
                raise FileNotFoundError(f"{str(folder)!r}: component {name!r} has no weights at {str(sub)!r}")
        if load:
            pipe.load_all()
        return pipe

    def load_all(self) -> "Pipeline":
        _ = self.vae, self.transformer, self.text_encoder, self.rewriter
        if self.upscale > 1 or self.upscale_time > 1:
            _ = self.upscaler
        return self

    @property
    def _precision(self) -> str:
        """The convolutional components compute in the pipeline's dtype (bf16 autocast or fp32)."""
        return "bf16" if self.dtype == torch.bfloat16 else "fp32"

    def _component_dir(self, rel: str) -> Path:
        if self.folder is None:
            raise ValueError(f"component {rel!r} was not given and this pipeline has no model folder to load it from")
        return self.folder / rel

    @property
    def vae(self):
        if self._vae is None:
            from minisora.vae.model import VideoVAE

            t0 = time.perf_counter()
            self._vae = VideoVAE.from_pretrained(self._component_dir(self.index.vae)).set_precision(self._precision)
            self.load_seconds["vae"] = time.perf_counter() - t0
        return self._vae

    @property
    def transformer(self):
        if self._transformer is None:
            from minisora.dit.model import DiT

            t0 = time.perf_counter()
            self._prepare_transformer(DiT.from_pretrained(self._component_dir(self.index.transformer), dtype=self.dtype))
            self.load_seconds["transformer"] = time.perf_counter() - t0
        return self._transformer

    def _prepare_transformer(self, model) -> None:
        self._transformer = model.to(self.dtype).eval().requires_grad_(False)

    @property
    def text_encoder(self):
        if self._text_encoder is None:
            from minisora.text.encoder import shared_encoder

            t0 = time.perf_counter()
            self._text_encoder = shared_encoder(self.index.text_encoder.encoder_config())
            self.load_seconds["text_encoder"] = time.perf_counter() - t0
        return self._text_encoder

    @property
    def upscaler(self):
        """The super-resolution stage (`minisora.upscale.model.Upscaler`), loaded on first use."""
        if self._upscaler is None:
            from minisora.upscale.model import Upscaler

            if not self.index.upscaler:
                raise ValueError("this model has no upscaler (model_index.json: upscaler is empty); "
                                 "generate with upscale=1 and upscale_time=1, or run `minisora upscale` with one")
            folder = self._component_dir(self.index.upscaler)
            if not (folder / "model.safetensors").is_file():
                raise FileNotFoundError(f"upscale was asked for but {str(folder)!r} holds no upscaler weights "
                                        f"(train one with `minisora train-upscaler`)")
            t0 = time.perf_counter()
            self._upscaler = Upscaler.from_pretrained(folder).set_precision(self._precision)
            self.load_seconds["upscaler"] = time.perf_counter() - t0
        return self._upscaler

    @property
    def rewriter(self):
        """An object with `.rewrite(prompt, seed) -> RewriteResult`, or None when the index has none."""
        if self._rewriter is None and self.index.rewriter.backend != "none":
            from minisora.text.backends import load_rewriter

            t0 = time.perf_counter()
            ref = self.index.rewriter
            path = str(self._component_dir(ref.path)) if ref.backend == "builtin" else (ref.path or None)
            self._rewriter = load_rewriter(backend=ref.backend, path=path)
            self.load_seconds["rewriter"] = time.perf_counter() - t0
        return self._rewriter

    # -------------------------------------------------------------------------- saving
    def save_pretrained(self, path: str | Path, dtype: torch.dtype = torch.bfloat16) -> Path:
        """Write model_index.json, vae/, transformer/ (and rewriter/ when the index has a builtin one,
        upscaler/ when this pipeline has one)."""
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        self.vae.save_pretrained(out / self.index.vae, dtype=dtype)
        self.transformer.save_pretrained(out / self.index.transformer, dtype=dtype)
        ref = self.index.rewriter
        rw = self._rewriter if hasattr(self._rewriter, "save_pretrained") else None
        if ref.backend == "builtin" and not self._save_component(rw, ref.path, out, {}):
            raise ValueError("the index names a builtin rewriter but this pipeline has none to save")
        if self.index.upscaler:  # optional stage: saved when loaded or present in the source folder
            self._save_component(self._upscaler, self.index.upscaler, out, {"dtype": dtype})
        self.index.save(out)
        return out

    def _save_component(self, loaded, rel: str, out: Path, kw: dict) -> bool:
        """Write component `rel` into `out`: from the loaded object when there is one, else copied
        from this pipeline's folder (untouched components need not be loaded to be saved).
        Returns False when there is neither."""
        dst, src = out / rel, self.folder / rel if self.folder is not None else None
        if loaded is not None:
            loaded.save_pretrained(dst, **kw)
        elif src is not None and src.is_dir() and any(src.iterdir()):
            if src.resolve() != dst.resolve():
                shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            return False
        return True

    # -------------------------------------------------------------------------- geometry
    @property
    def vae_factors(self) -> tuple[int, int]:
        return self.vae.temporal_factor, self.vae.spatial_factor

    def check_size(self, num_frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        """Latent (C, T', H', W') for a clip, or a ValueError naming the nearest valid values."""
        check_clip_size(num_frames, height, width, *self.vae_factors, self.transformer.config.patch_size)
        return self.vae.latent_shape(num_frames, height, width)

    # -------------------------------------------------------------------------- encoding helpers
    @torch.no_grad()
    def encode_video(self, frames: np.ndarray, height: int, width: int) -> torch.Tensor:
        """uint8 (T, H, W, 3), T = 1 + k*temporal_factor -> normalised latent (1, C, T', H', W')."""
        return self.vae.encode(to_model_video(frames, height, width)).float()

    def _encode_text(self, texts: list[str], scenes: list | None = None):
        """Encode `texts`; with object slots, each text's slots come from its parsed scene (`scenes[i]`,
        the rewriter's parse of its caption), or from parsing the text where none is given."""
        slots = None
        if self.text_encoder.config.object_slots:
            from minisora.world.grammar import parse
            from minisora.world.slots import scene_slots

            scenes = scenes or [None] * len(texts)
            slots = scene_slots([s if s is not None else parse(t) for t, s in zip(texts, scenes)])
        emb = self.text_encoder.encode(texts, slots=slots)
        L = self.transformer.config.text_len
        if emb.tokens.shape[1] != L or emb.tokens.shape[2] != self.transformer.config.text_dim:
            raise ValueError(f"text encoder gives tokens {tuple(emb.tokens.shape[1:])} but the transformer "
                             f"expects ({L}, {self.transformer.config.text_dim})")
        return emb

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
                 upscale_time: int | None = None, force: bool = False) -> PipelineOutput:
        """Generate one clip.

        prompt: what to show (rewritten into a descriptive caption unless rewrite=False);
        negative_prompt: replaces the unconditional branch of classifier-free guidance;
        num_frames = 1 + k*4 (1 = a single image); height, width: multiples of 16;
        num_inference_steps, guidance_scale (1 = CFG off): sampling; seed or generator: all noise;
        image: first frame (image-to-video; also the loop frame with loop=True);
        video + strength in (0, 1]: SDEdit re-generation of a clip of num_frames frames;
        video + extend="forward"|"backward": a new clip continuing the video after its end / before its
        start (returns only the new frames);
        connect=(clip_a, clip_b): the frames joining the end of a to the start of b (new frames only);
        loop: a clip whose last frame leads back into its first;
        callback(i, t, x_t): called at every transformer evaluation with the current latents;
        keep_given_frame: with image=, return the image itself as frame 0 (resized to the clip) rather
        than its VAE reconstruction, which a small VAE blurs; the motion is generated from the latent;
        upscale (1, 2 or 4) and upscale_time (1 or 2): the cascade's second stage enlarges the decoded
        clip in space and doubles its frame rate (T -> 2T - 1 frames, same duration); None = the
        pipeline's defaults (`Pipeline.from_pretrained(..., upscale=2)`);
        force: run even when the memory estimate exceeds what the machine has (minisora.generation_checks).
        Returns a PipelineOutput (frames uint8 (T, H, W, 3)).
        """
        d = self.index.defaults
        timer = StepTimer()

        # 1. check inputs -------------------------------------------------------------------------
        num_frames = d.num_frames if num_frames is None else num_frames
        height = d.height if height is None else height
        width = d.width if width is None else width
        steps = d.num_inference_steps if num_inference_steps is None else num_inference_steps
        guidance = d.guidance_scale if guidance_scale is None else float(guidance_scale)
        method = sampler or self.index.scheduler.method
        fps = float(fps or d.fps)
        upscale, upscale_time = check_upscale(self.upscale if upscale is None else upscale,
                                               self.upscale_time if upscale_time is None else upscale_time)
        check_sampling(prompt, negative_prompt, steps, guidance, method, seed, generator)
        task = check_task(image, video, strength, extend, connect, loop)
        latent_shape = self.check_size(num_frames, height, width)  # C, T', H', W'  (loads VAE + DiT)
        check_request(self, num_frames, height, width, latent_shape, guidance, upscale, force)  # memory, trained sizes
        C, Tl, Hl, Wl = latent_shape
        if task in ("extend", "connect", "loop") and Tl < 2 + (task == "connect"):
            need = 1 + (1 + (task == "connect")) * self.vae.temporal_factor
            raise ValueError(f"{task} needs num_frames >= {need} (at least one latent frame besides the given ones), "
                             f"got num_frames={num_frames}")
        if seed is None and generator is None:
            seed = int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF
        if d.window_frames and num_frames > d.window_frames and task in ("t2v", "i2v"):
            # 1b. longer than the training window: forward extensions, window by window
            from minisora.long_clips import generate_in_windows

            return generate_in_windows(
                self, prompt, num_frames=num_frames, window=d.window_frames, seed=seed, generator=generator,
                upscale=upscale, upscale_time=upscale_time, progress=progress, negative_prompt=negative_prompt,
                height=height, width=width, num_inference_steps=steps, guidance_scale=guidance, rewrite=rewrite,
                image=image, callback=callback, sampler=method, fps=fps, keep_given_frame=keep_given_frame)
        timer.lap("check")

        # 2. rewrite the prompt into a descriptive caption ---------------------------------------
        report = None
        caption, scene = prompt, None
        if rewrite and self.rewriter is not None:
            res = self.rewriter.rewrite(prompt, seed=int(seed or 0))
            caption, scene = res.caption, getattr(res, "scene", None)  # parsed once, by the rewriter
            raw = res.to_dict() if hasattr(res, "to_dict") else dataclasses.asdict(res)
            report = json.loads(json.dumps(raw, default=str))  # JSON-safe for the sidecar
        timer.lap("rewrite")

        # 3. encode text (conditional branch + the unconditional one for CFG) ---------------------
        dit = self.transformer
        emb = self._encode_text([caption], [scene])
        cond = {"text_tokens": emb.tokens, "text_mask": emb.mask, "text_pooled": emb.pooled}
        uncond = None
        if guidance != 1.0:
            if negative_prompt:
                ne = self._encode_text([negative_prompt])
                uncond = {"text_tokens": ne.tokens, "text_mask": ne.mask, "text_pooled": ne.pooled}
            else:
                tok, mask, pooled = dit.null_text(1, emb.tokens.shape[1])
                uncond = {"text_tokens": tok.float(), "text_mask": mask, "text_pooled": pooled.float()}
        timer.lap("encode_text")

        # 4. prepare latents and conditioning ----------------------------------------------------
        if generator is not None:
            noise = torch.randn((1, *latent_shape), generator=generator, dtype=torch.float32)
        else:
            from minisora.flow.samplers import make_noise

            noise = make_noise((1, *latent_shape), seed)  # 1, C, T', H', W'
        plan = plan_conditioning(task, latent_shape, height, width, encode=self.encode_video,
                                 temporal_factor=self.vae.temporal_factor, extend_context=d.extend_context,
                                 image=image, video=video, extend=extend, connect=connect, strength=strength)
        timer.lap("prepare")

        # 5. denoise ------------------------------------------------------------------------------
        shift = schedule_shift(self.index.scheduler, num_tokens((Tl, Hl, Wl), dit.config.patch_size))
        model_fn = self._model_fn(callback)
        sampling = dict(steps=steps, method=method, guidance=guidance, shift=shift, cond=cond, uncond=uncond,
                        progress=progress)
        if plan.needs_first_pass:
            # Loop without an image: a first pass draws the clip, its first latent frame becomes both ends.
            plan = loop_plan(denoise(model_fn, noise, **sampling)[:, :, :1], latent_shape)
        latents = denoise(model_fn, noise, plan=plan, **sampling)
        check_finite(latents, "the sampled latents")  # e.g. a guided velocity that overflowed
        timer.lap("denoise")

        # 6. decode --------------------------------------------------------------------------------
        frames = decode_frames(self.vae, latents)[0]  # T, H, W, 3
        if keep_given_frame and plan.given_frame0 is not None:
            frames[0] = plan.given_frame0
        frames = frames[plan.keep]
        timer.lap("decode")

        # 6b. upscale (the cascade's second stage; skipped at factors 1, 1) ----------------------------
        if upscale > 1 or upscale_time > 1:
            frames = self.upscaler(frames, scale=upscale, time_scale=upscale_time, seed=int(seed or 0),
                                   progress=progress)
            fps *= upscale_time
            timer.lap("upscale")

        # 7. return ---------------------------------------------------------------------------------
        timings = timer.finish(self.load_seconds)
        settings = {"num_frames": num_frames, "height": height, "width": width, "num_inference_steps": steps,
                    "guidance_scale": guidance, "sampler": method, "shift": round(shift, 6), "rewrite": bool(rewrite),
                    "task": task, "strength": strength if task == "sdedit" else None, "extend": extend,
                    "loop": loop, "upscale": upscale, "upscale_time": upscale_time,
                    "keep_given_frame": keep_given_frame if task in ("i2v", "loop") else None,
                    "model": str(self.folder) if self.folder else None,
                    "dtype": str(self.dtype).replace("torch.", "")}
        return PipelineOutput(frames=frames, fps=fps, prompt=prompt, caption=caption,
                              negative_prompt=negative_prompt, seed=seed, settings=settings, timings=timings,
                              rewrite=report, latents=latents if return_latents else None)

    def _model_fn(self, callback):
        dit = self.transformer
        calls = [0]

        def fn(x, t, **kw):
            if callback is not None:
                callback(calls[0], float(t[0]), x[:1])
            calls[0] += 1
            v = dit(x, t, **kw).float()
            check_finite(v, f"the transformer's velocity at evaluation {calls[0]} (t={float(t[0]):.3f})")
            return v

        return fn
