"""What every rewriter backend shares: the result, the errors, fitting a prompt to the world, the word mapper
and the rule-based fallback (backends: `rewriter.py` builtin and none, `openai_backend.py`; chosen
by `backends.load_rewriter`)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

from minisora.text.config import RewriterConfig, TextEncoderConfig
from minisora.world.normalize import Normalized, WordMapper
from minisora.world.rules import CaptionCheck, WorldFit, check_caption, expand, fit_to_world
from minisora.world.scene import ParsedObject, ParsedScene


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
    # How a scene the world cannot hold as stated was fitted to it ("asks for 4 objects; ...": what went
    # is in `lost`); empty when it fits (`world.rules.fit_to_world`)
    adjusted: list[str] = field(default_factory=list)
    # The caption as the world's grammar parsed it (once, in the caption check): what the video must
    # show. The pipeline builds the text encoder's object slots from it.
    scene: ParsedScene | None = None

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
        for note in self.adjusted:
            lines.append(f"  adjusted: {note}")
        return "\n".join(lines)


def fit_prompt(norm: Normalized) -> tuple[Normalized, WorldFit]:
    """The prompt with its stated scene made drawable (`world.rules.fit_to_world`: too many objects,
    repeated colours, a count below the objects described), and what was given up."""
    fit = fit_to_world(norm.parsed)
    return replace(norm, parsed=fit.scene), fit


def with_fit(result: "RewriteResult", fit: WorldFit) -> "RewriteResult":
    """result with what `fit_prompt` gave up reported: as lost attributes, and why (`adjusted`)."""
    return replace(result, lost=list(result.lost) + [x for x in fit.dropped if x not in result.lost],
                   adjusted=list(fit.notes))


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
                         notes=notes, seconds=time.perf_counter() - t0, scene=check.scene)


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
