"""What the loaded model can make, in the API's terms: `seconds` strings and "WxH" sizes.

The Videos API speaks in seconds and pixel sizes; a minisora-style pipeline speaks in frames
(num_frames = 1 + k * step) and (height, width). A clip of `s` seconds has 1 + s * fps frames, so
"2" at the bundled model's 8 fps is 17 frames. Valid seconds are the whole numbers up to
`max_seconds` whose frame count the model accepts; valid sizes are the sizes it was trained on.

The server reads only a pipeline's generation defaults and sizes: `pipe.index` (defaults,
trained_sizes, name) for minisora folders, or the `DEFAULTS` dict of the pipeline's module (Wan2.1's
`minisora.wan.pipeline`, whose size is its default size); frame counts are checked with
`pipe.check_size` where it exists, else by the VAE's temporal factor. So the bundled model, a trained
folder or a Wan2.1-class pipeline with the same call all serve unchanged.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import asdict, dataclass
from pathlib import Path


def format_seconds(value: float) -> str:
    """2.0 -> "2", 1.5 -> "1.5": the API's `seconds` is a string."""
    return f"{value:g}"


def format_size(height: int, width: int) -> str:
    return f"{width}x{height}"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    fps: float
    frame_step: int  # a clip has 1 + k * frame_step frames
    sizes: tuple[str, ...]  # "WxH", the model's default first
    seconds: tuple[str, ...]  # whole seconds the model can make, shortest first
    default_size: str
    default_seconds: str
    default_steps: int
    default_guidance: float
    # frames an extension window repeats from the clip it continues (the pipeline drops them)
    extend_context_frames: int

    def num_frames(self, seconds: str) -> int:
        return 1 + round(float(seconds) * self.fps)

    def seconds_for(self, num_frames: int) -> str:
        return format_seconds((num_frames - 1) / self.fps)

    @staticmethod
    def height_width(size: str) -> tuple[int, int]:
        from minisora.sizes import parse_size

        return parse_size(size)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelSpec":
        return cls(**{**d, "sizes": tuple(d["sizes"]), "seconds": tuple(d["seconds"])})

    @classmethod
    def from_pipeline(cls, pipe, max_seconds: int, name: str | None = None) -> "ModelSpec":
        """Read the spec off a loaded pipeline (this loads its VAE and transformer when it checks sizes)."""
        d, trained_sizes, index_name = _generation_defaults(pipe)
        fps = float(d["fps"])
        default_hw = (int(d["height"]), int(d["width"]))
        trained = [tuple(int(v) for v in hw) for hw in trained_sizes]
        sizes = [default_hw] + [hw for hw in trained if hw != default_hw]

        def frames_ok(n: int) -> bool:
            check = getattr(pipe, "check_size", None)
            if check is None:
                return (n - 1) % _temporal_step(pipe) == 0
            try:
                check(n, *default_hw)
                return True
            except ValueError:
                return False

        step = next((s for s in range(1, 17) if frames_ok(1 + s)), 4)
        seconds = [str(s) for s in range(1, max_seconds + 1)
                   if abs(s * fps - round(s * fps)) < 1e-9 and frames_ok(1 + round(s * fps))]
        if not seconds:
            raise ValueError(f"the model at {fps:g} fps makes no whole-second clip of at most {max_seconds} s "
                             f"(clips have 1 + k*{step} frames); raise --max-seconds")
        default_seconds = format_seconds((int(d["num_frames"]) - 1) / fps)
        if default_seconds not in seconds:
            default_seconds = seconds[0]
        context = max(0, int(d.get("extend_context", 1)) - 1) * step
        folder = getattr(pipe, "folder", None)
        return cls(name=name or index_name or (Path(folder).name if folder else "") or "minisora", fps=fps,
                   frame_step=step, sizes=tuple(format_size(h, w) for h, w in sizes), seconds=tuple(seconds),
                   default_size=format_size(*default_hw), default_seconds=default_seconds,
                   default_steps=int(d["num_inference_steps"]), default_guidance=float(d["guidance_scale"]),
                   extend_context_frames=context)


def _generation_defaults(pipe) -> tuple[dict, list, str]:
    """(defaults, trained (height, width) sizes, model name) of a minisora or a Wan2.1 pipeline."""
    index = getattr(pipe, "index", None)
    if index is not None:
        return dataclasses.asdict(index.defaults), list(index.trained_sizes or []), getattr(index, "name", "")
    module = sys.modules.get(type(pipe).__module__)
    defaults = getattr(module, "DEFAULTS", None)
    if not isinstance(defaults, dict):
        raise TypeError(f"{type(pipe).__name__} has neither `index.defaults` nor a module-level DEFAULTS dict: "
                        f"the server cannot tell which clip lengths and sizes it makes")
    return {**defaults, "extend_context": getattr(module, "EXTEND_CONTEXT", 1)}, [], ""


def _temporal_step(pipe) -> int:
    """Frames per latent frame times the transformer's temporal patch: clips have 1 + k * this frames."""
    try:
        return int(pipe.vae.temporal_factor) * int(pipe.transformer.config.patch_size[0])
    except AttributeError:
        return 4
