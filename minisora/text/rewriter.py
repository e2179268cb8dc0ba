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
- `openai` (`openai_backend.OpenAIRewriter`): any OpenAI-compatible chat-completions endpoint.
- `none` (`NoneRewriter`): the prompt is used as is.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from minisora.config import from_dict
from minisora.world import vocabulary as V
from minisora.world.scene import ParsedObject, ParsedScene
from minisora.world.grammar import parse
from minisora.text.config import REWRITER_BACKENDS, OpenAIConfig, RewriterConfig, RewriterLMConfig, TextEncoderConfig
from minisora.text.lm import RewriterLM, WordTokenizer, generate
from minisora.world.rules import CaptionCheck, canonical_prompt, check_caption, expand
from minisora.world.normalize import Normalized, WordMapper
from minisora.weights import load_weights

DEFAULT_REWRITER_DIR = Path(__file__).resolve().parent.parent / "assets" / "minisora-tiny" / "rewriter"


class RewriteError(ValueError):
    """The prompt asks for something the world cannot show, or a backend failed; the message says which."""


@dataclass
class RewriteResult:
    caption: str  # the rewritten prompt
    kept: list[str]  # stated attributes the caption keeps, "obj0.color=red"
    filled: list[str]  # attributes the caption adds, "background=navy"
    unmapped: list[str]  # words of the prompt that could not be mapped onto the vocabulary
    path: str  # how the caption was made: "builtin", "rule-based", "openai", "none", ...
    prompt: str = ""  # what the user typed
    normalized: str = ""  # the prompt after word mapping
    mapped: list[dict] = field(default_factory=list)  # [{"word", "term", "how", "score"}]
    lost: list[str] = field(default_factory=list)  # stated attributes the caption lost (only for "none")
    attempts: int = 0  # captions sampled/requested before this one was accepted
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        lines = [self.caption, f"  path:     {self.path}" + (f" ({'; '.join(self.notes)})" if self.notes else "")]
        lines.append(f"  kept:     {', '.join(self.kept) or '-'}")
        lines.append(f"  filled:   {', '.join(self.filled) or '-'}")
        if self.mapped:
            lines.append("  mapped:   " + ", ".join(f"{m['word']}→{m['term']} ({m['how']})" for m in self.mapped))
        lines.append(f"  unmapped: {', '.join(self.unmapped) or '-'}")
        if self.lost:
            lines.append(f"  lost:     {', '.join(self.lost)}")
        return "\n".join(lines)


def check_feasible(stated: ParsedScene, prompt: str) -> None:
    """Raise RewriteError for prompts the world cannot hold (too many objects, repeated colours) or
    that contradict themselves (a count below the objects described)."""
    n = max(len(stated.objects), stated.count or 0)
    if n > V.MAX_OBJECTS:
        raise RewriteError(f"{prompt!r} asks for {n} objects; MovingShapes scenes hold 1 to {V.MAX_OBJECTS}")
    if stated.count is not None and len(stated.objects) > stated.count:
        raise RewriteError(f"{prompt!r} says {stated.count} objects but describes {len(stated.objects)}")
    colors = [o.color for o in stated.objects if o.color]
    if len(set(colors)) != len(colors):
        raise RewriteError(f"{prompt!r} gives two objects the same colour ({colors}); objects in a scene "
                           f"have distinct colours")


def with_unstated_size(parsed: ParsedScene, size: str, up_to: int) -> ParsedScene:
    """parsed with `size` given to every described object that has none, in scenes of at most `up_to`
    objects (size "" = unchanged)."""
    if not size or max(len(parsed.objects), parsed.count or 0) > up_to:
        return parsed
    objects: list[ParsedObject] = [o if o.size else replace(o, size=size) for o in parsed.objects]
    return replace(parsed, objects=objects)


def result_from_check(caption: str, check: CaptionCheck, norm: Normalized, path: str, attempts: int,
                      notes: list[str], t0: float) -> RewriteResult:
    return RewriteResult(caption=caption, kept=check.kept, filled=check.filled, unmapped=list(norm.unmapped),
                         path=path, prompt=norm.prompt, normalized=norm.text,
                         mapped=[asdict(m) for m in norm.mapped], lost=check.lost, attempts=attempts,
                         notes=notes, seconds=time.perf_counter() - t0)


def default_mapper(threshold: float = RewriterConfig().synonym_threshold,
                   encoder_config: TextEncoderConfig = TextEncoderConfig()) -> WordMapper:
    """A WordMapper whose embedding step loads the shared MiniLM encoder on first need."""
    from minisora.text.encoder import shared_encoder

    return WordMapper(encoder=lambda: shared_encoder(encoder_config), threshold=threshold)


def fallback_rewrite(norm: Normalized, seed: int, t0: float, attempts: int, notes: list[str]) -> RewriteResult:
    """The rule-based expansion: keeps every stated attribute by construction."""
    try:
        caption = expand(norm.parsed, seed)
    except ValueError as e:
        raise RewriteError(f"cannot make a scene from {norm.prompt!r}: {e}") from None
    check = check_caption(norm.parsed, caption)
    if not check.ok:  # would be a bug in the caption writer/parser pair; say so loudly
        raise RuntimeError(f"rule-based expansion of {norm.prompt!r} failed its own check: "
                           f"{check.problems} lost {check.lost}; caption {caption!r}")
    return result_from_check(caption, check, norm, "rule-based", attempts, notes, t0)


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
        norm = self.mapper.normalize(prompt)
        check_feasible(norm.parsed, prompt)
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
                check = check_caption(wanted.parsed, caption)
                if check.ok:
                    notes = [f"accepted sample {attempts}"] if attempts > 1 else []
                    return result_from_check(caption, check_caption(norm.parsed, caption), norm, "builtin",
                                             attempts, notes, t0)
                last_problem = "; ".join(check.problems + [f"lost {x}" for x in check.lost])
        notes = [f"{attempts} LM samples rejected (last: {last_problem})"]
        result = fallback_rewrite(wanted, seed, t0, attempts, notes)
        check = check_caption(norm.parsed, result.caption)
        return replace(result, kept=check.kept, filled=check.filled, lost=check.lost)


class NoneRewriter:
    """Use the prompt as is (still reports what the parser understood and could not place)."""

    def rewrite(self, prompt: str, seed: int = 0) -> RewriteResult:
        t0 = time.perf_counter()
        if not isinstance(prompt, str) or not prompt.strip():
            raise RewriteError(f"a prompt must be a non-empty string, got {prompt!r}")
        parsed = parse(prompt)
        kept = sorted(f"{k}={v}" for k, v in parsed.attributes())
        return RewriteResult(caption=prompt, kept=kept, filled=[], unmapped=list(parsed.unknown_words),
                             path="none", prompt=prompt, normalized=prompt, seconds=time.perf_counter() - t0)


def load_rewriter(backend: str = "builtin", path: str | Path | None = None, **kw):
    """The rewriter for `backend` ("builtin" | "openai" | "none").

    builtin: `path` = released weights folder (default: the shipped minisora-tiny rewriter);
        keyword arguments go to `RewriterConfig` (candidates, max_tries, temperature, ...).
    openai: keyword arguments go to `OpenAIConfig` (base_url, model, api_key, timeout,
        fallback_to_builtin, ...); `path` is the builtin weights used when falling back.
    none: no arguments.
    """
    if backend == "builtin":
        return BuiltinRewriter(path, config=from_dict(RewriterConfig, kw) if kw else RewriterConfig())
    if backend == "openai":
        from minisora.text.openai_backend import OpenAIRewriter

        return OpenAIRewriter(from_dict(OpenAIConfig, kw) if kw else OpenAIConfig(), builtin_path=path)
    if backend == "none":
        if kw:
            raise TypeError(f"the 'none' rewriter takes no options, got {sorted(kw)}")
        return NoneRewriter()
    raise ValueError(f"unknown rewriter backend {backend!r}; valid: {', '.join(REWRITER_BACKENDS)}")
