"""DiT configuration: one typed dataclass, named presets after DiT's family (plus `debug`, `tiny`).

Widths follow DiT (Peebles & Xie, 2023, Table 1): S = 384/12/6, B = 768/12/12, L = 1024/24/16,
XL = 1152/28/16 (width / depth / heads). `tiny` is the base of the shipped default (configs/default.yaml
narrows it to 320 wide with 5 heads: 14.4 M parameters, 28.7 MB in bf16);
`debug` trains in seconds and is used by the tests.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal


@dataclass
class DiTConfig:
    latent_channels: int = 16  # C of the VAE latent; the model predicts a velocity with C channels
    extra_cond_channels: int = 0  # e.g. the upscaler's low-res latent, concatenated to the input
    frame_conditioning: bool = True  # add the clean-frame block (C channels) and the 1-channel mask
    patch_size: tuple[int, int, int] = (1, 2, 2)  # (pt, ph, pw) spacetime patch in latent cells
    hidden_size: int = 384  # D
    depth: int = 6
    num_heads: int = 6
    mlp_ratio: float = 4.0
    text_dim: int = 384  # Dt of the text encoder tokens (all-MiniLM-L6-v2)
    text_len: int = 48  # L used for the null text of classifier-free guidance
    qk_norm: bool = True  # RMS-normalise queries and keys per head (stabilises attention logits)
    # A learned position embedding on the text tokens (zero-initialised, so a model fine-tuned from one
    # without it starts out identical). Cross-attention has no other notion of word order, and binding
    # an attribute to its object ("a red circle moving left and a blue square moving right") is what
    # minisora-tiny gets wrong: direction 0.84 with one object, 0.16 with three.
    text_positions: bool = False
    rope_theta: float = 10000.0
    timestep_freq_dim: int = 256  # sinusoidal features of t before the timestep MLP
    norm_eps: float = 1e-6
    # Three choices where Wan2.1 differs (minisora.wan loads its weights with the Wan values). The
    # defaults stay minisora's own: Wan's are not shown to be at least as good at this scale, which only
    # training runs could tell (the shared modulation saves depth * 6 * D^2 parameters).
    # qk_norm_style: "head_layernorm" = LayerNorm (with bias) per head, after the head split (fused CPU
    # kernels); "rms_across_heads" = RMSNorm over all D channels before the split (Wan2.1).
    qk_norm_style: Literal["head_layernorm", "rms_across_heads"] = "head_layernorm"
    # gelu: the GELU of the MLPs and the text projection; "erf" is exact (3.5x faster than "tanh" in
    # bf16 on CPU), "tanh" is the approximation Wan2.1 was trained with.
    gelu: Literal["erf", "tanh"] = "erf"
    # modulation: "per_block" = each block regresses its adaLN shift/scale/gate from c (DiT);
    # "shared" = one projection of c shared by all blocks plus a learned per-block table, and a head
    # driven by c itself plus its own table (Wan2.1).
    modulation: Literal["per_block", "shared"] = "per_block"

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size={self.hidden_size} must be divisible by num_heads={self.num_heads}")
        if self.head_dim % 2:
            raise ValueError(f"head_dim={self.head_dim} (hidden_size/num_heads) must be even for rotary embeddings")
        if len(self.patch_size) != 3 or any(int(p) < 1 for p in self.patch_size):
            raise ValueError(f"patch_size={self.patch_size} must be three positive integers (pt, ph, pw)")
        self.patch_size = tuple(int(p) for p in self.patch_size)
        for name in ("latent_channels", "depth", "text_dim", "text_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1")
        for name, valid in (("qk_norm_style", ("head_layernorm", "rms_across_heads")), ("gelu", ("erf", "tanh")),
                            ("modulation", ("per_block", "shared"))):
            if getattr(self, name) not in valid:
                raise ValueError(f"{name}={getattr(self, name)!r} is not valid; choose one of {', '.join(valid)}")
        if self.extra_cond_channels < 0:
            raise ValueError(f"extra_cond_channels={self.extra_cond_channels} must be >= 0")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def in_channels(self) -> int:
        """Channels entering the patch embedding: x_t, [clean given frames, mask], [extra condition]."""
        c = self.latent_channels
        if self.frame_conditioning:
            c += self.latent_channels + 1
        return c + self.extra_cond_channels

    @property
    def mlp_hidden(self) -> int:
        return int(self.hidden_size * self.mlp_ratio)

    @property
    def rope_dims(self) -> tuple[int, int, int]:
        """Rotary bands per head for (t, h, w): h and w get equal even shares, t gets the rest."""
        hw = 2 * (self.head_dim // 6)
        return (self.head_dim - 2 * hw, hw, hw)

    @classmethod
    def preset(cls, name: str, **overrides) -> "DiTConfig":
        if name not in PRESETS:
            raise ValueError(f"unknown DiT preset {name!r}; choose one of {', '.join(PRESETS)}")
        return dataclasses.replace(cls(**PRESETS[name]), **overrides)


# name -> (width, depth, heads); everything else takes the dataclass defaults.
PRESETS: dict[str, dict] = {
    "debug": dict(hidden_size=64, depth=2, num_heads=2),
    "tiny": dict(hidden_size=384, depth=6, num_heads=6),
    "S": dict(hidden_size=384, depth=12, num_heads=6),
    "B": dict(hidden_size=768, depth=12, num_heads=12),
    "L": dict(hidden_size=1024, depth=24, num_heads=16),
    "XL": dict(hidden_size=1152, depth=28, num_heads=16),
}
