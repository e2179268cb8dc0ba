"""The builtin rewriter's language model: a small decoder-only word-level transformer.

A training example is one sequence `<bos> prompt <sep> caption <eos>`; the loss covers the caption
and `<eos>` only, so the model learns p(caption | prompt) (GPT-style conditional generation, Radford
et al. 2019). Generation samples a batch of candidate captions at once with a key/value cache, so one
rewrite costs a few dozen cheap single-token steps.

This file knows nothing of data, training or I/O: `WordTokenizer` maps words to ids, `RewriterLM` is
the network, `generate` samples from it.
"""

from __future__ import annotations

import itertools
import math
import re

import torch
import torch.nn as nn
import torch.nn.functional as F

from minisora.text.config import RewriterLMConfig

PAD, BOS, SEP, EOS, UNK = "<pad>", "<bos>", "<sep>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, SEP, EOS, UNK)

# Words (with inner hyphens, e.g. "up-left"), numbers and single punctuation marks.
_TOKEN_RE = re.compile(r"[a-z]+(?:-[a-z]+)*|\d+|[^\sa-z\d]")


class WordTokenizer:
    """Word-level tokenizer with word-pair merges (byte-pair encoding over words, Sennrich et al.
    2016, applied to whole words): frequent phrases of the caption language ("to the left",
    "nothing blocks the view .") become single tokens, so a caption takes ~2x fewer decoding steps.

    `words` is the vocabulary (specials first; a merged token is its words joined by a space);
    `merges` the ordered list of merged pairs. Prompts are encoded word by word (`merge=False`).
    """

    def __init__(self, words: list[str], merges: list[tuple[str, str]] | None = None):
        if list(words[:len(SPECIALS)]) != list(SPECIALS):
            raise ValueError(f"a rewriter vocabulary starts with {SPECIALS}, got {words[:len(SPECIALS)]}")
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("rewriter vocabulary holds duplicate words")
        self.merges = [tuple(m) for m in (merges or [])]
        self.rank = {m: r for r, m in enumerate(self.merges)}
        for a, b in self.merges:
            if f"{a} {b}" not in self.index:
                raise ValueError(f"merge {a!r}+{b!r} has no token in the vocabulary")
        self.pad, self.bos, self.sep, self.eos, self.unk = (self.index[s] for s in SPECIALS)

    @classmethod
    def build(cls, prompts, captions, num_merges: int = 0, merge_sample: int = 3000,
              can_merge=None) -> "WordTokenizer":
        """Vocabulary from all words of `prompts` and `captions`, plus `num_merges` merges learned on
        (up to `merge_sample` of) the captions. `can_merge(a, b) -> bool` may forbid merges (the
        rewriter forbids tokens that bind a colour to a shape, which would hide held-out pairs)."""
        words = set()
        for t in itertools.chain(prompts, captions):
            words.update(cls.split(t))
        seqs = [cls.split(c) for c in list(captions)[:merge_sample]]
        merges: list[tuple[str, str]] = []
        for _ in range(num_merges):
            counts: dict[tuple[str, str], int] = {}
            for s in seqs:
                for pair in zip(s, s[1:]):
                    counts[pair] = counts.get(pair, 0) + 1
            if can_merge is not None:
                counts = {p: c for p, c in counts.items() if can_merge(*p)}
            if not counts:
                break
            pair = max(counts, key=counts.get)
            if counts[pair] < 2:
                break
            merges.append(pair)
            seqs = [_merge_pair(s, pair) for s in seqs]
        vocab = list(SPECIALS) + sorted(words) + [f"{a} {b}" for a, b in merges]
        return cls(vocab, merges)

    @staticmethod
    def split(text: str) -> list[str]:
        return _TOKEN_RE.findall(text.lower())

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, text: str, merge: bool = True) -> list[int]:
        seq = self.split(text)
        if merge and self.merges:
            while len(seq) > 1:
                ranked = [(self.rank.get(p, len(self.rank)), p) for p in zip(seq, seq[1:])]
                r, pair = min(ranked)
                if r == len(self.rank):
                    break
                seq = _merge_pair(seq, pair)
        return [self.index.get(w, self.unk) for w in seq]

    def decode(self, ids) -> str:
        """Join tokens with spaces, attach punctuation to the word before it, capitalise sentences."""
        text = " ".join(self.words[int(i)] for i in ids if self.words[int(i)] not in SPECIALS)
        text = re.sub(r" ([.,;:!?])", r"\1", text)
        return re.sub(r"(^|[.!?] )([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)

    def known(self) -> set[str]:
        return {w for w in self.words if w not in SPECIALS and " " not in w}

    def state(self) -> dict:
        return {"words": self.words, "merges": [list(m) for m in self.merges]}

    @classmethod
    def from_state(cls, state: dict) -> "WordTokenizer":
        return cls(state["words"], [tuple(m) for m in state["merges"]])


def _merge_pair(seq: list[str], pair: tuple[str, str]) -> list[str]:
    out, i = [], 0
    while i < len(seq):
        if i + 1 < len(seq) and seq[i] == pair[0] and seq[i + 1] == pair[1]:
            out.append(f"{pair[0]} {pair[1]}")
            i += 2
        else:
            out.append(seq[i])
            i += 1
    return out


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, cache: tuple[torch.Tensor, torch.Tensor] | None = None,
                pos: int = 0) -> torch.Tensor:
        B, N, D = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)  # 3×(B,h,N,d)
        if cache is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B,h,N,d)
        else:
            # Preallocated cache (B,h,Tmax,d): write this step's keys/values at [pos, pos+N).
            kc, vc = cache
            kc[:, :, pos:pos + N] = k
            vc[:, :, pos:pos + N] = v
            k, v = kc[:, :, :pos + N], vc[:, :, :pos + N]
            if N == 1:
                y = F.scaled_dot_product_attention(q, k, v)  # one query sees every cached key
            else:
                # a prefix written into an empty cache (pos = 0): plain causal attention
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(B, N, D))  # (B,N,D)


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, cache=None, pos=0):
        x = x + self.drop(self.attn(self.norm1(x), cache, pos))
        return x + self.drop(self.mlp(self.norm2(x)))


class RewriterLM(nn.Module):
    """Decoder-only transformer: ids (B,N) ⟶ logits (B,N,V). Pre-norm, learned positions, tied output."""

    def __init__(self, config: RewriterLMConfig):
        super().__init__()
        if config.vocab_size <= len(SPECIALS):
            raise ValueError(f"RewriterLMConfig.vocab_size must be set from the tokenizer, got {config.vocab_size}")
        self.config = config
        self.tok = nn.Embedding(config.vocab_size, config.dim)
        self.pos = nn.Embedding(config.max_seq_len, config.dim)
        self.blocks = nn.ModuleList(Block(config.dim, config.heads, config.mlp_ratio, config.dropout)
                                    for _ in range(config.depth))
        self.norm = nn.LayerNorm(config.dim)
        self.apply(self._init)
        # GPT-2's scaled init of residual projections keeps the residual stream's variance flat in depth.
        for b in self.blocks:
            nn.init.normal_(b.attn.proj.weight, std=0.02 / math.sqrt(2 * config.depth))
            nn.init.normal_(b.mlp[2].weight, std=0.02 / math.sqrt(2 * config.depth))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, ids: torch.Tensor, caches: list | None = None, pos: int = 0) -> torch.Tensor:
        B, N = ids.shape
        if pos + N > self.config.max_seq_len:
            raise ValueError(f"sequence of {pos + N} tokens exceeds max_seq_len {self.config.max_seq_len}")
        x = self.tok(ids) + self.pos(torch.arange(pos, pos + N, device=ids.device))  # (B,N,D)
        for i, block in enumerate(self.blocks):
            x = block(x, None if caches is None else caches[i], pos)
        return self.norm(x) @ self.tok.weight.T  # (B,N,V), output tied to the input embedding

    def new_caches(self, batch: int, length: int, dtype: torch.dtype, device) -> list:
        c = self.config
        shape = (batch, c.heads, length, c.dim // c.heads)  # (B,h,T,d)
        return [(torch.empty(shape, dtype=dtype, device=device), torch.empty(shape, dtype=dtype, device=device))
                for _ in range(c.depth)]


def decode_step(model: RewriterLM, ids: torch.Tensor, caches: list, pos: int) -> torch.Tensor:
    """One cached decoding step, ids (B,1) ⟶ logits (B,V): the same arithmetic as `model(ids, caches,
    pos)`, written with functional calls because at batch 1 a step is a few dozen tiny kernels and
    the nn.Module call machinery would cost as much as the arithmetic."""
    c = model.config
    B, h, d = ids.shape[0], c.heads, c.dim // c.heads
    x = F.embedding(ids, model.tok.weight) + model.pos.weight[pos]  # (B,1,D)
    for blk, (kc, vc) in zip(model.blocks, caches):
        y = F.layer_norm(x, (c.dim,), blk.norm1.weight, blk.norm1.bias, blk.norm1.eps)
        qkv = F.linear(y, blk.attn.qkv.weight, blk.attn.qkv.bias).view(B, 3, h, d)  # (B,3,h,d)
        kc[:, :, pos] = qkv[:, 1]
        vc[:, :, pos] = qkv[:, 2]
        a = F.scaled_dot_product_attention(qkv[:, 0, :, None], kc[:, :, :pos + 1], vc[:, :, :pos + 1])  # (B,h,1,d)
        x = x + F.linear(a.reshape(B, 1, c.dim), blk.attn.proj.weight, blk.attn.proj.bias)  # (B,1,D)
        y = F.layer_norm(x, (c.dim,), blk.norm2.weight, blk.norm2.bias, blk.norm2.eps)
        y = F.gelu(F.linear(y, blk.mlp[0].weight, blk.mlp[0].bias), approximate="tanh")
        x = x + F.linear(y, blk.mlp[2].weight, blk.mlp[2].bias)
    x = F.layer_norm(x[:, -1], (c.dim,), model.norm.weight, model.norm.bias, model.norm.eps)  # (B,D)
    return x @ model.tok.weight.T  # (B,V)


@torch.inference_mode()
def generate(model: RewriterLM, prefix: list[int], *, num_samples: int, max_new_tokens: int, eos: int,
             temperature: float = 1.0, top_k: int = 0, generator: torch.Generator | None = None,
             banned: list[int] | None = None) -> list[list[int]]:
    """Sample `num_samples` continuations of `prefix` (a list of ids ending in <sep>) in one batch.

    Sampling is top-k with temperature, drawn by the Gumbel-max trick (argmax of logits/T plus
    Gumbel noise samples exactly from the softmax, with one cheap kernel). Returns the sampled ids
    per sample, without the prefix and without <eos>. The same generator state gives the same
    samples (the reproducibility contract: same seed, same output).
    """
    model.eval()
    dtype = next(model.parameters()).dtype
    device = next(model.parameters()).device
    max_new_tokens = min(max_new_tokens, model.config.max_seq_len - len(prefix))
    if max_new_tokens < 1:
        raise ValueError(f"prompt of {len(prefix)} tokens leaves no room in max_seq_len {model.config.max_seq_len}")
    B = num_samples
    caches = model.new_caches(B, len(prefix) + max_new_tokens, dtype, device)
    ids = torch.tensor(prefix, device=device).expand(B, -1)  # (B,P)
    logits = model(ids, caches, 0)[:, -1].float()  # (B,V)
    pos = len(prefix)
    out = torch.empty(B, max_new_tokens, dtype=torch.long)
    done = torch.zeros(B, dtype=torch.bool)
    k = top_k if 0 < top_k < logits.shape[-1] else logits.shape[-1]
    n = 0
    for n in range(max_new_tokens):
        if banned:
            logits[:, banned] = -float("inf")
        vals, idx = logits.topk(k, dim=-1)  # (B,k)
        u = torch.rand(vals.shape, generator=generator, device=vals.device).clamp_(min=1e-20)
        choice = (vals / temperature - torch.log(-torch.log(u))).argmax(-1, keepdim=True)  # (B,1)
        nxt = idx.gather(1, choice)  # (B,1)
        nxt = torch.where(done[:, None], torch.full_like(nxt, eos), nxt)
        out[:, n] = nxt[:, 0]
        done |= nxt[:, 0] == eos
        if bool(done.all()):
            break
        logits = decode_step(model, nxt, caches, pos).float()  # (B,V)
        pos += 1
    result = []
    for row in out[:, :n + 1].tolist():
        result.append(row[:row.index(eos)] if eos in row else row)
    return result
