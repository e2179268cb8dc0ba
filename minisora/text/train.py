"""Training the builtin prompt rewriter on (short prompt ⟶ descriptive caption) pairs.

The pairs come from the world itself (`world.rules.make_pairs`): a scene of the *train* split
(held-out attribute combinations never appear) is written once as a short user prompt and once as
a dense caption. The model reads the canonical form of the parsed prompt and learns to write the
caption, so its rewrites land in the caption distribution the video model was trained on. A tenth
of the pairs read the parsed *caption* instead, so a fully specified prompt is rewritten too.

A compact loop of its own (AdamW, warmup + cosine, bf16 autocast on CPU): the model is ~2M
parameters and trains in minutes on a laptop CPU.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from minisora.config import to_dict
from minisora.world import vocabulary as V
from minisora.world.scene import ParsedObject, ParsedScene
from minisora.world.grammar import parse
from minisora.text.config import RewriterLMConfig, RewriterTrainConfig
from minisora.text.lm import RewriterLM, WordTokenizer
from minisora.text.rewriter import DEFAULT_REWRITER_DIR
from minisora.world.rules import canonical_prompt, check_caption, make_pairs
from minisora.weights import save_weights

NUM_MERGES = 300

_DIRECTION_WORDS = {"left", "right", "up", "down", "leftward", "rightward", "upward", "downward",
                    "top", "bottom", "upper", "lower"} | set(V.MOTIONS)


def _categories(token: str) -> set[str]:
    cats = set()
    for w in token.split():
        if w in V.COLORS:
            cats.add("color")
        elif w in V.SHAPES:
            cats.add("shape")
        elif w in _DIRECTION_WORDS:
            cats.add("motion")
    return cats


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


def encode_examples(tok: WordTokenizer, examples: list[tuple[str, str]], max_len: int
                    ) -> list[tuple[list[int], int]]:
    """Each example as (ids `<bos> prompt <sep> caption <eos>`, number of prompt tokens incl. <sep>)."""
    out = []
    for src, tgt in tqdm(examples, desc="tokenizing", leave=False, mininterval=2):
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


def lm_loss(model: RewriterLM, x: torch.Tensor, y: torch.Tensor, bf16: bool) -> torch.Tensor:
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = model(x)  # (B,N,V)
    return F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), ignore_index=-100)


def lr_at(step: int, cfg: RewriterTrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))


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


def train_rewriter(cfg: RewriterTrainConfig, out_dir: str | Path | None = DEFAULT_REWRITER_DIR,
                   progress: bool = True, lm_config: RewriterLMConfig | None = None) -> dict:
    """Train the rewriter and (when `out_dir` is not None) release it there as bf16 safetensors +
    config.json. Returns {"model", "tokenizer", "metrics"}."""
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    t0 = time.time()
    pairs = make_pairs(cfg.num_pairs, seed=cfg.seed, split="train")
    val_pairs = make_pairs(cfg.val_pairs, seed=cfg.seed + 1, split="train")
    heldout_prompts = [p for p, _ in make_pairs(cfg.heldout_check, seed=cfg.seed + 2, split="heldout")]
    examples = build_examples(pairs, rng)
    val_examples = build_examples(val_pairs, rng)
    tok = WordTokenizer.build([s for s, _ in examples], [c for _, c in examples],
                              num_merges=NUM_MERGES, can_merge=can_merge)
    lm_cfg = replace(lm_config or RewriterLMConfig.preset(cfg.preset), vocab_size=len(tok))
    data = encode_examples(tok, examples, lm_cfg.max_seq_len)
    val = encode_examples(tok, val_examples, lm_cfg.max_seq_len)
    model = RewriterLM(lm_cfg)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.98))
    gen = torch.Generator().manual_seed(cfg.seed)
    history = []

    def val_loss() -> float:
        model.eval()
        with torch.no_grad():
            losses = [lm_loss(model, *collate(val[i:i + 128], tok.pad), cfg.bf16).item()
                      for i in range(0, len(val), 128)]
        model.train()
        return float(np.mean(losses))

    prep_s = time.time() - t0
    bar = tqdm(range(cfg.steps), desc="train-rewriter", disable=not progress, mininterval=1)
    t1 = time.time()
    loss_ema = None
    for step in bar:
        idx = torch.randint(len(data), (cfg.batch_size,), generator=gen).tolist()
        x, y = collate([data[i] for i in idx], tok.pad)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        loss = lm_loss(model, x, y, cfg.bf16)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        loss_ema = loss.item() if loss_ema is None else 0.95 * loss_ema + 0.05 * loss.item()
        if (step + 1) % cfg.log_every == 0:
            bar.set_postfix(loss=f"{loss_ema:.3f}", lr=f"{lr_at(step, cfg):.1e}")
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            history.append({"step": step + 1, "train_loss": loss_ema, "val_loss": val_loss()})
            if progress:
                tqdm.write(f"step {step + 1}: train {loss_ema:.4f} val {history[-1]['val_loss']:.4f}")
            if out_dir is not None and step + 1 < cfg.steps:
                # an interim release: a long run stopped early still leaves a usable model behind
                save_rewriter(out_dir, model, tok, cfg, {"interim_step": step + 1, "history": history})
    train_s = time.time() - t1
    model.eval()
    metrics = {
        "val_loss": history[-1]["val_loss"] if history else float("nan"),
        "heldout_first_try_ok": first_try_rate(model, tok, heldout_prompts, seed=cfg.seed),
        "params": model.num_params(),
        "prep_seconds": round(prep_s, 1),
        "train_seconds": round(train_s, 1),
        "history": history,
    }
    if progress:
        print(f"rewriter: {metrics['params']:,} params, val loss {metrics['val_loss']:.4f}, "
              f"held-out first-try ok {metrics['heldout_first_try_ok']:.1%}, train {train_s:.0f}s")
    if out_dir is not None:
        save_rewriter(out_dir, model, tok, cfg, metrics)
    return {"model": model, "tokenizer": tok, "metrics": metrics}


def save_rewriter(out_dir: str | Path, model: RewriterLM, tok: WordTokenizer, cfg: RewriterTrainConfig,
                  metrics: dict) -> Path:
    """Release format (minisora/weights.py): model.safetensors (bf16) + config.json holding the LM
    config, the tokenizer (vocabulary and merges), the training config and its metrics."""
    config = {"kind": "minisora-rewriter", "lm": to_dict(model.config), "tokenizer": tok.state(),
              "train": to_dict(cfg), "metrics": metrics}
    return save_weights(out_dir, model.state_dict(), config, dtype=torch.bfloat16)
