"""Tiny random Wan2.1 folders written by diffusers itself: the reference for tests and benchmarks.

Needs the `test` extra (diffusers, accelerate): imported only by tests/test_wan*.py and bench/wan*.py,
never by minisora's own models. `build_reference_pipeline` makes a diffusers `WanPipeline` from random
`WanTransformer3DModel`, `AutoencoderKLWan`, transformers' `UMT5EncoderModel` and an offline word-level
tokenizer (built with the `tokenizers` library, wrapped as a transformers fast tokenizer);
`save_reference_folder` writes it with `WanPipeline.save_pretrained`, exactly as a user's folder looks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

# Words of the tokenizer's vocabulary beyond the special tokens; anything else maps to <unk>.
VOCAB_WORDS = ("a dog runs on the beach at sunset red ball blue sky waves sand cat jumps over fence "
               "blurry low quality static camera slowly moving bright day night city street car").split()


@dataclass
class ReferenceSize:
    """Sizes of the random reference models (defaults: tiny, for tests)."""

    dim: int = 32  # transformer width = heads * head_dim
    heads: int = 2
    layers: int = 2
    ffn: int = 64
    text_dim: int = 32  # umT5 d_model (= the transformer's text_dim)
    text_layers: int = 2
    vae_base: int = 8
    vae_mult: tuple = (1, 2, 2, 2)
    flow_shift: float = 3.0
    seed: int = 0
    vae_stats: bool = field(default=True)  # random latent mean/std rather than Wan's constants


def build_tokenizer(folder: str | Path | None = None):
    """A word-level tokenizer with T5's special tokens (<pad> 0, </s> 1, <unk> 2) that appends </s>."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for w in VOCAB_WORDS:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=512)


def build_reference_pipeline(size: ReferenceSize | None = None):
    """A diffusers WanPipeline of random weights (fp32, eval mode) with a FlowMatchEuler scheduler."""
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    s = size or ReferenceSize()
    torch.manual_seed(s.seed)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=s.heads, attention_head_dim=s.dim // s.heads, in_channels=16,
        out_channels=16, text_dim=s.text_dim, freq_dim=256, ffn_dim=s.ffn, num_layers=s.layers,
        cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024)
    # Wan's init leaves q/k norms at 1 and many biases at 0; random values test the mapping of every tensor.
    with torch.no_grad():
        for name, p in transformer.named_parameters():
            if name.endswith("bias") or "norm" in name:
                p.copy_(torch.randn_like(p) * 0.1 + (1.0 if "norm" in name and name.endswith("weight") else 0.0))
    z = 16
    vae_kw = {}
    if s.vae_stats:
        g = torch.Generator().manual_seed(s.seed + 1)
        vae_kw = {"latents_mean": (torch.randn(z, generator=g) * 0.5).tolist(),
                  "latents_std": (torch.rand(z, generator=g) + 0.5).tolist()}
    vae = AutoencoderKLWan(base_dim=s.vae_base, z_dim=z, dim_mult=list(s.vae_mult), num_res_blocks=1,
                           temperal_downsample=[False, True, True], **vae_kw)
    with torch.no_grad():  # gammas of 1 and zero biases would hide a mis-mapped norm
        for name, p in vae.named_parameters():
            if name.endswith("gamma") or name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.1)
    cfg = UMT5Config(vocab_size=64, d_model=s.text_dim, d_kv=8, d_ff=2 * s.text_dim, num_layers=s.text_layers,
                     num_heads=4, relative_attention_num_buckets=8, relative_attention_max_distance=16,
                     feed_forward_proj="gated-gelu", pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    text_encoder = UMT5EncoderModel(cfg)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=s.flow_shift)
    pipe = WanPipeline(tokenizer=build_tokenizer(), text_encoder=text_encoder.eval(), vae=vae.eval(),
                       transformer=transformer.eval(), scheduler=scheduler)
    return pipe


def save_reference_folder(folder: str | Path, size: ReferenceSize | None = None):
    """Write a random reference pipeline with diffusers' own save_pretrained; returns the pipeline."""
    pipe = build_reference_pipeline(size)
    pipe.save_pretrained(str(folder))
    return pipe


def quiet() -> None:
    """Silence diffusers/transformers progress bars and advisory warnings in tests and benchmarks."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from diffusers.utils import logging as dlog
        from transformers.utils import logging as tlog

        dlog.set_verbosity_error()
        tlog.set_verbosity_error()
    except ImportError:
        pass
