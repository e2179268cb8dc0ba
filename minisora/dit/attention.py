"""Attention layers: full spacetime self-attention with 3D RoPE, and cross-attention to text.

Both go through torch's `scaled_dot_product_attention` (flash / memory-efficient kernels where the
device has them). Queries and keys are layer-normalised per head (QK-norm, as in ViT-22B, Dehghani et
al. 2023) so attention logits cannot blow up in bf16; LayerNorm rather than RMSNorm because torch has
fused CPU kernels for its forward and backward (3x faster than RMSNorm's in bf16 here).

Layout: q and k are transposed to (B, h, N, hd) *before* their norm, which has to make them
contiguous anyway, so the rotary embedding and the attention matmuls read contiguous memory and no
further copy is made.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from minisora.dit.rope import apply_rope

# Which kernel computes attention. On GPUs, and for long sequences anywhere, torch's SDPA (flash /
# memory-efficient kernels). On CPU at the short sequences of laptop-sized video (80-320 tokens) both
# of SDPA's CPU paths lose badly in bf16 training: the flash kernel's backward is ~5x slower than
# plain matmuls, and the math path upcasts bf16 to fp32 (measured, fwd+bwd of (16, 6, 80, 64):
# flash 27 ms, math 14 ms, explicit bf16 matmul-softmax 5.6 ms on one Zen 4 core). There the same
# computation is written out in the activation dtype; `test_explicit_attention_equals_sdpa` checks
# that it equals SDPA. Set to 0 to use SDPA everywhere (bench/dit.py reports both).
CPU_EXPLICIT_MAX_TOKENS = 2048


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(q k^T / sqrt(hd) + bias) v for q (B, h, N, hd), k/v (B, h, M, hd); bias broadcasts to (B, h, N, M)."""
    if q.device.type == "cpu" and max(q.shape[-2], k.shape[-2]) <= CPU_EXPLICIT_MAX_TOKENS:
        scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-1, -2)  # B, h, N, M
        if bias is not None:
            scores = scores + bias
        return scores.softmax(dim=-1) @ v  # B, h, N, hd
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)


def qk_norms(dim: int, head_dim: int, qk_norm: bool, style: str, eps: float) -> tuple[nn.Module, nn.Module, bool]:
    """(q_norm, k_norm, across_heads): per-head LayerNorms applied after the head split, or (style
    "rms_across_heads", Wan2.1) RMSNorms over all `dim` channels applied before it."""
    if not qk_norm:
        return nn.Identity(), nn.Identity(), False
    if style == "rms_across_heads":
        return nn.RMSNorm(dim, eps=eps), nn.RMSNorm(dim, eps=eps), True
    return nn.LayerNorm(head_dim, eps=eps), nn.LayerNorm(head_dim, eps=eps), False


class SelfAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int, qk_norm: bool = True, eps: float = 1e-6,
                 qk_norm_style: str = "head_layernorm"):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim)  # one fused matmul for q, k, v
        self.q_norm, self.k_norm, self.across_heads = qk_norms(dim, self.head_dim, qk_norm, qk_norm_style, eps)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, N, D); cos/sin (N, head_dim) tables of rope.rope_cos_sin; attn_mask (B, 1, N, N) additive or None."""
        B, N, D = x.shape
        if self.across_heads:
            q, k, v = self.qkv(x).chunk(3, dim=-1)  # B, N, D each
            q = self.q_norm(q).view(B, N, self.num_heads, self.head_dim).transpose(1, 2)  # B, h, N, hd
            k = self.k_norm(k).view(B, N, self.num_heads, self.head_dim).transpose(1, 2)  # B, h, N, hd
            v = v.reshape(B, N, self.num_heads, self.head_dim).transpose(1, 2)  # B, h, N, hd
            out = attention(apply_rope(q, cos, sin), apply_rope(k, cos, sin), v, attn_mask)  # B, h, N, hd
            return self.proj(out.transpose(1, 2).reshape(B, N, D))  # B, N, D
        qkv = self.qkv(x).view(B, N, 3, self.num_heads, self.head_dim)  # B, N, 3, h, hd
        q, k, v = qkv.unbind(2)  # B, N, h, hd each (views)
        q = apply_rope(self.q_norm(q.transpose(1, 2)), cos, sin)  # B, h, N, hd
        k = apply_rope(self.k_norm(k.transpose(1, 2)), cos, sin)  # B, h, N, hd
        v = v.transpose(1, 2)  # B, h, N, hd
        out = attention(q, k, v, attn_mask)  # B, h, N, hd
        return self.proj(out.transpose(1, 2).reshape(B, N, D))  # B, N, D


class CrossAttention(nn.Module):
    """Video tokens attend to text tokens; padded text positions (mask False) get exactly zero weight."""

    def __init__(self, dim: int, num_heads: int, qk_norm: bool = True, eps: float = 1e-6,
                 qk_norm_style: str = "head_layernorm"):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)  # fused k, v projection of the text context
        self.q_norm, self.k_norm, self.across_heads = qk_norms(dim, self.head_dim, qk_norm, qk_norm_style, eps)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor, context_bias: torch.Tensor) -> torch.Tensor:
        """x (B, N, D); context (B, L, D); context_bias (B, 1, 1, L): 0 for real tokens, -inf for padding."""
        B, N, D = x.shape
        L = context.shape[1]
        if self.across_heads:
            q = self.q_norm(self.q(x)).view(B, N, self.num_heads, self.head_dim).transpose(1, 2)  # B, h, N, hd
            k, v = self.kv(context).chunk(2, dim=-1)  # B, L, D each
            k = self.k_norm(k).view(B, L, self.num_heads, self.head_dim).transpose(1, 2)  # B, h, L, hd
            v = v.reshape(B, L, self.num_heads, self.head_dim).transpose(1, 2)  # B, h, L, hd
            out = attention(q, k, v, context_bias)  # B, h, N, hd
            return self.proj(out.transpose(1, 2).reshape(B, N, D))  # B, N, D
        q = self.q_norm(self.q(x).view(B, N, self.num_heads, self.head_dim).transpose(1, 2))  # B, h, N, hd
        kv = self.kv(context).view(B, L, 2, self.num_heads, self.head_dim)  # B, L, 2, h, hd
        k, v = kv.unbind(2)  # B, L, h, hd each
        k = self.k_norm(k.transpose(1, 2))  # B, h, L, hd
        v = v.transpose(1, 2)  # B, h, L, hd
        out = attention(q, k, v, context_bias)  # B, h, N, hd
        return self.proj(out.transpose(1, 2).reshape(B, N, D))  # B, N, D
