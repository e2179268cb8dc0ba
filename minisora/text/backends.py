"""`load_rewriter(backend)`: the prompt rewriter for a backend name ("builtin", "openai", "none")."""

from __future__ import annotations

from pathlib import Path

from minisora.config import from_dict
from minisora.text.config import REWRITER_BACKENDS, OpenAIConfig, RewriterConfig
from minisora.text.openai_backend import OpenAIRewriter
from minisora.text.rewriter import BuiltinRewriter, NoneRewriter


def load_rewriter(backend: str = "builtin", path: str | Path | None = None, **kw):
    """The rewriter for `backend` ("builtin" | "openai" | "none").

    builtin: `path` = released weights folder (default: the shipped minisora-tiny rewriter);
        keyword arguments go to `RewriterConfig` (candidates, max_tries, temperature, ...).
    openai: keyword arguments go to `OpenAIConfig` (base_url, model, api_key, timeout,
        fallback_to_builtin, ...); `path` is the builtin weights used when falling back.
    none: no arguments.
    """
    if backend == "builtin":
        return BuiltinRewriter(path, config=from_dict(RewriterConfig, kw) if kw else RewriterConfig())
    if backend == "openai":
        return OpenAIRewriter(from_dict(OpenAIConfig, kw) if kw else OpenAIConfig(), builtin_path=path)
    if backend == "none":
        if kw:
            raise TypeError(f"the 'none' rewriter takes no options, got {sorted(kw)}")
        return NoneRewriter()
    raise ValueError(f"unknown rewriter backend {backend!r}; valid: {', '.join(REWRITER_BACKENDS)}")
