"""Attention layers: full spacetime self-attention with 3D RoPE, and cross-attention to text.

Both go through torch's `scaled_dot_product_attention` (flash / memory-efficient kernels where the
device has them). Queries and keys are RMS-normalised per head (QK-norm, Dehghani et al. 2023) so
attention logits cannot blow up when training in bf16.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from minisora.dit.rope import apply_rope


class SelfAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int, qk_norm: bool = True, eps: float = 1e-6):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim)  # one fused matmul for q, k, v
        self.q_norm = nn.RMSNorm(self.head_dim, eps=eps) if qk_norm else nn.Identity()
        self.k_norm = nn.RMSNorm(self.head_dim, eps=eps) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, N, D); cos/sin (N, head_dim/2); attn_mask (B, 1, N, N) bool (True = attend) or None."""
        B, N, D = x.shape
        qkv = self.qkv(x).view(B, N, 3, self.num_heads, self.head_dim)  # B, N, 3, h, hd
        q, k, v = qkv.unbind(2)  # B, N, h, hd each (views)
        q = apply_rope(self.q_norm(q).transpose(1, 2), cos, sin)  # B, h, N, hd
        k = apply_rope(self.k_norm(k).transpose(1, 2), cos, sin)  # B, h, N, hd
        v = v.transpose(1, 2)  # B, h, N, hd
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # B, h, N, hd
        return self.proj(out.transpose(1, 2).reshape(B, N, D))  # B, N, D


class CrossAttention(nn.Module):
    """Video tokens attend to text tokens; padded text positions (mask False) get exactly zero weight."""

    def __init__(self, dim: int, num_heads: int, qk_norm: bool = True, eps: float = 1e-6):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)  # fused k, v projection of the text context
        self.q_norm = nn.RMSNorm(self.head_dim, eps=eps) if qk_norm else nn.Identity()
        self.k_norm = nn.RMSNorm(self.head_dim, eps=eps) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor) -> torch.Tensor:
        """x (B, N, D); context (B, L, D); context_mask (B, L) bool, True = real token."""
        B, N, D = x.shape
        L = context.shape[1]
        q = self.q_norm(self.q(x).view(B, N, self.num_heads, self.head_dim)).transpose(1, 2)  # B, h, N, hd
        kv = self.kv(context).view(B, L, 2, self.num_heads, self.head_dim)  # B, L, 2, h, hd
        k, v = kv.unbind(2)  # B, L, h, hd each
        k = self.k_norm(k).transpose(1, 2)  # B, h, L, hd
        v = v.transpose(1, 2)  # B, h, L, hd
        mask = context_mask[:, None, None, :]  # B, 1, 1, L (broadcast over heads and queries)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # B, h, N, hd
        return self.proj(out.transpose(1, 2).reshape(B, N, D))  # B, N, D
