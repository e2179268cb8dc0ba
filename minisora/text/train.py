"""Training the builtin prompt rewriter on (short prompt ⟶ descriptive caption) pairs.

The pairs come from the world itself (`world.rules.make_pairs`): a scene of the *train* split
(held-out attribute combinations never appear) is written once as a short user prompt and once as
a dense caption. The model reads the canonical form of the parsed prompt and learns to write the
caption, so its rewrites land in the caption distribution the video model was trained on. A tenth
of the pairs read the parsed *caption* instead, so a fully specified prompt is rewritten too.

A `Task` of the training harness (train/harness.py runs the loop, checkpoints, schedule, metrics,
NaN policy, budget, resume): the model is ~0.7M parameters and trains in minutes on a laptop CPU.
The pairs, the tokenizer and the examples are a pure function of the seed, and the batch of step k
of (seed, k), so a resumed run continues exactly.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from minisora.config import to_dict
from minisora.precision import autocast as precision_autocast
from minisora.world import vocabulary as V
from minisora.world.scene import ParsedObject, ParsedScene
from minisora.world.grammar import parse
from minisora.text.config import RewriterLMConfig, RewriterTrainConfig
from minisora.text.lm import RewriterLM, WordTokenizer
from minisora.train.config import ParallelConfig
from minisora.train.distributed import DistInfo, apply_parallelism
from minisora.train.harness import Loop, fit, flat_loop, release_folder, micro_generator
from minisora.world.rules import canonical_prompt, check_caption, make_pairs
from minisora.weights import save_weights


_DIRECTION_WORDS = {"left", "right", "up", "down", "leftward", "rightward", "upward", "downward",
                    "top", "bottom", "upper", "lower"} | set(V.MOTIONS)


@functools.lru_cache(maxsize=None)  # called for every candidate pair of every merge: few distinct tokens
def _categories(token: str) -> frozenset[str]:
    cats = set()
    for w in token.split():
        if w in V.COLORS:
            cats.add("color")
        elif w in V.SHAPES:
            cats.add("shape")
        elif w in _DIRECTION_WORDS:
            cats.add("motion")
    return frozenset(cats)


def can_merge(a: str, b: str) -> bool:
    """Forbid merged tokens that bind a colour, a shape and a direction together: such tokens would
    make held-out combinations (a red star, a circle moving up) unspellable by the model."""
    return len(_categories(a) | _categories(b)) <= 1


def drop_attributes(parsed: ParsedScene, rng: np.random.Generator, p: float) -> ParsedScene:
    """A copy of `parsed` with each stated attribute forgotten with probability `p`. The prompt
    writer always names colour and shape; users do not ("a star and a red box"), so the model must
    also learn to fill any field. The caption stays the same: a forgotten attribute is one to fill."""
    objects = [ParsedObject(**{f: (None if rng.random() < p else getattr(o, f)) for f in ParsedObject.FIELDS})
               for o in parsed.objects]
    return ParsedScene(objects=objects,
                       background=None if rng.random() < p else parsed.background,
                       occluder=None if rng.random() < p else parsed.occluder,
                       count=parsed.count)


def build_examples(pairs: list[tuple[str, str]], rng: np.random.Generator, caption_share: float = 0.1,
                   drop_share: float = 0.3, drop_p: float = 0.35) -> list[tuple[str, str]]:
    """(model input, target caption): the canonical parsed prompt; for `caption_share` of the pairs
    the canonical parsed caption instead (a user may paste a full description); for `drop_share`
    of them with attributes forgotten at random (`drop_attributes`)."""
    out = []
    for prompt, caption in pairs:
        parsed = parse(caption if rng.random() < caption_share else prompt)
        if rng.random() < drop_share:
            parsed = drop_attributes(parsed, rng, drop_p)
        out.append((canonical_prompt(parsed), caption))
    return out


def encode_examples(tok: WordTokenizer, examples: list[tuple[str, str]], max_len: int, progress: bool = True
                    ) -> list[tuple[list[int], int]]:
    """Each example as (ids `<bos> prompt <sep> caption <eos>`, number of prompt tokens incl. <sep>)."""
    out = []
    for src, tgt in tqdm(examples, desc="tokenizing", leave=False, mininterval=2, disable=not progress):
        p = [tok.bos] + tok.encode(src, merge=False) + [tok.sep]
        ids = p + tok.encode(tgt) + [tok.eos]
        if len(ids) > max_len:
            raise ValueError(f"example of {len(ids)} tokens exceeds max_seq_len {max_len}: {tgt!r}")
        out.append((ids, len(p)))
    return out


def collate(batch: list[tuple[list[int], int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """ids (B,N) and targets (B,N): the next token on caption positions, -100 elsewhere."""
    n = max(len(ids) for ids, _ in batch)
    x = torch.full((len(batch), n), pad, dtype=torch.long)
    y = torch.full((len(batch), n), -100, dtype=torch.long)
    for i, (ids, p) in enumerate(batch):
        t = torch.tensor(ids)
        x[i, :len(ids)] = t
        y[i, p - 1:len(ids) - 1] = t[p:]  # position j predicts token j+1; predict from <sep> on
    return x, y


def lm_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, precision: str) -> torch.Tensor:
    with precision_autocast(precision, x.device):
        logits = model(x)  # (B,N,V)
    return F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), ignore_index=-100)


def first_try_rate(model: RewriterLM, tok: WordTokenizer, prompts: list[str], seed: int = 0) -> float:
    """Share of prompts whose first sampled caption keeps every stated attribute and is valid."""
    from minisora.text.lm import generate

    g = torch.Generator().manual_seed(seed)
    ok = 0
    for p in prompts:
        stated = parse(p)
        prefix = [tok.bos] + tok.encode(canonical_prompt(stated), merge=False) + [tok.sep]
        ids = generate(model, prefix, num_samples=1, max_new_tokens=64, eos=tok.eos,
                       temperature=0.8, top_k=20, generator=g)[0]
        ok += check_caption(stated, tok.decode(ids)).ok
    return ok / max(1, len(prompts))


# Fields that may change when a run is resumed: the budget, where the run lives, and what only reports.
BUDGET_KEYS = ("steps", "minutes", "log_every", "eval_every", "save_every", "keep_last", "threads", "run_dir",
               "release_dir", "resume", "heldout_check")


class RewriterTask:
    """The rewriter's part of a run: pairs -> examples -> tokenizer -> LM, next-token loss on captions."""

    def __init__(self, cfg: RewriterTrainConfig, info: DistInfo, lm_config: RewriterLMConfig | None, progress: bool):
        self.cfg, self.info = cfg, info
        rng = np.random.default_rng(cfg.seed)
        examples = build_examples(make_pairs(cfg.num_pairs, seed=cfg.seed, split="train"), rng)
        val_examples = build_examples(make_pairs(cfg.val_pairs, seed=cfg.seed + 1, split="train"), rng)
        self.heldout = [p for p, _ in make_pairs(cfg.heldout_check, seed=cfg.seed + 2, split="heldout")]
        self.tok = WordTokenizer.build([s for s, _ in examples], [c for _, c in examples],
                                       num_merges=cfg.num_merges, can_merge=can_merge)
        lm_cfg = replace(lm_config or RewriterLMConfig.preset(cfg.preset), vocab_size=len(self.tok))
        self.data = encode_examples(self.tok, examples, lm_cfg.max_seq_len, progress)
        self.val = encode_examples(self.tok, val_examples, lm_cfg.max_seq_len, progress)
        self.model = RewriterLM(lm_cfg)
        self.model_config = {"lm": to_dict(lm_cfg), "tokenizer": self.tok.state()}
        self.metrics: dict = {}

    def param_groups(self) -> list[dict]:
        named = list(self.model.named_parameters())
        return [{"params": [p for _, p in named if p.dim() >= 2], "weight_decay": self.cfg.weight_decay},
                {"params": [p for _, p in named if p.dim() < 2], "weight_decay": 0.0}]

    def wrap(self, model: RewriterLM, info: DistInfo) -> torch.nn.Module:
        return apply_parallelism(model, ParallelConfig(), info)

    def start(self, data_state: dict | None) -> None:
        """Batches are a function of the step: there is no data position to restore."""

    def data_state(self) -> dict:
        return {}

    def micro_batch(self, step: int, index: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        # the data draw has a generator of its own (index `count`: never a micro-batch's index)
        draw = micro_generator(self.cfg.seed, step, count)
        idx = torch.randint(len(self.data), (self.cfg.batch_size,), generator=draw)
        n = self.cfg.batch_size // count
        return collate([self.data[i] for i in idx[index * n:(index + 1) * n].tolist()], self.tok.pad)

    def loss(self, model: torch.nn.Module, batch, generator: torch.Generator):
        return lm_loss(model, *batch, self.cfg.precision), {}

    def evaluate(self, step: int, model: RewriterLM, ema) -> dict:
        model.eval()
        with torch.no_grad():
            losses = [lm_loss(model, *collate(self.val[i:i + 128], self.tok.pad), self.cfg.precision).item()
                      for i in range(0, len(self.val), 128)]
            out = {"val_loss": float(np.mean(losses))}
            if step == self.cfg.steps and self.heldout:  # the end of the run: sample held-out prompts too
                out["heldout_first_try_ok"] = first_try_rate(model, self.tok, self.heldout, seed=self.cfg.seed)
        model.train()
        self.metrics = out
        return out

    def release(self, step: int, model: RewriterLM, ema, record: dict) -> None:
        """An interim release at every checkpoint: a long run stopped early still leaves a usable model."""
        if self.info.is_main:
            save_rewriter(release_folder(self.cfg), model, self.tok, self.cfg,
                          {"step": step, "params": model.num_params(), **self.metrics})


def loop_config(cfg: RewriterTrainConfig, allow_changed: bool = False, progress: bool = True) -> Loop:
    # betas (0.9, 0.98): the usual choice for a small transformer LM trained with a high peak lr
    return flat_loop(cfg, "train-rewriter", BUDGET_KEYS, betas=(0.9, 0.98), ema_decay=0.0, ema_start=0,
                     micro_batch_size=cfg.batch_size, allow_changed=allow_changed, progress=progress)


def train_rewriter(cfg: RewriterTrainConfig, progress: bool = True, lm_config: RewriterLMConfig | None = None,
                   allow_changed: bool = False) -> dict:
    """Train (or resume) the rewriter in `cfg.run_dir` and release it to `release_folder(cfg)` as bf16
    safetensors + config.json. Returns the harness's summary plus "model", "tokenizer", "metrics"."""
    release_folder(cfg)  # a release folder inside the package is refused before any work
    built = []

    def build(info: DistInfo) -> RewriterTask:
        built.append(RewriterTask(cfg, info, lm_config, progress))
        return built[0]

    summary = fit(loop_config(cfg, allow_changed, progress), build)
    task = built[0]
    task.model.eval()
    metrics = {**summary["final"], "params": task.model.num_params(),
               "history": [r for r in summary["history"] if "val_loss" in r]}
    if progress and "val_loss" in metrics:
        print(f"rewriter: {metrics['params']:,} params, val loss {metrics['val_loss']:.4f}, held-out first-try ok "
              f"{metrics.get('heldout_first_try_ok', float('nan')):.1%}; released to {release_folder(cfg)}")
    return {**summary, "model": task.model, "tokenizer": task.tok, "metrics": metrics}


def save_rewriter(out_dir: str | Path, model: RewriterLM, tok: WordTokenizer, cfg: RewriterTrainConfig,
                  metrics: dict) -> Path:
    """Release format (minisora/weights.py): model.safetensors (bf16) + config.json holding the LM
    config, the tokenizer (vocabulary and merges), the training config and its metrics."""
    config = {"kind": "minisora-rewriter", "lm": to_dict(model.config), "tokenizer": tok.state(),
              "train": to_dict(cfg), "metrics": metrics}
    return save_weights(out_dir, model.state_dict(), config, dtype=torch.bfloat16)
