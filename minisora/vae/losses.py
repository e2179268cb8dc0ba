"""Training losses of the VAE: squared error (the default) or L1 reconstruction, an edge term, and the KL
regulariser.

The edge term is the L1 distance between finite differences (along W, H and T) of the
reconstruction and of the target. Plain L1/L2 losses let a small decoder blur edges (blur costs
little on average); penalising wrong gradients directly makes blurred edges and temporal smearing
expensive, which is most of what a GAN loss buys on flat-coloured scenes, at no extra network.

Both can be weighted towards the foreground (`foreground_weight`): on MovingShapes a small star covers
~1% of a frame, so an unweighted mean spends the decoder's capacity on flat background, and the judge
measured small stars decoding as dots (shape right in 35% of them). The foreground is every pixel that
differs from its frame's median colour (the background of a flat-coloured scene), grown by one pixel so
that the object's outline counts too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# A pixel is foreground when one channel is this far from its frame's median (in [-1, 1] units,
# ~13/255): above codec noise and blur halos, below the contrast of any palette colour on its background.
FOREGROUND_THRESHOLD = 0.1


def foreground_weights(target: torch.Tensor, foreground_weight: float) -> torch.Tensor:
    """Per-pixel loss weights (B,1,T,H,W): 1 on background, 1 + foreground_weight on the foreground."""
    B, C, T, H, W = target.shape
    median = target.flatten(3).median(dim=-1).values[..., None, None]  # B, C, T, 1, 1
    fg = ((target - median).abs().amax(dim=1, keepdim=True) > FOREGROUND_THRESHOLD).float()  # B, 1, T, H, W
    fg = F.max_pool3d(fg, kernel_size=(1, 3, 3), stride=1, padding=(0, 1, 1))  # grow by one pixel
    return 1.0 + foreground_weight * fg


def _weighted_mean(x: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
    """Mean of x (B,C,T,H,W) with weights w (B,1,T,H,W) broadcast over channels; plain mean if w is None."""
    if w is None:
        return x.mean()
    return (x * w).sum() / (w.sum() * x.shape[1])


def edge_loss(rec: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean L1 between finite differences of rec and target, both (B,C,T,H,W); optional pixel weights
    (B,1,T,H,W), each difference taking the larger weight of its two pixels."""
    d = rec - target  # differences of differences = differences of the error
    w = weights

    def term(diff: torch.Tensor, dim: int) -> torch.Tensor:
        if w is None:
            return diff.abs().mean()
        n = w.shape[dim]
        return _weighted_mean(diff.abs(), torch.maximum(w.narrow(dim, 1, n - 1), w.narrow(dim, 0, n - 1)))

    terms = [term(d[..., :, 1:] - d[..., :, :-1], 4), term(d[..., 1:, :] - d[..., :-1, :], 3)]
    if d.shape[2] > 1:
        terms.append(term(d[:, :, 1:] - d[:, :, :-1], 2))
    return sum(terms) / len(terms)


def kl_loss(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)), averaged over latent elements."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()


def psnr(rec: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR in dB of videos in [-1, 1] (peak-to-peak 2), over the whole batch."""
    mse = (rec.float().clamp(-1, 1) - target.float()).pow(2).mean().item()
    return 10.0 * torch.log10(torch.tensor(4.0 / max(mse, 1e-12))).item()


def vae_loss(rec: torch.Tensor, target: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor,
             l1_weight: float, edge_weight: float, kl_weight: float,
             foreground_weight: float = 0.0, mse_weight: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and its parts (floats, for logging). All terms are computed in float32."""
    rec = rec.float()
    w = foreground_weights(target, foreground_weight) if foreground_weight > 0 else None
    l1 = _weighted_mean((rec - target).abs(), w) if l1_weight > 0 else rec.new_zeros(())
    edge = edge_loss(rec, target, w) if edge_weight > 0 else rec.new_zeros(())
    mse = _weighted_mean((rec - target).pow(2), w) if mse_weight > 0 else rec.new_zeros(())
    kl = kl_loss(mean.float(), logvar.float())
    loss = l1_weight * l1 + edge_weight * edge + mse_weight * mse + kl_weight * kl
    return loss, {"loss": loss.item(), "l1": l1.item(), "edge": edge.item(), "mse": mse.item(), "kl": kl.item()}
