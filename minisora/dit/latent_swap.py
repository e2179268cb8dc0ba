"""Moving a trained transformer onto a new VAE's latent space (the start of fine-tuning on it).

Two VAEs trained from the same initial structure (the DC-AE shortcuts make every latent channel
start as a fixed average of pixel values) end up with related latent spaces: on MovingShapes a
per-position linear map from the new normalised latents to the old ones explained 62-99% of each
old channel's variance (measured between the leg-5 VAE and a VAE trained 6 minutes from scratch).
`fit_latent_map` fits that map, z_old ~= A z_new + b, by least squares on encoded clips, and
`fold_into_transformer` folds it into the transformer's two latent-facing layers:

- input: the patch embedding reads A z_new + b wherever it read z_old (the noisy latent and the
  clean conditioning frames), so the blocks see what they were trained on;
- output: the velocity v = noise - data transforms like the latents (v_old = A v_new when the
  noise maps too), so the final projection is followed by A^-1.

The folded model equals A^-1 . old_model(A z + b) exactly. That is the right model only when A is
orthogonal (A noise is then still white noise) and b is zero; otherwise it is an initialisation that
fine-tuning corrects, much closer than re-learning both layers from scratch.
"""

from __future__ import annotations

import torch


@torch.no_grad()
def fit_latent_map(old_vae, new_vae, clips_u8: torch.Tensor, batch: int = 8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Least-squares (A, b) with z_old ~= A z_new + b per latent position, and R^2 per old channel."""
    from minisora.vae.train import to_float

    olds, news = [], []
    for i in range(0, len(clips_u8), batch):
        x = to_float(clips_u8[i:i + batch])
        olds.append(old_vae.encode(x))
        news.append(new_vae.encode(x))
    C = old_vae.latent_channels
    z_old = torch.cat(olds).transpose(0, 1).reshape(C, -1).double().T  # N, C
    z_new = torch.cat(news).transpose(0, 1).reshape(new_vae.latent_channels, -1).double().T  # N, C
    X = torch.cat([z_new, torch.ones(len(z_new), 1, dtype=z_new.dtype)], dim=1)
    sol = torch.linalg.lstsq(X, z_old).solution  # C+1, C
    A, b = sol[:-1].T, sol[-1]  # z_old = A @ z_new + b
    r2 = 1 - (X @ sol - z_old).pow(2).mean(0) / z_old.var(0)
    return A.float(), b.float(), r2.float()


@torch.no_grad()
def fold_into_transformer(dit, A: torch.Tensor, b: torch.Tensor) -> None:
    """Rewrite dit.patch_embed and dit.final.linear in place for latents z_new with z_old = A z_new + b."""
    cfg = dit.config
    C, pv = cfg.latent_channels, dit.patch_embed.in_features // cfg.in_channels
    W = dit.patch_embed.weight.view(cfg.hidden_size, pv, cfg.in_channels)  # features ordered (patch, channel)
    # Channel blocks that carry latents: x_t, then the clean given frames (zero where not given, so
    # their bias term is multiplied by the mask channel, which follows them).
    W_old = W.clone()
    W[:, :, :C] = W_old[:, :, :C] @ A
    dit.patch_embed.bias += (W_old[:, :, :C] @ b).sum(1)
    if cfg.frame_conditioning:
        W[:, :, C:2 * C] = W_old[:, :, C:2 * C] @ A
        W[:, :, 2 * C] += W_old[:, :, C:2 * C] @ b  # mask channel: 1 exactly where frames are given
    # Output: v_new = A^-1 v_old; rows of the final linear are ordered (patch, channel).
    A_inv = torch.linalg.inv(A.double()).float()
    lin = dit.final.linear
    Wf = lin.weight.view(pv, C, cfg.hidden_size)
    lin.weight.copy_(torch.einsum("ij,pjd->pid", A_inv, Wf).reshape_as(lin.weight))
    lin.bias.copy_((lin.bias.view(pv, C) @ A_inv.T).reshape(-1))
