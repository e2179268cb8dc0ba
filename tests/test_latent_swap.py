"""Moving a transformer onto another VAE's latents: the fold is exact, the fit recovers a known map."""

from __future__ import annotations

import torch

from minisora.dit.config import DiTConfig
from minisora.dit.latent_swap import fit_latent_map, fold_into_transformer
from minisora.dit.model import DiT


def _random_dit(seed: int) -> DiT:
    model = DiT(DiTConfig.preset("debug"))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return model.eval()


def test_folded_transformer_equals_the_old_one_seen_through_the_map() -> None:
    old = _random_dit(0)
    new = _random_dit(0)
    C = old.config.latent_channels
    g = torch.Generator().manual_seed(1)
    A = torch.eye(C) + 0.3 * torch.randn(C, C, generator=g)
    b = 0.2 * torch.randn(C, generator=g)
    fold_into_transformer(new, A, b)

    B, T, H, W = 2, 3, 4, 4
    z = torch.randn(B, C, T, H, W, generator=g)
    cond = torch.randn(B, C, T, H, W, generator=g)
    mask = torch.tensor([True, False, False]).view(1, 1, T, 1, 1).expand(B, 1, T, 1, 1).contiguous()
    t = torch.tensor([0.3, 0.8])
    tokens, tmask, pooled = torch.randn(B, 5, 384, generator=g), torch.ones(B, 5, dtype=torch.bool), torch.randn(B, 384, generator=g)

    def to_old(x: torch.Tensor) -> torch.Tensor:  # z_old = A z_new + b, channel-wise at every position
        return torch.einsum("ij,bjthw->bithw", A, x) + b.view(1, C, 1, 1, 1)

    with torch.no_grad():
        got = new(z, t, tokens, tmask, pooled, frame_cond=cond, frame_mask=mask)
        v_old = old(to_old(z), t, tokens, tmask, pooled, frame_cond=to_old(cond), frame_mask=mask)
        want = torch.einsum("ij,bjthw->bithw", torch.linalg.inv(A), v_old)
    assert torch.allclose(got, want, atol=1e-4), (got - want).abs().max()


class _LinearEncoder:
    """Stands in for a VAE in fit_latent_map: encode = a fixed channel map of a 16-channel 'latent'."""

    latent_channels = 16

    def __init__(self, M: torch.Tensor, c: torch.Tensor) -> None:
        self.M, self.c = M, c

    def encode(self, x: torch.Tensor) -> torch.Tensor:  # x (B,3,T,H,W) -> (B,16,T,H/4,W/4) via a fixed feature map
        B, _, T, H, W = x.shape
        feats = x.reshape(B, 3, T, H // 4, 4, W // 4, 4).permute(0, 1, 4, 6, 2, 3, 5).reshape(B, 48, T, H // 4, W // 4)[:, :16]
        return torch.einsum("ij,bjthw->bithw", self.M, feats) + self.c.view(1, -1, 1, 1, 1)


def test_fit_recovers_a_known_linear_relation() -> None:
    g = torch.Generator().manual_seed(2)
    A = torch.randn(16, 16, generator=g)
    b = torch.randn(16, generator=g)
    new = _LinearEncoder(torch.eye(16), torch.zeros(16))
    old = _LinearEncoder(A, b)
    clips = torch.randint(0, 256, (4, 3, 5, 16, 16), generator=g, dtype=torch.uint8)
    A_fit, b_fit, r2 = fit_latent_map(old, new, clips, batch=2)
    assert torch.allclose(A_fit, A, atol=1e-3) and torch.allclose(b_fit, b, atol=1e-3)
    assert r2.min() > 0.999
