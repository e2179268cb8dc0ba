"""Transformer blocks with adaLN-Zero (DiT, Peebles & Xie 2023, Sec. 3.2).

The conditioning vector c (timestep + pooled text) regresses a shift, scale and gate for the
self-attention and MLP branches. The regressors are zero-initialised, so every gate starts at 0 and
an untrained block is the identity; the cross-attention output projection is zero-initialised for
the same reason. Elementwise work is folded into `addcmul` calls so no temporary is materialised
for `x * (1 + scale) + shift` or `x + gate * y`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from minisora.dit.attention import CrossAttention, SelfAttention


def modulate(x_normed: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """x * (1 + scale) + shift with shift/scale (B, 1, D) broadcast over tokens; scale arrives as 1+scale."""
    return torch.addcmul(shift, x_normed, scale)


def per_token(mod: torch.Tensor, segments: torch.Tensor | None) -> torch.Tensor:
    """Per-sample modulation (B, k) -> (B, 1, k) broadcast over tokens, or (1, N, k) gathered for a packed sequence."""
    return mod.unsqueeze(1) if segments is None else mod[segments].unsqueeze(0)


def zero_init(layer: nn.Linear) -> None:
    """Zero a linear layer and mark it so the model-wide Xavier initialisation leaves it at zero."""
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    layer.zero_init = True


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, gelu: str = "erf"):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        # "erf" = exact GELU: in bf16 on CPU torch's tanh approximation is ~3.5x slower (fwd + bwd);
        # "tanh" for weights trained with it (Wan2.1)
        self.approximate = "tanh" if gelu == "tanh" else "none"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate=self.approximate))


class DiTBlock(nn.Module):
    """adaLN-Zero self-attention -> cross-attention to text -> adaLN-Zero MLP, all residual.

    With `shared_modulation` (DiTConfig.modulation = "shared", Wan2.1) the block has no regressor of
    its own: it receives the model's one projection of c (B, 6D) and adds its learned table (6D)."""

    def __init__(self, dim: int, num_heads: int, mlp_hidden: int, qk_norm: bool = True, eps: float = 1e-6,
                 qk_norm_style: str = "head_layernorm", gelu: str = "erf", shared_modulation: bool = False):
        super().__init__()
        self.eps = eps
        self.attn = SelfAttention(dim, num_heads, qk_norm, eps, qk_norm_style)
        self.cross_norm = nn.LayerNorm(dim, eps=eps)
        self.cross = CrossAttention(dim, num_heads, qk_norm, eps, qk_norm_style)
        self.mlp = Mlp(dim, mlp_hidden, gelu)
        if shared_modulation:  # zero, like adaLN-Zero: with a zero shared projection every gate starts at 0
            self.ada = None
            self.mod_table = nn.Parameter(torch.zeros(6 * dim))  # shift/scale/gate for attention and MLP
        else:
            self.ada = nn.Linear(dim, 6 * dim)  # c -> shift/scale/gate for attention and MLP
            zero_init(self.ada)
        zero_init(self.cross.proj)

    def forward(self, x: torch.Tensor, c: torch.Tensor, context: torch.Tensor, context_bias: torch.Tensor,
                cos: torch.Tensor, sin: torch.Tensor, attn_mask: torch.Tensor | None = None,
                segments: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, N, D); c (B, D) already passed through SiLU, or with shared modulation the shared
        projection (B, 6D); context (B, L, D); context_bias (B, 1, 1, L) additive text mask; cos/sin
        rotary tables (N, head_dim); attn_mask optional additive (B, 1, N, N); segments (N,): for a
        packed sequence (B = 1), which sample of c each token belongs to."""
        D = x.shape[-1]
        mod = self.ada(c) if self.ada is not None else c + self.mod_table.to(c.dtype)  # B, 6D
        mod = per_token(mod, segments)  # B, 1, 6D  (packed: 1, N, 6D)
        shift1, scale1, gate1, shift2, scale2, gate2 = mod.chunk(6, dim=-1)  # B, 1, D each
        h = modulate(F.layer_norm(x, (D,), eps=self.eps), shift1, scale1 + 1)
        x = torch.addcmul(x, gate1, self.attn(h, cos, sin, attn_mask))
        x = x + self.cross(self.cross_norm(x), context, context_bias)
        h = modulate(F.layer_norm(x, (D,), eps=self.eps), shift2, scale2 + 1)
        return torch.addcmul(x, gate2, self.mlp(h))


class FinalLayer(nn.Module):
    """adaLN (shift, scale) then a linear map to patch values; both zero-initialised (output starts at 0).

    With `shared_modulation` (Wan2.1) shift and scale are c itself (before SiLU, (B, D), the same for
    both) plus a learned table (2D), instead of a regression of SiLU(c)."""

    def __init__(self, dim: int, out_features: int, eps: float = 1e-6, shared_modulation: bool = False):
        super().__init__()
        self.eps = eps
        if shared_modulation:
            self.ada = None
            self.mod_table = nn.Parameter(torch.zeros(2 * dim))
        else:
            self.ada = nn.Linear(dim, 2 * dim)
            zero_init(self.ada)
        self.linear = nn.Linear(dim, out_features)
        zero_init(self.linear)

    def forward(self, x: torch.Tensor, c: torch.Tensor, segments: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, N, D); c (B, D): SiLU(c) for the per-block regression, raw c with shared modulation."""
        D = x.shape[-1]
        mod = self.ada(c) if self.ada is not None else c.repeat(1, 2) + self.mod_table.to(c.dtype)  # B, 2D
        shift, scale = per_token(mod, segments).chunk(2, dim=-1)  # B, 1, D each
        return self.linear(modulate(F.layer_norm(x, (D,), eps=self.eps), shift, scale + 1))
