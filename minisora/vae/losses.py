"""Training losses of the VAE: L1 reconstruction, an edge term, and the KL regulariser.

The edge term is the L1 distance between finite differences (along W, H and T) of the
reconstruction and of the target. Plain L1/L2 losses let a small decoder blur edges (blur costs
little on average); penalising wrong gradients directly makes blurred edges and temporal smearing
expensive, which is most of what a GAN loss buys on flat-coloured scenes, at no extra network.
"""

from __future__ import annotations

import torch


def edge_loss(rec: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean L1 between finite differences of rec and target, both (B,C,T,H,W)."""
    d = rec - target  # differences of differences = differences of the error
    terms = [(d[..., :, 1:] - d[..., :, :-1]).abs().mean(), (d[..., 1:, :] - d[..., :-1, :]).abs().mean()]
    if d.shape[2] > 1:
        terms.append((d[:, :, 1:] - d[:, :, :-1]).abs().mean())
    return sum(terms) / len(terms)


def kl_loss(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)), averaged over latent elements."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()


def psnr(rec: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR in dB of videos in [-1, 1] (peak-to-peak 2), over the whole batch."""
    mse = (rec.float().clamp(-1, 1) - target.float()).pow(2).mean().item()
    return 10.0 * torch.log10(torch.tensor(4.0 / max(mse, 1e-12))).item()


def vae_loss(rec: torch.Tensor, target: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor,
             l1_weight: float, edge_weight: float, kl_weight: float) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and its parts (floats, for logging). All terms are computed in float32."""
    rec = rec.float()
    l1 = (rec - target).abs().mean()
    edge = edge_loss(rec, target) if edge_weight > 0 else rec.new_zeros(())
    kl = kl_loss(mean.float(), logvar.float())
    loss = l1_weight * l1 + edge_weight * edge + kl_weight * kl
    return loss, {"loss": loss.item(), "l1": l1.item(), "edge": edge.item(), "kl": kl.item()}
