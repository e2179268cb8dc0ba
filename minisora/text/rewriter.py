"""Prompt rewriting: a short user prompt ⟶ a descriptive caption in the language the video model knows.

Sora trains on dense re-captions and, at generation time, expands the user's short prompt into the
same kind of caption ("we leverage GPT to turn short user prompts into longer detailed captions").
Every backend here answers `rewrite(prompt, seed) -> RewriteResult`:

- `builtin` (`BuiltinRewriter`): minisora's own small transformer LM (`lm.py`), trained on
  (short prompt ⟶ caption) pairs of the training world. The prompt is first normalised onto the
  vocabulary (`world.normalize.WordMapper`), parsed, and serialised canonically; the LM samples captions
  (seeded); each is parsed back and checked: it must be a valid caption and keep every stated
  attribute. After `max_tries` failed batches the rule-based expansion (`world.rules.expand`) is
  used, and `path` says so.
- `openai` (`openai_backend.OpenAIRewriter`, importing this module for its fallback): any OpenAI-compatible chat-completions endpoint.
- `none` (`NoneRewriter`): the prompt is used as is.

What they share is in `rewriting.py`; `backends.load_rewriter` picks one by name.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import torch

from minisora.config import from_dict
from minisora.text.config import RewriterConfig, RewriterLMConfig
from minisora.text.lm import RewriterLM, WordTokenizer, generate
from minisora.text.rewriting import (RewriteError, RewriteResult, default_mapper, fallback_rewrite, fit_prompt,
                                     result_from_check, with_fit, with_unstated_size)
from minisora.weights import load_weights
from minisora.world.grammar import parse
from minisora.world.normalize import WordMapper
from minisora.world.rules import canonical_prompt, check_caption
from minisora.world.scene import ParsedScene

DEFAULT_REWRITER_DIR = Path(__file__).resolve().parent.parent / "assets" / "minisora-tiny" / "rewriter"


def load_lm(path: str | Path) -> tuple[RewriterLM, WordTokenizer, dict]:
    """Load a released rewriter folder (config.json + model.safetensors) as float32 for decoding."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"no builtin rewriter at {path}: train one with `minisora train-rewriter "
                                f"--out {path}`, or choose another backend (--rewriter none|openai)")
    state, config = load_weights(path, dtype=torch.float32)
    if config.get("kind") != "minisora-rewriter":
        raise ValueError(f"{path} holds {config.get('kind')!r} weights, not a minisora-rewriter")
    tok = WordTokenizer.from_state(config["tokenizer"])
    lm_cfg = from_dict(RewriterLMConfig, config["lm"])
    model = RewriterLM(lm_cfg)
    model.load_state_dict(state)
    return model.eval().requires_grad_(False), tok, config


class BuiltinRewriter:
    """minisora's own rewriter: normalise ⟶ parse ⟶ LM samples ⟶ check ⟶ (fallback: rule-based)."""

    def __init__(self, path: str | Path | None = None, config: RewriterConfig = RewriterConfig(),
                 mapper: WordMapper | None = None, model: RewriterLM | None = None,
                 tokenizer: WordTokenizer | None = None):
        self.config = config
        if model is None:
            self.path = Path(path) if path is not None else DEFAULT_REWRITER_DIR
            model, tokenizer, self.release_config = load_lm(self.path)
        else:
            if tokenizer is None:
                raise ValueError("BuiltinRewriter(model=...) needs its tokenizer too")
            self.path, self.release_config = None, {}
        self.model, self.tokenizer = model.eval(), tokenizer
        self.mapper = mapper if mapper is not None else default_mapper(config.synonym_threshold)

    def save_pretrained(self, path: str | Path) -> Path:
        """Write this rewriter as a release folder (bf16 safetensors + config.json), e.g. inside a
        pipeline folder."""
        from minisora.config import to_dict
        from minisora.weights import save_weights

        config = dict(self.release_config) if self.release_config else {"kind": "minisora-rewriter"}
        config.update(lm=to_dict(self.model.config), tokenizer=self.tokenizer.state())
        return save_weights(path, self.model.state_dict(), config, dtype=torch.bfloat16)

    def sample_captions(self, stated: ParsedScene, num: int, generator: torch.Generator) -> list[str]:
        tok = self.tokenizer
        prefix = [tok.bos] + tok.encode(canonical_prompt(stated), merge=False) + [tok.sep]
        samples = generate(self.model, prefix, num_samples=num, max_new_tokens=self.config.max_new_tokens,
                           eos=tok.eos, temperature=self.config.temperature, top_k=self.config.top_k,
                           generator=generator, banned=[tok.pad, tok.bos, tok.sep, tok.unk])
        return [tok.decode(ids) for ids in samples]

    def rewrite(self, prompt: str, seed: int = 0) -> RewriteResult:
        t0 = time.perf_counter()
        norm, fit = fit_prompt(self.mapper.normalize(prompt))
        # What the caption must show: the stated attributes plus the configured size where none was
        # stated. The report still calls that size "filled" (checked against the prompt as typed).
        wanted = replace(norm, parsed=with_unstated_size(norm.parsed, self.config.unstated_size,
                                                         self.config.unstated_size_up_to))
        generator = torch.Generator().manual_seed(int(seed))
        attempts = 0
        last_problem = ""
        # One caption first (most are accepted); then batches of `candidates` per further try.
        for attempt in range(self.config.max_tries + 1):
            num = 1 if attempt == 0 else self.config.candidates
            for caption in self.sample_captions(wanted.parsed, num, generator):
                attempts += 1
                scene = parse(caption)  # parsed once: checked twice, then handed on with the caption
                check = check_caption(wanted.parsed, scene)
                if check.ok:
                    notes = [f"accepted sample {attempts}"] if attempts > 1 else []
                    return with_fit(result_from_check(caption, check_caption(norm.parsed, scene), norm,
                                                      "builtin", attempts, notes, t0), fit)
                last_problem = "; ".join(check.problems + [f"lost {x}" for x in check.lost])
        notes = [f"{attempts} LM samples rejected (last: {last_problem})"]
        result = fallback_rewrite(wanted, seed, t0, attempts, notes)
        check = check_caption(norm.parsed, result.scene)
        return with_fit(replace(result, kept=check.kept, filled=check.filled, lost=check.lost), fit)


class NoneRewriter:
    """Use the prompt as is (still reports what the parser understood and could not place)."""

    def rewrite(self, prompt: str, seed: int = 0) -> RewriteResult:
        t0 = time.perf_counter()
        if not isinstance(prompt, str) or not prompt.strip():
            raise RewriteError(f"a prompt must be a non-empty string, got {prompt!r}")
        parsed = parse(prompt)
        kept = sorted(f"{k}={v}" for k, v in parsed.attributes())
        return RewriteResult(caption=prompt, kept=kept, filled=[], unmapped=list(parsed.unknown_words),
                             path="none", prompt=prompt, normalized=prompt, seconds=time.perf_counter() - t0,
                             scene=parsed)
