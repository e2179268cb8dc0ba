"""Corrections said inside a prompt: "a yellow square and a uh scratch that a yellow circle", "a square
that is red, no wait, blue", "a red circle, I mean square". People typing (or dictating) fix what
they just said instead of deleting it; read literally, the prompt asks for both.

`WordMapper.normalize_with` writes `FIX` into the mapped words where a marker stood; `apply_corrections`
then rewrites the words before it:
- a whole noun phrase after the marker (an article, or a shape with words beside it) replaces the last
  object named before it, from its article on ("a yellow square and a ... a yellow circle" -> "a yellow
  circle");
- single attributes after it replace the last word of the same kind before it, in place ("a square
  that is red, ... blue" -> "a square that is blue").
"""

from __future__ import annotations

from minisora.world import vocabulary as V
from minisora.world.lexicon import word_kind

FIX = "<fix>"
MARKERS: tuple[tuple[str, ...], ...] = (("scratch", "that"), ("strike", "that"), ("no", "wait"), ("wait", "no"),
                                        ("i", "mean"), ("i", "meant"), ("make", "that"), ("or", "rather"),
                                        ("correction",), ("actually",), ("sorry",), ("change", "of", "plan"),
                                        ("on", "second", "thought"), ("let", "s", "say"), ("lets", "say"), ("ugh",), ("or", "wait"),
                                        ("final", "answer"), ("err",), ("erm",))
_ARTICLES = ("a", "an", "one", "the")


def _kind(word: str) -> str | None:
    """The attribute a mapped word states ("big" and "large" are both sizes), or None."""
    kind = word_kind(word)
    return None if kind in ("article", "verb", "noun", "bgnoun", "other") else kind


def marker_at(words: list[str], i: int) -> int:
    """The number of words of a correction marker starting at word i, or 0 ("actually also add a white
    circle" adds one: nothing is corrected)."""
    n = next((len(m) for m in MARKERS if tuple(words[i:i + len(m)]) == m), 0)
    return 0 if n and words[i + n:i + n + 1] in (["also"], ["add"], ["plus"]) else n


def _said_before_marker(out: list[str], p: int) -> list[str]:
    """A marker said after its correction ("a red circle, blue I mean, ...", "fast - wait, slow,
    sorry, and ..."): the marker closes its clause and nothing it could apply to follows it, so it is
    moved to the start of the clause before it, which holds the correction."""
    after = out[p + 1:]
    while after[:1] == [","]:
        after = after[1:]
    own_clause = p > 0 and out[p - 1] == ","  # ", sorry," between two clauses
    if out[p + 1:p + 2] not in ([","], []) or own_clause and after and after[0] not in ("and", FIX):
        return out  # a span follows the marker: "no wait, blue", "..., I mean, a blue one"
    end = p - own_clause
    start = end
    while start > 0 and out[start - 1] not in (",", FIX):
        start -= 1
    clause = out[start:end]
    if start == 0 or not any(_kind(w) for w in clause) or len(clause) > 4:
        return out
    return out[:start] + [FIX] + clause + [","] + out[p + 1:]


def _denied_again(before: list[str], span: list[str]) -> list[str] | None:
    """"bouncing, no, not bouncing, moving up", "red - no, not red, blue": the marker's words deny
    what was just said. The denied words are taken out of the words before, and what follows stays
    as said. None when the span is no such denial."""
    if not span or span[0] not in ("not", "no"):
        return None
    denied = [w for w in span[1:] if _kind(w)]
    if not denied:
        return None
    kept = list(before)
    for w in denied:
        at = next((k for k in range(len(kept) - 1, -1, -1) if kept[k] == w), None)
        if at is None:
            return None
        del kept[at]
    return kept


def _clause_taken_back(before: list[str], span: list[str]) -> list[str] | None:
    """"a purple triangle and a white square. Neither moves - no wait, the triangle moves down": the
    span names an object already named ("the triangle"), so no object is taken back; the clause said
    just before the marker, which names no object, is. None when that is not the case."""
    if span[:1] != ["the"]:
        return None
    shapes = [w for w in span if _kind(w) == "shape"]
    cut = max((k for k, w in enumerate(before[:-1]) if w == ","), default=None)  # the comma before that clause
    if not shapes or shapes[0] not in before or cut is None:
        return None
    if any(_kind(w) == "shape" for w in before[cut + 1:]):
        return None
    return before[:cut + 1]


def _bar_denial_taken_back(before: list[str], after: list[str]) -> list[str]:
    """"no occluder. Actually, yes, add the brown pole": the bar said after the marker without a denial
    takes back a denial of the bar said before it (a denial otherwise stays, whatever follows)."""
    bars = [k for k, w in enumerate(after) if w in V.BAR_NOUNS]
    if not bars or {"no", "not", "without"} & set(after[max(0, bars[0] - 3):bars[0]]):
        return before
    denied = [k for k, w in enumerate(before) if w in V.BAR_NOUNS and
              {"no", "not", "without"} & set(before[max(0, k - 3):k])]
    if not denied:
        return before
    k = denied[-1]
    start = max(j for j in range(max(0, k - 3), k) if before[j] in ("no", "not", "without"))
    return before[:start] + before[k + 1:]


def _unfinished_phrase_dropped(before: list[str]) -> list[str]:
    """"an orange square and a cyan... scratch that, ...": a noun phrase left without its noun right
    before the marker is what the marker takes back."""
    end = len(before) - (before[-1:] == [","])
    opened = max((k for k, w in enumerate(before[:end]) if w in ("a", "an")), default=None)
    if opened is None or opened == end - 1:
        return before
    words = before[opened + 1:end]
    if all(_kind(w) in ("color", "size") for w in words):
        start = opened - (opened > 0 and before[opened - 1] in ("and", "plus"))
        return before[:start] + before[end:]
    return before


def apply_corrections(out: list[str]) -> list[str]:
    """`out` (mapped words, "," for clause breaks) with every `FIX` applied as the module says."""
    while FIX in out:
        out = _said_before_marker(out, out.index(FIX))
        p = out.index(FIX)
        before, after = [w for w in out[:p]], out[p + 1:]
        while after[:1] == [","]:
            after = after[1:]
        end = next((k for k, w in enumerate(after) if w in (",", "and", FIX)), len(after))
        span = after[:end]
        content = [w for w in span if _kind(w)]
        kept = _denied_again(before, span)
        if kept is not None:
            out = kept + after[end:]
            continue
        kept = _clause_taken_back(before, span)
        if kept is not None:
            out = kept + after
            continue
        if not (span[:1] and span[0] in ("a", "an")):
            before = _unfinished_phrase_dropped(before)
        before = _bar_denial_taken_back(before, after)
        shapes = [k for k, w in enumerate(before) if _kind(w) == "shape"]
        opened = max((k for k, w in enumerate(before) if w in ("a", "an")), default=None)
        if span[:1] and span[0] in ("a", "an") and opened is not None and shapes[-1:] < [opened] and \
                any(_kind(w) for w in before[opened + 1:]) and \
                not any(word_kind(w) == "bgnoun" for w in before[opened + 1:]):
            # "a large - no, a small - cyan triangle": the noun phrase left unfinished is said again
            rest = after[end + 1:] if after[end:end + 1] == [","] else after[end:]
            out = before[:opened] + span + rest
            continue
        if content and [_kind(w) for w in content] == ["shape"]:
            span = [w for w in span if w not in _ARTICLES]  # "... wait make that a triangle": the shape alone
        elif shapes and (span[:1] and span[0] in _ARTICLES or
                         any(_kind(w) == "shape" for w in content) and len(content) > 1):
            # a new noun phrase: the last object named before is taken back, from its article on
            start = shapes[-1]
            while start > 0 and before[start - 1] not in (",", "and") and before[start - 1] not in _ARTICLES:
                start -= 1
            if start > 0 and before[start - 1] in _ARTICLES:
                start -= 1
            if start > 0 and before[start - 1] in ("not", "no", "without"):
                out = before + after  # "anything but a circle - let's say a triangle": the denied one stays denied
                continue
            if "one" in span and not any(_kind(w) == "shape" for w in span):
                # "a red square, no wait, a blue one": "one" stands for the noun taken back
                k = after.index("one", span.index("one"))
                after = after[:k] + [before[shapes[-1]]] + after[k + 1:]
            out = before[:start] + after
            continue
        for w in content:  # single attributes: each replaces the last of its kind, where it stood
            kind = _kind(w)
            at = next((k for k in range(len(before) - 1, -1, -1) if _kind(before[k]) == kind), None)
            if at is not None and not {"not", "no", "without"} & set(before[max(0, at - 2):at]):
                before[at] = w
                span = [x for x in span if x != w]
        out = before + span + after[end:]
    return [w for k, w in enumerate(out) if not (w == "," and (k == 0 or out[k - 1] == ","))]
