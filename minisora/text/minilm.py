"""A native BERT encoder (the architecture of all-MiniLM-L6-v2) and its WordPiece tokenizer.

Why this exists: the default text encoder is a 22M-parameter, 6-layer BERT whose forward pass on a
caption takes milliseconds, but loading it through transformers (`import transformers` plus
`AutoModel.from_pretrained`) took ~6 s of a ~9 s `minisora generate` on a 2-core CPU. BERT is small
enough to write out: embeddings, N post-LayerNorm encoder layers, an optional pooler. The weights
come straight from the folder's `model.safetensors` and the tokenizer from its `tokenizer.json` (the
Rust `tokenizers` package, the same backend transformers' fast tokenizer wraps), so loading is a
file read and the numbers equal transformers' `AutoModel` to float32 round-off (tests/test_text_encoder.py).

Only what a frozen text encoder needs is here: inference (no dropout, no gradients needed), absolute
position embeddings, the exact-erf "gelu". A folder asking for anything else raises
`UnsupportedModel` naming the value; `TextEncoder` then uses transformers for user-given folders
(minisora/text/encoder.py).

Shapes: B batch, L token length, D width (hidden_size), H heads, Dh = D / H, F intermediate_size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class UnsupportedModel(ValueError):
    """The folder holds something this native BERT does not implement (config value, file, weights)."""


def _read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ----------------------------------------------------------------------------------------------- config

@dataclass(frozen=True)
class BertConfig:
    """The fields of a Hugging Face BERT config.json that determine the forward pass."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    hidden_act: str = "gelu"
    model_type: str = "bert"

    def __post_init__(self) -> None:
        if self.model_type != "bert":
            raise UnsupportedModel(f"native encoder implements model_type 'bert', got {self.model_type!r}")
        # BERT's "gelu" is the exact erf form; "gelu_new"/"gelu_pytorch_tanh" (tanh approximation),
        # "relu", ... would silently change every number, so refuse rather than approximate.
        if self.hidden_act != "gelu":
            raise UnsupportedModel(f"native encoder implements hidden_act 'gelu' (exact erf), got "
                                   f"{self.hidden_act!r}")
        if self.hidden_size % self.num_attention_heads:
            raise UnsupportedModel(f"hidden_size {self.hidden_size} is not divisible by "
                                   f"num_attention_heads {self.num_attention_heads}")

    @staticmethod
    def from_dict(d: dict) -> "BertConfig":
        # Settings that change the computation but are not implemented here: refuse them by name.
        # (HF's defaults for these are the plain encoder, so a missing key is fine.)
        if d.get("position_embedding_type", "absolute") != "absolute":
            raise UnsupportedModel(f"native encoder implements position_embedding_type 'absolute', got "
                                   f"{d['position_embedding_type']!r}")
        for flag in ("is_decoder", "add_cross_attention"):
            if d.get(flag):
                raise UnsupportedModel(f"native encoder is a plain encoder, but config.json sets {flag}=true")
        fields = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                  "intermediate_size", "max_position_embeddings", "type_vocab_size", "layer_norm_eps")
        missing = [k for k in fields if k not in d]
        if missing:
            raise UnsupportedModel(f"config.json lacks {', '.join(missing)}")
        return BertConfig(**{k: d[k] for k in fields}, hidden_act=d.get("hidden_act", "gelu"),
                          model_type=d.get("model_type", "bert"))

    @staticmethod
    def from_folder(folder: Path) -> "BertConfig":
        path = Path(folder) / "config.json"
        if not path.is_file():
            raise UnsupportedModel(f"{str(folder)!r} has no config.json")
        return BertConfig.from_dict(_read_json(path))


# ------------------------------------------------------------------------------------------------ model

class BertOutput(NamedTuple):
    last_hidden_state: torch.Tensor  # (B,L,D)
    pooler_output: torch.Tensor | None  # (B,D), None when the checkpoint has no pooler


# Every parameter is overwritten from the checkpoint, so construction skips random initialisation
# (~0.25 s for MiniLM's 22M parameters, twenty times the file read). Building on the meta device
# instead makes torch import torch._dynamo (~2.5 s). The uninitialised storage is never read: the
# loader checks that the checkpoint supplies every parameter.
class _Linear(nn.Linear):
    def reset_parameters(self) -> None:
        pass


class _Embedding(nn.Embedding):
    def reset_parameters(self) -> None:
        pass


class EncoderLayer(nn.Module):
    """Post-LayerNorm transformer layer: x = LN(x + Attn(x)); x = LN(x + MLP(x))."""

    def __init__(self, c: BertConfig):
        super().__init__()
        self.heads = c.num_attention_heads
        D, inner = c.hidden_size, c.intermediate_size
        self.q, self.k, self.v = _Linear(D, D), _Linear(D, D), _Linear(D, D)
        self.attn_out = _Linear(D, D)
        self.attn_norm = nn.LayerNorm(D, eps=c.layer_norm_eps)
        self.mlp_in = _Linear(D, inner)
        self.mlp_out = _Linear(inner, D)
        self.mlp_norm = nn.LayerNorm(D, eps=c.layer_norm_eps)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        """x (B,L,D); keep (B,1,1,L) bool, True on keys that may be attended to (None = all).

        A row with no key kept would come out NaN; tokenized text always keeps its [CLS]."""
        B, L, D = x.shape
        H = self.heads

        def split(t: torch.Tensor) -> torch.Tensor:  # (B,L,D) -> (B,H,L,Dh)
            return t.view(B, L, H, D // H).transpose(1, 2)

        # SDPA scales by 1/sqrt(Dh), as BERT does. Padded *queries* still get (unused) outputs; padded
        # *keys* are excluded by `keep`, which is what makes a caption independent of its padding.
        a = F.scaled_dot_product_attention(split(self.q(x)), split(self.k(x)), split(self.v(x)),
                                           attn_mask=keep)  # (B,H,L,Dh)
        a = a.transpose(1, 2).reshape(B, L, D)  # (B,L,D)
        x = self.attn_norm(x + self.attn_out(a))
        h = F.gelu(self.mlp_in(x))  # (B,L,F); approximate="none" = BERT's erf "gelu"
        return self.mlp_norm(x + self.mlp_out(h))


class BertEncoder(nn.Module):
    """BERT: token + position + token-type embeddings, LayerNorm, N layers, optional tanh pooler."""

    def __init__(self, config: BertConfig, pooler: bool = True):
        super().__init__()
        self.config = config
        c = config
        self.word = _Embedding(c.vocab_size, c.hidden_size)
        self.position = _Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type = _Embedding(c.type_vocab_size, c.hidden_size)
        self.embed_norm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.layers = nn.ModuleList(EncoderLayer(c) for _ in range(c.num_hidden_layers))
        # BERT's pooler (tanh(W h_[CLS] + b)) is only read for TextEncoderConfig(pooling="model").
        self.pooler = _Linear(c.hidden_size, c.hidden_size) if pooler else None

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> BertOutput:
        """input_ids (B,L) long; attention_mask (B,L), nonzero on real tokens; token_type_ids (B,L)."""
        B, L = input_ids.shape
        if L > self.config.max_position_embeddings:
            raise ValueError(f"sequence of {L} tokens is longer than max_position_embeddings "
                             f"{self.config.max_position_embeddings}")
        # No token types given = all segment 0 (one sentence), as transformers assumes. Summed in the
        # order word + type + position, as transformers does: float addition is not associative, and a
        # different order shows up as ~1e-5 at the (unused) padded positions after six layers.
        types = self.token_type.weight[0] if token_type_ids is None else self.token_type(token_type_ids)
        x = self.word(input_ids) + types + self.position(torch.arange(L, device=input_ids.device))  # (B,L,D)
        x = self.embed_norm(x)
        keep = None if attention_mask is None else attention_mask.bool()[:, None, None, :]  # (B,1,1,L)
        for layer in self.layers:
            x = layer(x, keep)
        pooled = torch.tanh(self.pooler(x[:, 0])) if self.pooler is not None else None  # (B,D)
        return BertOutput(x, pooled)


# Our parameter names -> the names in a Hugging Face BertModel checkpoint (model.safetensors).
_TOP_NAMES = {
    "word": "embeddings.word_embeddings",
    "position": "embeddings.position_embeddings",
    "token_type": "embeddings.token_type_embeddings",
    "embed_norm": "embeddings.LayerNorm",
    "pooler": "pooler.dense",
}
_LAYER_NAMES = {  # inside encoder.layer.{i}.
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "attn_out": "attention.output.dense",
    "attn_norm": "attention.output.LayerNorm",
    "mlp_in": "intermediate.dense",
    "mlp_out": "output.dense",
    "mlp_norm": "output.LayerNorm",
}
# Buffers some checkpoints carry that hold no learned values (arange / zeros): safe to skip.
_IGNORED_KEYS = {"embeddings.position_ids", "embeddings.token_type_ids"}
_POOLER_KEYS = {"pooler.dense.weight", "pooler.dense.bias"}


def checkpoint_name(name: str) -> str:
    """'layers.3.q.weight' -> 'encoder.layer.3.attention.self.query.weight'."""
    module, _, param = name.rpartition(".")
    if module.startswith("layers."):
        _, i, sub = module.split(".", 2)
        return f"encoder.layer.{i}.{_LAYER_NAMES[sub]}.{param}"
    return f"{_TOP_NAMES[module]}.{param}"


def load_bert_weights(folder: Path, config: BertConfig) -> BertEncoder:
    """Build the model from `folder/model.safetensors`; missing, unexpected or misshapen weights raise."""
    from safetensors import safe_open

    path = Path(folder) / "model.safetensors"
    if not path.is_file():
        raise UnsupportedModel(f"{str(folder)!r} has no model.safetensors")
    with safe_open(str(path), framework="pt") as f:
        keys = set(f.keys()) - _IGNORED_KEYS
        has_pooler = _POOLER_KEYS <= keys
        model = BertEncoder(config, pooler=has_pooler)  # uninitialised; assign=True below swaps in the file's tensors
        expected = model.state_dict()
        names = {checkpoint_name(n): n for n in expected}  # checkpoint key -> ours
        missing = sorted(set(names) - keys)
        unexpected = sorted(keys - set(names))
        if missing or unexpected:
            raise UnsupportedModel(f"{path} does not match a BertModel with this config.json: "
                                   f"missing {missing or 'none'}, unexpected {unexpected or 'none'}")
        state = {}
        for hf_name, ours in names.items():
            t = f.get_tensor(hf_name)
            if t.shape != expected[ours].shape:
                raise UnsupportedModel(f"{path}: {hf_name} has shape {tuple(t.shape)}, config.json "
                                       f"implies {tuple(expected[ours].shape)}")
            state[ours] = t
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()


# -------------------------------------------------------------------------------------------- tokenizer

class WordPieceTokenizer:
    """`tokenizer.json` through the `tokenizers` package, called like a transformers tokenizer.

    Supports the calls TextEncoder makes: `tok(texts, padding=..., truncation=..., max_length=...,
    return_tensors="pt"|None)` returning input_ids, token_type_ids and attention_mask; single sequences
    only ([CLS] text [SEP], then [PAD] on the right).
    """

    def __init__(self, folder: Path):
        from tokenizers import Tokenizer

        folder = Path(folder)
        path = folder / "tokenizer.json"
        if not path.is_file():
            raise UnsupportedModel(f"{str(folder)!r} has no tokenizer.json")
        self._tok = Tokenizer.from_file(str(path))
        tc_path = folder / "tokenizer_config.json"
        tc = _read_json(tc_path) if tc_path.is_file() else {}
        self._check_matches_transformers(tc)
        pad = tc.get("pad_token", "[PAD]")
        self.pad_token = pad["content"] if isinstance(pad, dict) else str(pad)
        self.pad_token_id = self._tok.token_to_id(self.pad_token)
        if self.pad_token_id is None:
            raise UnsupportedModel(f"pad token {self.pad_token!r} is not in {path}")
        self.model_max_length = int(tc.get("model_max_length", 512))

    def _check_matches_transformers(self, tc: dict) -> None:
        # transformers (v5) builds a BERT tokenizer from tokenizer.json's vocabulary but takes the
        # normaliser's switches from tokenizer_config.json; where the two files disagree we would
        # tokenize differently, so refuse (TextEncoder then uses transformers).
        cls = tc.get("tokenizer_class", "BertTokenizer")
        if cls not in ("BertTokenizer", "BertTokenizerFast"):
            raise UnsupportedModel(f"native tokenizer implements BertTokenizer, got tokenizer_class {cls!r}")
        spec = json.loads(self._tok.to_str())
        norm = spec.get("normalizer") or {}
        pre = (spec.get("pre_tokenizer") or {}).get("type")
        if pre != "BertPreTokenizer":
            raise UnsupportedModel(f"native tokenizer expects a BertPreTokenizer, got {pre!r}")
        if norm.get("type") != "BertNormalizer":
            raise UnsupportedModel(f"native tokenizer expects a BertNormalizer, got {norm.get('type')!r}")
        want = {"lowercase": tc.get("do_lower_case", True),
                "strip_accents": tc.get("strip_accents"),
                "handle_chinese_chars": tc.get("tokenize_chinese_chars", True)}
        differ = {k: (norm.get(k), v) for k, v in want.items() if norm.get(k) != v}
        if differ:
            raise UnsupportedModel(f"tokenizer.json and tokenizer_config.json disagree on {differ}")

    def __call__(self, text: str | list[str], padding: bool | str = False, truncation: bool = False,
                 max_length: int | None = None, return_tensors: str | None = None) -> dict:
        single = isinstance(text, str)
        texts = [text] if single else list(text)
        # tokenizer.json carries its own truncation/padding defaults (128 for MiniLM); set both
        # for every call so that only the arguments decide, as in transformers.
        if truncation:
            self._tok.enable_truncation(max_length or self.model_max_length)  # longest_first, right
        else:
            self._tok.no_truncation()
        if padding in (True, "longest"):
            self._tok.enable_padding(pad_id=self.pad_token_id, pad_token=self.pad_token)  # to the longest
        elif padding == "max_length":
            self._tok.enable_padding(pad_id=self.pad_token_id, pad_token=self.pad_token,
                                     length=max_length or self.model_max_length)
        elif padding in (False, "do_not_pad"):
            self._tok.no_padding()
        else:
            raise ValueError(f"padding must be True, False, 'longest', 'max_length' or 'do_not_pad', got {padding!r}")
        encs = self._tok.encode_batch(texts)
        out = {"input_ids": [e.ids for e in encs], "token_type_ids": [e.type_ids for e in encs],
               "attention_mask": [e.attention_mask for e in encs]}
        if return_tensors == "pt":
            if len({len(e.ids) for e in encs}) > 1:
                raise ValueError("return_tensors='pt' needs equal lengths; pass padding=True")
            return {k: torch.tensor(v, dtype=torch.long) for k, v in out.items()}  # (B,L)
        if return_tensors is not None:
            raise ValueError(f"return_tensors must be 'pt' or None, got {return_tensors!r}")
        return {k: v[0] for k, v in out.items()} if single else out


def load_bert(folder: Path | str) -> tuple[WordPieceTokenizer, BertEncoder]:
    """(tokenizer, model) of a Hugging Face BERT folder; raises UnsupportedModel if it is not one we run."""
    folder = Path(folder)
    config = BertConfig.from_folder(folder)
    tokenizer = WordPieceTokenizer(folder)
    return tokenizer, load_bert_weights(folder, config)


__all__ = ["BertConfig", "BertEncoder", "BertOutput", "UnsupportedModel", "WordPieceTokenizer",
           "checkpoint_name", "load_bert", "load_bert_weights"]
