"""Request bodies -> checked job settings. JSON and multipart (what the SDK sends) read the same way.

Every field is checked here, before a job exists: unknown fields, wrong types and values outside what
the loaded model supports are 400s that name the field and list what would be valid. The worker
then only runs settings that were accepted.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request

from minisora.generation_checks import GUIDANCE_RANGE, SEED_RANGE
from minisora.serve.errors import APIError, bad_request
from minisora.serve.spec import ModelSpec

# OpenAI's model names, accepted so code written for the hosted API runs unchanged; the loaded model
# answers them all and is what every Video object reports.
OPENAI_MODEL = re.compile(r"sora-2(-pro)?(-\d{4}-\d{2}-\d{2})?")
UPSCALES = (1, 2, 4)  # minisora.upscale.config.SCALES, without importing torch into the server
MAX_PROMPT_CHARS = 4000
# the pipeline's own limits (minisora.generation_checks), checked here so a bad value is a 400, not a failed job
MAX_SEED = SEED_RANGE[1]

CREATE_FIELDS = ("prompt", "model", "seconds", "size", "input_reference", "seed", "num_inference_steps",
                 "guidance_scale", "loop", "upscale")
REMIX_FIELDS = ("prompt", "seed", "num_inference_steps", "guidance_scale", "strength")
EXTEND_FIELDS = ("prompt", "seconds", "video", "seed", "num_inference_steps", "guidance_scale")
_NESTED = re.compile(r"([A-Za-z_]+)\[([A-Za-z_]+)\]")  # multipart `video[id]` = JSON {"video": {"id": ...}}


async def read_fields(request: Request, allowed: tuple[str, ...]) -> "Fields":
    """The body as fields: a JSON object, or multipart / urlencoded form fields (nested `a[b]` keys
    become {"a": {"b": ...}}). 415 for any other content type."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "application/json":
        raw = await request.body()
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise APIError(400, f"the request body is not valid JSON: {e}", "invalid_json") from None
        if not isinstance(data, dict):
            raise APIError(400, f"the request body must be a JSON object, got {type(data).__name__}", "invalid_json")
        return Fields({k: v for k, v in data.items() if v is not None}, form=False, allowed=allowed)
    if media_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.form(max_files=2, max_fields=len(allowed) + 4, max_part_size=64 * 1024)
        data: dict[str, Any] = {}
        for key, value in form.multi_items():
            m = _NESTED.fullmatch(key)
            name, sub = (m[1], m[2]) if m else (key, None)
            if sub is not None:
                if not isinstance(data.setdefault(name, {}), dict):
                    raise bad_request(f"{name} is given both as a value and as {key}", name)
                target, slot = data[name], sub
            else:
                target, slot = data, name
            if slot in target:
                raise bad_request(f"{key} is given more than once", name)
            target[slot] = value
        return Fields(data, form=True, allowed=allowed)
    raise APIError(415, f"unsupported content type {media_type or '(none)'!r}: send application/json or "
                        f"multipart/form-data", "unsupported_media_type")


class Fields:
    """Typed access to request fields; form values arrive as strings and are parsed, JSON values must
    already have the right type (true, not "true"; 3, not "3")."""

    def __init__(self, data: dict[str, Any], form: bool, allowed: tuple[str, ...]):
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise APIError(400, f"unknown parameter {unknown[0]!r}; this endpoint takes {', '.join(allowed)}",
                           "unknown_parameter", unknown[0])
        self.data, self.form = data, form

    def _raw(self, name: str, required: bool):
        if name not in self.data:
            if required:
                raise APIError(400, f"missing required parameter {name!r}", "missing_required_parameter", name)
            return None
        value = self.data[name]
        if isinstance(value, UploadFile):
            raise bad_request(f"{name} must be a value, not a file upload", name, "invalid_type")
        return value

    def text(self, name: str, required: bool = False, max_chars: int = 256) -> str | None:
        value = self._raw(name, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise bad_request(f"{name} must be a string, got {type(value).__name__}", name, "invalid_type")
        if len(value) > max_chars:
            raise bad_request(f"{name} is {len(value)} characters long; at most {max_chars} are accepted", name)
        return value

    def integer(self, name: str, lo: int, hi: int) -> int | None:
        value = self._raw(name, False)
        if value is None:
            return None
        if self.form and isinstance(value, str) and re.fullmatch(r"-?\d{1,12}", value.strip()):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise bad_request(f"{name} must be an integer, got {value!r}"[:200], name, "invalid_type")
        if not lo <= value <= hi:
            raise bad_request(f"{name}={value} is out of range: use an integer from {lo} to {hi}", name)
        return value

    def number(self, name: str, lo: float, hi: float, lo_open: bool = False) -> float | None:
        value = self._raw(name, False)
        if value is None:
            return None
        if self.form and isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise bad_request(f"{name} must be a finite number, got {value!r}"[:200], name, "invalid_type")
        if value < lo or value > hi or (lo_open and value == lo):
            raise bad_request(f"{name}={value} is out of range: use a number in {'(' if lo_open else '['}{lo:g}, "
                              f"{hi:g}]", name)
        return float(value)

    def flag(self, name: str) -> bool | None:
        value = self._raw(name, False)
        if value is None:
            return None
        if self.form and isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise bad_request(f"{name} must be true or false, got {value!r}"[:200], name, "invalid_type")
        return value

    def choice(self, name: str, valid: tuple[str, ...], what: str) -> str | None:
        value = self.text(name)
        if value is not None and value not in valid:
            raise bad_request(f"{name}={value!r} is not supported by {what}; valid values: "
                              f"{', '.join(repr(v) for v in valid)}"[:1000], name, "unsupported_value")
        return value


@dataclass
class Common:
    """Settings every kind of job takes (extra fields beyond OpenAI's)."""

    prompt: str
    seed: int | None
    num_inference_steps: int
    guidance_scale: float


def common_fields(f: Fields, spec: ModelSpec, max_steps: int) -> Common:
    prompt = f.text("prompt", required=True, max_chars=MAX_PROMPT_CHARS)
    if not prompt.strip():
        raise bad_request("prompt must not be empty", "prompt")
    steps = f.integer("num_inference_steps", 1, max_steps)
    guidance = f.number("guidance_scale", *GUIDANCE_RANGE)
    return Common(prompt=prompt, seed=f.integer("seed", *SEED_RANGE),
                  num_inference_steps=spec.default_steps if steps is None else steps,
                  guidance_scale=spec.default_guidance if guidance is None else guidance)


def check_model(f: Fields, spec: ModelSpec) -> None:
    model = f.text("model")
    if model is not None and model != spec.name and not OPENAI_MODEL.fullmatch(model):
        raise bad_request(f"model={model!r} is not served here; valid values: {spec.name!r} (the loaded model), "
                          f"or an OpenAI name such as 'sora-2' or 'sora-2-pro', which it answers", "model",
                          "model_not_found")
