"""Wan2.1 model folders: recognising them, reading their tensors, and the key table into minisora's DiT.

A Wan2.1 text-to-video folder in the diffusers layout is `model_index.json` (`_class_name` WanPipeline)
with `transformer/`, `vae/`, `text_encoder/`, `tokenizer/` and `scheduler/`; weights are (sharded)
safetensors. The original Wan release layout (`Wan2.1_VAE.pth`, `models_t5_umt5-xxl-enc-bf16.pth`, its
own key names) is recognised only to say so: convert it with diffusers' conversion script first.

`TRANSFORMER_KEYS` is the whole mapping from Wan's transformer to minisora's `DiT`. Three rows are not
plain copies: the patch Conv3d becomes a Linear over (pt, ph, pw, C) boxes; q/k/v (and k/v of the
cross-attention) are concatenated into minisora's fused projections; and the self-attention's q and k
rows (with their RMSNorm weights) are permuted per head from Wan's interleaved RoPE pairs (2i, 2i+1) to
minisora's split halves (i, i + hd/2). The same permutation of q and k leaves every q.k product, and so
the attention, unchanged: the conversion is exact.

Every check here raises `WanFolderError` naming the component, the key, and the expected and found shapes.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from minisora.dit.config import DiTConfig
from minisora.weights import WeightsError

COMPONENTS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
PIPELINE_CLASSES = ("WanPipeline",)  # text-to-video; I2V/VACE/Animate need inputs minisora's DiT lacks
ORIGINAL_LAYOUT_FILES = ("Wan2.1_VAE.pth", "models_t5_umt5-xxl-enc-bf16.pth")


# model_index.json "format" of a folder written by `minisora convert` (convert_cli.py): the transformer
# and VAE as minisora weights folders (minisora.weights), the umT5 encoder and tokenizer as they were.
CONVERTED_FORMAT = "minisora-wan/1"


class WanFolderError(WeightsError):
    """A folder that cannot be loaded as Wan2.1: names the component, the key, expected and found."""


def read_model_index(path: str | Path) -> dict | None:
    f = Path(path) / "model_index.json"
    if not f.is_file():
        return None
    try:
        return json.loads(f.read_text())
    except json.JSONDecodeError as e:
        raise WanFolderError(f"{f} is not valid JSON: {e}") from None


def is_wan_folder(path: str | Path) -> bool:
    """True for a diffusers-layout Wan pipeline folder, or an original-release Wan folder."""
    p = Path(path)
    if not p.is_dir():
        return False
    try:
        index = read_model_index(p)
    except WanFolderError:
        return False  # unreadable model_index.json: the caller's own loader names the problem
    if index is not None:
        return str(index.get("_class_name", "")).startswith("Wan") or index.get("format") == CONVERTED_FORMAT
    return any((p / n).is_file() for n in ORIGINAL_LAYOUT_FILES)


def check_wan_folder(path: str | Path) -> dict:
    """The model_index of a loadable Wan2.1 T2V folder, or a WanFolderError saying what is wrong."""
    p = Path(path)
    if not p.is_dir():
        raise WanFolderError(f"{p} is not a folder")
    index = read_model_index(p)
    if index is None:
        if any((p / n).is_file() for n in ORIGINAL_LAYOUT_FILES):
            raise WanFolderError(f"{p} is in the original Wan release layout, which minisora does not read; convert it "
                                 "to the diffusers layout (diffusers' scripts/convert_wan_to_diffusers.py)")
        raise WanFolderError(f"{p} has no model_index.json: not a diffusers-layout Wan2.1 folder")
    cls = index.get("_class_name")
    if index.get("format") == CONVERTED_FORMAT:
        for comp in ("transformer", "vae", "text_encoder", "tokenizer"):
            if not (p / comp).is_dir():
                raise WanFolderError(f"component {comp!r} is missing: {p / comp} does not exist")
        return index
    if cls not in PIPELINE_CLASSES:
        raise WanFolderError(f"{p}/model_index.json: _class_name is {cls!r}; minisora loads {', '.join(PIPELINE_CLASSES)} "
                             "(Wan2.1 text-to-video) folders")
    if index.get("transformer_2") not in (None, [None, None]) or index.get("boundary_ratio") is not None:
        raise WanFolderError(f"{p}: a two-transformer (Wan2.2 A14B) pipeline; minisora loads Wan2.1 "
                             "single-transformer folders")
    if index.get("expand_timesteps"):
        raise WanFolderError(f"{p}: expand_timesteps=true (Wan2.2 TI2V) is not supported")
    for comp in COMPONENTS:
        if not (p / comp).is_dir():
            raise WanFolderError(f"component {comp!r} is missing: {p / comp} does not exist")
    for comp in ("transformer", "vae", "text_encoder"):  # the tokenizer and scheduler name their own files
        if not (p / comp / "config.json").is_file():
            raise WanFolderError(f"component {comp!r}: {p / comp / 'config.json'} is missing")
    return index


# ------------------------------------------------------------------------------------------------ tensors
def _weight_files(folder: Path, component: str) -> list[Path]:
    for stem in ("diffusion_pytorch_model", "model"):
        index = folder / f"{stem}.safetensors.index.json"
        if index.is_file():
            names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            missing = [n for n in names if not (folder / n).is_file()]
            if missing:
                raise WanFolderError(f"component {component!r}: shard(s) {', '.join(missing)} listed in "
                                     f"{index.name} are missing")
            return [folder / n for n in names]
        single = folder / f"{stem}.safetensors"
        if single.is_file():
            return [single]
    raise WanFolderError(f"component {component!r}: no safetensors weights in {folder} "
                         "(expected diffusion_pytorch_model.safetensors, model.safetensors or a sharded index)")


def tensor_shapes(folder: str | Path, component: str) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor of a component, read from the safetensors headers only."""
    from safetensors import safe_open

    shapes = {}
    for f in _weight_files(Path(folder), component):
        with safe_open(str(f), framework="pt") as h:
            for k in h.keys():
                shapes[k] = tuple(h.get_slice(k).get_shape())
    return shapes


def read_tensors(folder: str | Path, component: str, dtype: torch.dtype | None = torch.float32) -> dict[str, torch.Tensor]:
    """All tensors of a component (floating ones cast to `dtype`; None keeps them)."""
    from safetensors.torch import load_file

    out = {}
    for f in _weight_files(Path(folder), component):
        for k, v in load_file(str(f)).items():
            out[k] = v.to(dtype) if dtype is not None and v.is_floating_point() else v
    return out


def check_shapes(component: str, expected: dict[str, tuple], found: dict[str, tuple],
                 optional: tuple[str, ...] = ()) -> None:
    """Raise a WanFolderError for the first missing, unexpected or mis-shaped key (name, expected, found)."""
    for k, shape in expected.items():
        if k not in found:
            if k in optional:
                continue
            raise WanFolderError(f"component {component!r}: key {k!r} is missing (expected shape {tuple(shape)})")
        if tuple(found[k]) != tuple(shape):
            raise WanFolderError(f"component {component!r}: key {k!r} has shape {tuple(found[k])}, "
                                 f"expected {tuple(shape)} (from {component}/config.json)")
    extra = sorted(set(found) - set(expected))
    if extra:
        raise WanFolderError(f"component {component!r}: unexpected key(s) {', '.join(extra[:5])}"
                             f"{' ...' if len(extra) > 5 else ''} (found shape {tuple(found[extra[0]])}); "
                             "the weights belong to another architecture or configuration")


# ------------------------------------------------------------------------------------------------ transformer
def dit_config_from_wan(cfg: dict) -> DiTConfig:
    """diffusers' WanTransformer3DModel config.json -> the DiTConfig that holds those weights."""
    def need(key, ok, valid):
        if not ok:
            raise WanFolderError(f"component 'transformer': config {key}={cfg.get(key)!r} is not supported ({valid})")

    if cfg.get("_class_name") not in (None, "WanTransformer3DModel"):
        raise WanFolderError(f"component 'transformer': _class_name is {cfg.get('_class_name')!r}, "
                             "expected 'WanTransformer3DModel'")
    need("image_dim", cfg.get("image_dim") is None, "image conditioning (Wan I2V) is not; use a T2V folder")
    need("added_kv_proj_dim", cfg.get("added_kv_proj_dim") is None, "image conditioning (Wan I2V) is not")
    need("qk_norm", cfg.get("qk_norm", "rms_norm_across_heads") == "rms_norm_across_heads", "only 'rms_norm_across_heads'")
    need("cross_attn_norm", cfg.get("cross_attn_norm", True) is True, "only true")
    c_in, c_out = cfg.get("in_channels", 16), cfg.get("out_channels", 16) or cfg.get("in_channels", 16)
    need("in_channels", c_in == c_out, f"must equal out_channels={c_out}")
    heads, hd = int(cfg.get("num_attention_heads", 40)), int(cfg.get("attention_head_dim", 128))
    D, ffn = heads * hd, int(cfg.get("ffn_dim", 13824))
    config = DiTConfig(latent_channels=c_in, frame_conditioning=False, patch_size=tuple(cfg.get("patch_size", (1, 2, 2))),
                       hidden_size=D, depth=int(cfg.get("num_layers", 40)), num_heads=heads, mlp_ratio=ffn / D,
                       text_dim=int(cfg.get("text_dim", 4096)), text_len=512, qk_norm=True,
                       timestep_freq_dim=int(cfg.get("freq_dim", 256)), norm_eps=float(cfg.get("eps", 1e-6)),
                       qk_norm_style="rms_across_heads", gelu="tanh", modulation="shared")
    need("ffn_dim", config.mlp_hidden == ffn, f"hidden {D} x ratio must give an integer")
    return config


# (Wan key with {i} for the block index, minisora key, how). How: "copy"; "patch" (Conv3d -> Linear);
# "q"/"k"/"v": one third of the fused self-attention qkv ("q"/"k" also RoPE-permuted); "kv_k"/"kv_v":
# half of the fused cross-attention kv; "rope": a q/k RMSNorm weight, RoPE-permuted; "table": (1, n, D) -> nD.
TRANSFORMER_KEYS: tuple[tuple[str, str, str], ...] = (
    ("patch_embedding.weight", "patch_embed.weight", "patch"),
    ("patch_embedding.bias", "patch_embed.bias", "copy"),
    ("condition_embedder.time_embedder.linear_1.weight", "t_embed.0.weight", "copy"),
    ("condition_embedder.time_embedder.linear_1.bias", "t_embed.0.bias", "copy"),
    ("condition_embedder.time_embedder.linear_2.weight", "t_embed.2.weight", "copy"),
    ("condition_embedder.time_embedder.linear_2.bias", "t_embed.2.bias", "copy"),
    ("condition_embedder.time_proj.weight", "shared_mod.weight", "copy"),
    ("condition_embedder.time_proj.bias", "shared_mod.bias", "copy"),
    ("condition_embedder.text_embedder.linear_1.weight", "text_proj.0.weight", "copy"),
    ("condition_embedder.text_embedder.linear_1.bias", "text_proj.0.bias", "copy"),
    ("condition_embedder.text_embedder.linear_2.weight", "text_proj.2.weight", "copy"),
    ("condition_embedder.text_embedder.linear_2.bias", "text_proj.2.bias", "copy"),
    ("blocks.{i}.attn1.to_q.weight", "blocks.{i}.attn.qkv.weight", "q"),
    ("blocks.{i}.attn1.to_q.bias", "blocks.{i}.attn.qkv.bias", "q"),
    ("blocks.{i}.attn1.to_k.weight", "blocks.{i}.attn.qkv.weight", "k"),
    ("blocks.{i}.attn1.to_k.bias", "blocks.{i}.attn.qkv.bias", "k"),
    ("blocks.{i}.attn1.to_v.weight", "blocks.{i}.attn.qkv.weight", "v"),
    ("blocks.{i}.attn1.to_v.bias", "blocks.{i}.attn.qkv.bias", "v"),
    ("blocks.{i}.attn1.norm_q.weight", "blocks.{i}.attn.q_norm.weight", "rope"),
    ("blocks.{i}.attn1.norm_k.weight", "blocks.{i}.attn.k_norm.weight", "rope"),
    ("blocks.{i}.attn1.to_out.0.weight", "blocks.{i}.attn.proj.weight", "copy"),
    ("blocks.{i}.attn1.to_out.0.bias", "blocks.{i}.attn.proj.bias", "copy"),
    ("blocks.{i}.norm2.weight", "blocks.{i}.cross_norm.weight", "copy"),
    ("blocks.{i}.norm2.bias", "blocks.{i}.cross_norm.bias", "copy"),
    ("blocks.{i}.attn2.to_q.weight", "blocks.{i}.cross.q.weight", "copy"),
    ("blocks.{i}.attn2.to_q.bias", "blocks.{i}.cross.q.bias", "copy"),
    ("blocks.{i}.attn2.to_k.weight", "blocks.{i}.cross.kv.weight", "kv_k"),
    ("blocks.{i}.attn2.to_k.bias", "blocks.{i}.cross.kv.bias", "kv_k"),
    ("blocks.{i}.attn2.to_v.weight", "blocks.{i}.cross.kv.weight", "kv_v"),
    ("blocks.{i}.attn2.to_v.bias", "blocks.{i}.cross.kv.bias", "kv_v"),
    ("blocks.{i}.attn2.norm_q.weight", "blocks.{i}.cross.q_norm.weight", "copy"),
    ("blocks.{i}.attn2.norm_k.weight", "blocks.{i}.cross.k_norm.weight", "copy"),
    ("blocks.{i}.attn2.to_out.0.weight", "blocks.{i}.cross.proj.weight", "copy"),
    ("blocks.{i}.attn2.to_out.0.bias", "blocks.{i}.cross.proj.bias", "copy"),
    ("blocks.{i}.ffn.net.0.proj.weight", "blocks.{i}.mlp.fc1.weight", "copy"),
    ("blocks.{i}.ffn.net.0.proj.bias", "blocks.{i}.mlp.fc1.bias", "copy"),
    ("blocks.{i}.ffn.net.2.weight", "blocks.{i}.mlp.fc2.weight", "copy"),
    ("blocks.{i}.ffn.net.2.bias", "blocks.{i}.mlp.fc2.bias", "copy"),
    ("blocks.{i}.scale_shift_table", "blocks.{i}.mod_table", "table"),
    ("scale_shift_table", "final.mod_table", "table"),
    ("proj_out.weight", "final.linear.weight", "copy"),
    ("proj_out.bias", "final.linear.bias", "copy"),
)
# minisora parameters with no Wan counterpart, set to zero: the pooled-text path adds exactly 0 to c, and
# the learned null text is never used (Wan's unconditional branch is the encoded negative prompt).
ZERO_KEYS = ("pooled_embed.weight", "pooled_embed.bias", "null_token", "null_pooled")
_PARTS = {"q": (0, 3), "k": (1, 3), "v": (2, 3), "kv_k": (0, 2), "kv_v": (1, 2)}


def rope_permutation(config: DiTConfig) -> torch.Tensor:
    """Row order taking Wan's interleaved RoPE pairs to minisora's halves, per head: (D,) indices."""
    hd = config.head_dim
    within = torch.cat([torch.arange(0, hd, 2), torch.arange(1, hd, 2)])  # hd: evens, then odds
    return (torch.arange(config.num_heads)[:, None] * hd + within[None]).reshape(-1)  # D


def _rows(config: DiTConfig) -> list[tuple[str, str, str]]:
    rows = []
    for wan, ours, how in TRANSFORMER_KEYS:
        if "{i}" in wan:
            rows += [(wan.format(i=i), ours.format(i=i), how) for i in range(config.depth)]
        else:
            rows.append((wan, ours, how))
    return rows


def expected_wan_shapes(config: DiTConfig, ours: dict[str, tuple]) -> dict[str, tuple]:
    """The shape every Wan key must have, derived from the shape of the minisora parameter it fills."""
    D, P = config.hidden_size, config.patch_size
    out = {}
    for wan, key, how in _rows(config):
        s = ours[key]
        if how == "patch":
            out[wan] = (D, config.latent_channels, *P)
        elif how in _PARTS:
            out[wan] = (s[0] // _PARTS[how][1], *s[1:])
        elif how == "table":
            out[wan] = (1, s[0] // D, D)
        else:
            out[wan] = s
    return out


def convert_transformer(wan: dict[str, torch.Tensor], config: DiTConfig, ours: dict[str, tuple]) -> dict[str, torch.Tensor]:
    """Wan state dict (shapes already checked) -> minisora DiT state dict, following TRANSFORMER_KEYS."""
    perm = rope_permutation(config)
    parts: dict[str, list] = {}
    state = {}
    for wkey, key, how in _rows(config):
        v = wan[wkey]
        if how == "patch":  # Conv3d (D, C, pt, ph, pw) -> Linear over boxes flattened as (pt, ph, pw, C)
            v = v.permute(0, 2, 3, 4, 1).reshape(v.shape[0], -1)
        elif how in ("q", "k", "rope"):
            v = v[perm]
        elif how == "table":
            v = v.reshape(-1)  # (1, n, D) -> nD, chunk order kept
        if how in _PARTS:
            idx, n = _PARTS[how]
            parts.setdefault(key, [None] * n)[idx] = v
            if all(p is not None for p in parts[key]):
                state[key] = torch.cat(parts.pop(key), dim=0)
        else:
            state[key] = v
    for key in ZERO_KEYS:
        state[key] = torch.zeros(ours[key])
    return state


def load_wan_transformer(folder: str | Path, dtype: torch.dtype = torch.float32):
    """A minisora DiT holding the transformer of a Wan folder (`folder/transformer`)."""
    from minisora.dit.model import DiT

    folder = Path(folder)
    cfg_file = folder / "config.json"
    if not cfg_file.is_file():
        raise WanFolderError(f"component 'transformer': {cfg_file} is missing")
    config = dit_config_from_wan(json.loads(cfg_file.read_text()))
    with torch.device("meta"):
        model = DiT(config)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    check_shapes("transformer", expected_wan_shapes(config, ours), tensor_shapes(folder, "transformer"))
    state = convert_transformer(read_tensors(folder, "transformer", dtype=dtype), config, ours)
    model.load_state_dict(state, strict=True, assign=True)  # the meta model takes the tensors as they are
    return model.to(dtype).eval()
