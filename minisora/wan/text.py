"""Wan2.1's text encoder: umT5 through transformers' `UMT5EncoderModel`, with the folder's tokenizer.

Loaded only for Wan folders (minisora's own models keep the MiniLM path of text/encoder.py). A prompt
is cleaned (HTML entities, whitespace; ftfy when installed), tokenized to at most `max_length` tokens,
encoded with its attention mask, and the padding positions are set to zero: the transformer then
sees `max_length` (512) tokens with no mask, which is how Wan2.1 was trained.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import torch

from minisora.wan.folder import WanFolderError, check_shapes, tensor_shapes

# Keys transformers ties to `shared.weight` and so may be absent from a saved checkpoint.
TIED_KEYS = ("encoder.embed_tokens.weight",)


def clean_prompt(text: str) -> str:
    try:
        import ftfy

        text = ftfy.fix_text(text)
    except ImportError:
        pass
    text = html.unescape(html.unescape(text)).strip()
    return re.sub(r"\s+", " ", text).strip()


class UMT5TextEncoder:
    """encode(texts) -> (B, max_length, d_model) float32 tokens, zero after each prompt's end."""

    def __init__(self, tokenizer, model, max_length: int = 512):
        self.tokenizer = tokenizer
        self.model = model
        self.max_length = max_length

    @property
    def dim(self) -> int:
        return self.model.config.d_model

    @classmethod
    def from_pretrained(cls, folder: str | Path, dtype: torch.dtype = torch.float32, max_length: int = 512):
        """`folder` is the Wan folder: its text_encoder/ and tokenizer/ are loaded."""
        from transformers import AutoTokenizer, UMT5Config, UMT5EncoderModel

        folder = Path(folder)
        enc_dir, tok_dir = folder / "text_encoder", folder / "tokenizer"
        cfg = json.loads((enc_dir / "config.json").read_text())
        if cfg.get("model_type") not in ("umt5", "t5"):
            raise WanFolderError(f"component 'text_encoder': model_type is {cfg.get('model_type')!r}, expected 'umt5' "
                                 f"(transformers UMT5EncoderModel)")
        config = UMT5Config.from_pretrained(str(enc_dir))
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in UMT5EncoderModel(config).state_dict().items()}
        check_shapes("text_encoder", expected, tensor_shapes(enc_dir, "text_encoder"), optional=TIED_KEYS)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
        except (OSError, ValueError) as e:
            raise WanFolderError(f"component 'tokenizer': {tok_dir} cannot be loaded: {e}") from None
        model = UMT5EncoderModel.from_pretrained(str(enc_dir), dtype=dtype).eval()
        return cls(tokenizer, model, max_length)

    @torch.no_grad()
    def encode(self, texts: list[str]) -> torch.Tensor:
        batch = self.tokenizer([clean_prompt(t) for t in texts], padding="max_length", max_length=self.max_length,
                               truncation=True, add_special_tokens=True, return_attention_mask=True,
                               return_tensors="pt")
        device = next(self.model.parameters()).device
        mask = batch.attention_mask.to(device)
        h = self.model(batch.input_ids.to(device), mask).last_hidden_state.float()  # B, L, d
        # Wan's convention: each prompt's tokens up to its length, zeros after, no mask downstream.
        keep = (torch.arange(h.shape[1], device=device)[None] < mask.gt(0).sum(1, keepdim=True))  # B, L
        return (h * keep[..., None]).cpu()  # B, L, d
