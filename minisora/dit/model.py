"""The diffusion transformer over spacetime patches (DiT, Peebles & Xie 2023; Sora's recipe).

Reads top to bottom: inputs are concatenated along channels, cut into spacetime patches, embedded,
passed through adaLN-Zero blocks with full spacetime self-attention (3D RoPE) and cross-attention to
the text, and mapped back to a velocity with the latent's shape. The model knows nothing of noise,
timestep schedules or parallelism; `flow/` drives it as a callable, and the weights folder format
lives in `minisora.weights` (save_pretrained / from_pretrained only delegate to it).

Frame conditioning (image-to-video, extension, looping, connecting clips) is one mechanism: the
caller passes `frame_cond` (clean latents) and `frame_mask` (which latent frames are given). The
model sees three channel blocks — x_t, frame_cond * mask, and the mask itself — and a single global
timestep; the mask channel is what tells it which frames are already clean. (A per-token timestep
would also work; the mask channel keeps adaLN per-sample, which is cheaper.)
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from minisora.config import from_dict, to_dict
from minisora.dit.blocks import DiTBlock, FinalLayer, zero_init
from minisora.dit.config import DiTConfig
from minisora.dit.patchify import grid_size, patchify, unpatchify
from minisora.dit.rope import rope_cos_sin


def timestep_features(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal features of t in [0, 1] (scaled by 1000 so the frequencies resolve small steps): (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = (t.float() * 1000.0)[:, None] * freqs[None]  # B, dim/2
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # B, dim


class DiT(nn.Module):
    def __init__(self, config: DiTConfig):
        super().__init__()
        self.config = config
        D = config.hidden_size
        patch_volume = math.prod(config.patch_size)
        # 1. patch embedding: a linear map of each flattened (pt, ph, pw, C_in) box
        self.patch_embed = nn.Linear(config.in_channels * patch_volume, D)
        # 2. conditioning: timestep MLP + pooled text, summed into one vector c per sample
        self.t_embed = nn.Sequential(nn.Linear(config.timestep_freq_dim, D), nn.SiLU(), nn.Linear(D, D))
        self.pooled_embed = nn.Linear(config.text_dim, D)
        # 3. text tokens projected to the model width once, shared by every block's cross-attention
        gelu = "tanh" if config.gelu == "tanh" else "none"
        self.text_proj = nn.Sequential(nn.Linear(config.text_dim, D), nn.GELU(approximate=gelu), nn.Linear(D, D))
        if config.text_positions:  # zero at first: an added embedding that changes nothing until trained
            self.text_pos = nn.Parameter(torch.zeros(config.text_len, D))
        # learned "no text" for classifier-free guidance: one token (the rest padded) and a pooled vector
        self.null_token = nn.Parameter(torch.randn(config.text_dim) * 0.02)
        self.null_pooled = nn.Parameter(torch.randn(config.text_dim) * 0.02)
        # 4. blocks and output head
        shared = config.modulation == "shared"
        self.blocks = nn.ModuleList(DiTBlock(D, config.num_heads, config.mlp_hidden, config.qk_norm, config.norm_eps,
                                             config.qk_norm_style, config.gelu, shared)
                                    for _ in range(config.depth))
        self.final = FinalLayer(D, config.latent_channels * patch_volume, config.norm_eps, shared)
        if shared:  # one SiLU(c) -> 6D projection for every block (Wan2.1's time_proj), zero like adaLN-Zero
            self.shared_mod = nn.Linear(D, 6 * D)
            zero_init(self.shared_mod)
        self._init_weights()

    def _init_weights(self) -> None:
        # Xavier for every linear that the blocks did not deliberately zero (DiT's initialisation).
        for m in self.modules():
            if isinstance(m, nn.Linear) and not getattr(m, "zero_init", False):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.t_embed[0].weight, std=0.02)
        nn.init.normal_(self.t_embed[2].weight, std=0.02)

    # ------------------------------------------------------------------ conditioning helpers
    def null_text(self, batch_size: int, length: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The unconditional text for CFG and text dropout: tokens (B, L, Dt), mask (B, L), pooled (B, Dt).

        Only position 0 is a real (learned) token; the mask hides the rest, so cross-attention is never
        fully masked.
        """
        L = length or self.config.text_len
        tokens = torch.zeros(batch_size, L, self.config.text_dim, dtype=self.null_token.dtype, device=self.null_token.device)
        tokens[:, 0] = self.null_token
        mask = torch.zeros(batch_size, L, dtype=torch.bool, device=tokens.device)
        mask[:, 0] = True
        return tokens, mask, self.null_pooled.expand(batch_size, -1)

    def _drop_text(self, drop, text_tokens, text_mask, text_pooled):
        if drop.shape != (text_tokens.shape[0],) or drop.dtype != torch.bool:
            raise ValueError(f"drop_text must be bool ({text_tokens.shape[0]},), got {drop.dtype} {tuple(drop.shape)}")
        n_tok, n_mask, n_pool = self.null_text(text_tokens.shape[0], text_tokens.shape[1])
        return (torch.where(drop[:, None, None], n_tok.to(text_tokens.dtype), text_tokens),
                torch.where(drop[:, None], n_mask, text_mask),
                torch.where(drop[:, None], n_pool.to(text_pooled.dtype), text_pooled))

    def _check_inputs(self, x, t, text_tokens, text_mask, text_pooled, frame_cond, frame_mask, extra_cond) -> None:
        cfg = self.config
        if x.ndim != 5 or x.shape[1] != cfg.latent_channels:
            raise ValueError(f"x must be (B, {cfg.latent_channels}, T, H, W), got {tuple(x.shape)}")
        B, _, T, H, W = x.shape
        grid_size((T, H, W), cfg.patch_size)
        if t.shape != (B,):
            raise ValueError(f"t must be (B,)=({B},), got {tuple(t.shape)}")
        if text_tokens.ndim != 3 or text_tokens.shape[0] != B or text_tokens.shape[2] != cfg.text_dim:
            raise ValueError(f"text_tokens must be (B={B}, L, {cfg.text_dim}), got {tuple(text_tokens.shape)}")
        if text_mask.shape != text_tokens.shape[:2] or text_mask.dtype != torch.bool:
            raise ValueError(f"text_mask must be bool {tuple(text_tokens.shape[:2])}, got {text_mask.dtype} {tuple(text_mask.shape)}")
        # data-dependent, so skipped while torch.compile traces (it would break the graph)
        if not torch.compiler.is_compiling() and not bool(text_mask.any(dim=1).all()):
            raise ValueError("every sample needs at least one unmasked text token; use DiT.null_text() for 'no text'")
        if text_pooled.shape != (B, cfg.text_dim):
            raise ValueError(f"text_pooled must be ({B}, {cfg.text_dim}), got {tuple(text_pooled.shape)}")
        if (frame_cond is not None or frame_mask is not None) and not cfg.frame_conditioning:
            raise ValueError("this model was built with frame_conditioning=False; it cannot take frame_cond/frame_mask")
        if frame_cond is not None and frame_cond.shape != x.shape:
            raise ValueError(f"frame_cond must match x {tuple(x.shape)}, got {tuple(frame_cond.shape)}")
        if frame_mask is not None and frame_mask.shape != (B, 1, T, 1, 1):
            raise ValueError(f"frame_mask must be ({B}, 1, {T}, 1, 1), got {tuple(frame_mask.shape)}")
        if cfg.extra_cond_channels:
            if extra_cond is None or extra_cond.shape != (B, cfg.extra_cond_channels, T, H, W):
                got = None if extra_cond is None else tuple(extra_cond.shape)
                raise ValueError(f"extra_cond must be ({B}, {cfg.extra_cond_channels}, {T}, {H}, {W}), got {got}")
        elif extra_cond is not None:
            raise ValueError("extra_cond given but config.extra_cond_channels == 0")

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, t: torch.Tensor, text_tokens: torch.Tensor, text_mask: torch.Tensor,
                text_pooled: torch.Tensor, frame_cond: torch.Tensor | None = None,
                frame_mask: torch.Tensor | None = None, extra_cond: torch.Tensor | None = None,
                drop_text: torch.Tensor | None = None) -> torch.Tensor:
        """Velocity for latent x_t.

        x (B, C, T, H, W); t (B,) in [0, 1]; text_tokens (B, L, Dt); text_mask (B, L) bool (True = real);
        text_pooled (B, Dt); frame_cond (B, C, T, H, W) clean latents of given frames; frame_mask
        (B, 1, T, 1, 1) bool, True = frame given; extra_cond (B, Ce, T, H, W); drop_text (B,) bool:
        samples whose text is replaced by the null text (training's text dropout — done here, inside the
        forward, so sharded/replicated wrappers see the null embedding as part of the model). Returns
        (B, C, T, H, W) in x's dtype.
        """
        cfg = self.config
        if drop_text is not None:
            text_tokens, text_mask, text_pooled = self._drop_text(drop_text, text_tokens, text_mask, text_pooled)
        self._check_inputs(x, t, text_tokens, text_mask, text_pooled, frame_cond, frame_mask, extra_cond)
        B, C, T, H, W = x.shape
        dtype = self._compute_dtype(x)

        # 1. inputs stacked along channels, cut into spacetime patches, embedded; rotary tables
        h = self.patch_embed(patchify(self._input_stack(x, frame_cond, frame_mask, extra_cond, dtype),
                                      cfg.patch_size))  # B, N, D
        grid = grid_size((T, H, W), cfg.patch_size)
        cos, sin = rope_cos_sin(grid, cfg.rope_dims, cfg.rope_theta, device=x.device, dtype=dtype)  # N, hd

        # 2. conditioning vector c (B, D), text context (B, L, D) and its padding bias (B, 1, 1, L)
        c, context, context_bias = self._condition(t, text_tokens, text_mask, text_pooled, dtype)

        # 3. blocks
        block_c = self._block_condition(c)
        for block in self.blocks:
            h = block(h, block_c, context, context_bias, cos, sin)

        # 4. head: tokens -> patch values -> latent video
        out = self.final(h, c)  # B, N, pt*ph*pw*C
        return unpatchify(out, cfg.patch_size, (T, H, W)).to(x.dtype)  # B, C, T, H, W

    def _compute_dtype(self, x: torch.Tensor) -> torch.dtype:
        if torch.is_autocast_enabled(x.device.type):
            return torch.get_autocast_dtype(x.device.type)
        return self.patch_embed.weight.dtype

    def _input_stack(self, x, frame_cond, frame_mask, extra_cond, dtype) -> torch.Tensor:
        """x_t | clean given frames | mask | extra condition, along channels: (B, C_in, T, H, W)."""
        B, C, T, H, W = x.shape
        parts = [x]
        if self.config.frame_conditioning:
            m = x.new_zeros(B, 1, T, H, W) if frame_mask is None else frame_mask.to(x.dtype).expand(B, 1, T, H, W)
            parts += [x.new_zeros(x.shape) if frame_cond is None else frame_cond * m, m]
        if extra_cond is not None:
            parts.append(extra_cond.to(x.dtype))
        return torch.cat(parts, dim=1).to(dtype)  # B, C_in, T, H, W

    def _condition(self, t, text_tokens, text_mask, text_pooled, dtype):
        c = self.t_embed(timestep_features(t, self.config.timestep_freq_dim).to(dtype)) \
            + self.pooled_embed(text_pooled.to(dtype))  # B, D
        context = self.text_proj(text_tokens.to(dtype))  # B, L, D
        if self.config.text_positions:
            L = context.shape[1]
            if L > self.config.text_len:
                raise ValueError(f"{L} text tokens, but this model has positions for text_len={self.config.text_len}")
            context = context + self.text_pos[:L].to(dtype)
        # padding as an additive bias made once: 0 for real tokens, -inf for padding (exactly zero weight)
        bias = torch.zeros(text_mask.shape[0], 1, 1, text_mask.shape[1], dtype=dtype, device=text_mask.device)
        bias.masked_fill_(~text_mask[:, None, None, :], float("-inf"))  # B, 1, 1, L
        if self.config.modulation == "shared":
            return c, context, bias  # raw c: the head uses it as is, the blocks through `_block_condition`
        return F.silu(c), context, bias

    def _block_condition(self, c: torch.Tensor) -> torch.Tensor:
        """What every block receives: SiLU(c) (B, D), or with shared modulation its projection (B, 6D)."""
        return self.shared_mod(F.silu(c)) if self.config.modulation == "shared" else c
    # ------------------------------------------------------------------ packed sequences
    def forward_packed(self, xs: list[torch.Tensor], t: torch.Tensor, text_tokens: torch.Tensor,
                       text_mask: torch.Tensor, text_pooled: torch.Tensor,
                       frame_conds: list | None = None, frame_masks: list | None = None,
                       extra_conds: list | None = None) -> list[torch.Tensor]:
        """Clips of different sizes in ONE sequence (NaViT, Dehghani et al. 2023): no padding, no buckets.

        xs[i] (1, C, T_i, H_i, W_i); t, text_* batched over the clips as in `forward`; optional per-clip
        lists for the rest. Tokens of all clips are concatenated; a block-diagonal bias keeps every clip's
        self-attention (and cross-attention) to itself, each token gets its own clip's rotary positions
        and adaLN modulation. Returns the velocities as a list shaped like xs; equals `forward` per clip.
        """
        cfg = self.config
        n = len(xs)
        frame_conds, frame_masks = frame_conds or [None] * n, frame_masks or [None] * n
        extra_conds = extra_conds or [None] * n
        dtype = self._compute_dtype(xs[0])
        tokens, cos, sin, shapes, seg = [], [], [], [], []
        for i, x in enumerate(xs):
            self._check_inputs(x, t[i:i + 1], text_tokens[i:i + 1], text_mask[i:i + 1], text_pooled[i:i + 1],
                               frame_conds[i], frame_masks[i], extra_conds[i])
            thw = tuple(x.shape[2:])
            stack = self._input_stack(x, frame_conds[i], frame_masks[i], extra_conds[i], dtype)
            tokens.append(self.patch_embed(patchify(stack, cfg.patch_size)))  # 1, N_i, D
            c_, s_ = rope_cos_sin(grid_size(thw, cfg.patch_size), cfg.rope_dims, cfg.rope_theta, x.device, dtype)
            cos.append(c_)
            sin.append(s_)
            shapes.append(thw)
            seg.append(torch.full((tokens[-1].shape[1],), i, device=x.device))
        h = torch.cat(tokens, dim=1)  # 1, N_total, D
        cos, sin, seg = torch.cat(cos), torch.cat(sin), torch.cat(seg)  # N_total, hd ; N_total
        c, context, context_bias = self._condition(t, text_tokens, text_mask, text_pooled, dtype)
        L = context.shape[1]
        # block-diagonal masks: token of clip i sees clip i's tokens and clip i's real text tokens
        blocked = torch.full((), float("-inf"), dtype=dtype, device=h.device)
        self_bias = torch.where(seg[:, None] == seg[None, :], torch.zeros((), dtype=dtype, device=h.device),
                                blocked)[None, None]  # 1, 1, N_total, N_total
        text_seg = torch.arange(n, device=h.device).repeat_interleave(L)  # n*L
        cross_bias = torch.where(seg[:, None] == text_seg[None, :], context_bias.reshape(1, n * L),
                                 blocked)[None, None]  # 1, 1, N_total, n*L
        context = context.reshape(1, n * L, -1)  # 1, n*L, D
        block_c = self._block_condition(c)
        for block in self.blocks:
            h = block(h, block_c, context, cross_bias, cos, sin, attn_mask=self_bias, segments=seg)
        out = self.final(h, c, segments=seg)[0]  # N_total, pt*ph*pw*C
        outs, start = [], 0
        for x, thw in zip(xs, shapes):
            N = math.prod(grid_size(thw, cfg.patch_size))
            outs.append(unpatchify(out[None, start:start + N], cfg.patch_size, thw).to(x.dtype))
            start += N
        return outs

    # ------------------------------------------------------------------ weights folder
    def save_pretrained(self, folder: str | Path, dtype: torch.dtype | None = torch.bfloat16) -> Path:
        from minisora.weights import save_weights
        return save_weights(folder, self.state_dict(), {"model": "DiT", "config": to_dict(self.config)}, dtype=dtype)

    @classmethod
    def from_pretrained(cls, folder: str | Path, dtype: torch.dtype = torch.float32) -> "DiT":
        from minisora.weights import load_weights
        state, meta = load_weights(folder, dtype=dtype)
        if meta.get("model") != "DiT":
            raise ValueError(f"{folder} holds a {meta.get('model')!r} model, not a DiT")
        model = cls(from_dict(DiTConfig, meta["config"]))
        model.load_state_dict(state, strict=True)
        return model.to(dtype)
