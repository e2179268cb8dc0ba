"""Edits said inside a prompt, as people refine a clip in a chat: "a red square, a blue circle and a
green star. Scrap the square.", "keep only the red one", "replace the ball with a square and flip its
direction", "make it bigger", "now faster", "swap their colours", "change the background to gray",
"the yellow one should stay still instead". Read literally, an edit names its object again (an
invented object: "scrap the square" is one more square) or its words are lost.

`edited(prompt, normalize)` finds the clauses that open with an edit verb (`_edit_spans`), normalizes
the rest of the prompt as usual, and applies each edit in order to the objects named before it. A
clause is an edit only if what it refers to resolves among those objects ("it", "the second one",
"the blue star", "the first and the last"); otherwise it stays in the prompt as it was ("make the ball
go whoosh up" opening a prompt asks for a ball). Where an object is on screen ("the one on the left")
says nothing the world keeps, so such a clause is left alone too.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Callable

from minisora.world import vocabulary as V
from minisora.world.comparisons import reversed_motion
from minisora.world.scene import ParsedObject, ParsedScene

_REMOVE = ("get rid of", "take out", "take away", "throw out", "leave out", "forget about", "scrap", "drop",
           "delete", "remove", "lose", "ditch", "nix", "kill", "forget", "erase", "eliminate", "axe", "cut",
           "toss", "omit", "bin", "trash", "scratch", "strike")
_KEEP = ("keep only", "only keep", "just keep", "keep just", "leave only", "only leave", "keep")
_REPLACE = ("swap out", "switch out", "replace", "swap", "switch", "exchange", "substitute")
_CHANGE = ("change", "turn", "make", "paint", "recolour", "recolor", "colour", "color", "set", "have", "let")
_FLIP = ("flip", "reverse", "invert")
_PACE = {"slow": ("down", "slow"), "speed": ("up", "fast")}  # "slow it down", "speed the star up"
_VERBS = sorted(_REMOVE + _KEEP + _REPLACE + _CHANGE + _FLIP + tuple(_PACE), key=len, reverse=True)
# Discourse words before an edit: "ok now", "hmm actually", "and then", "can you"
_LEAD = ("and", "then", "now", "ok", "okay", "so", "also", "oh", "hmm", "hmmm", "actually", "but", "please", "pls",
         "plz", "wait", "no", "uh", "um", "just", "lastly", "finally", "next", "can", "could", "would", "you")
_TAIL = ("instead", "please", "pls", "too", "entirely", "completely", "altogether", "thanks", "then", "again",
         "now", "as", "well", "though", "actually", "for", "me")
_VERB_RE = "|".join(v.replace(" ", r"\s+") for v in _VERBS)
_LEAD_RE = r"(?:(?:" + "|".join(sorted(set(_LEAD), key=len, reverse=True)) + r")\b[\s,]*)*"
# an edit opens a sentence or a clause: after punctuation, a dash, "and" or "then"
_OPEN = re.compile(r"(?:^|(?<=[.!?;:\n,])|(?<=\s[-–—])|(?<=[–—])|(?<=\band)|(?<=\bthen))\s*" + _LEAD_RE +
                   r"(?:" + _VERB_RE + r")\b", re.IGNORECASE)
# ... and ends at the next sentence mark, comma or dash, or at "and" opening another verb
_NEXT_VERBS = r"(?:" + _VERB_RE + r"|add|put|also|then|have|give|place|insert|include|bring|now)\b"
_CLOSE = re.compile(r"[.!?;\n,]|\s[-–—]\s|[–—]|\s(?:and|but)\s+(?=" + _NEXT_VERBS + ")", re.IGNORECASE)
# "now faster.", "now bigger": a sentence of attributes alone, after "now", changes the last object
_NOW = re.compile(r"(?:^|(?<=[.!?;\n]))\s*(?:and\s+|ok\s+|okay\s+)?now\s+(?=[a-z]+(?:\s+and\s+[a-z]+)?\s*[.!?]*\s*(?:$|\n))",
                  re.IGNORECASE)
# "..., the yellow one should just stay still instead": a change said of an object named before
# (or, with "be", without "instead": "..., wait, the square should be blue")
_INSTEAD = re.compile(r"(?:^|(?<=[.!?;\n,]))[^.!?;\n,]*\b(?:(?:should|must|needs\s+to|has\s+to|will)\b[^.!?;\n,]*\binstead\b|"
                      r"(?:should|must)\s+(?:actually\s+|really\s+)?be\b[^.!?;\n,]*)", re.IGNORECASE)
_MODALS = ("should", "must", "needs", "has", "will")
_WORD = re.compile(r"[a-z0-9#]+(?:'[a-z]+)?")

_PRONOUN_LAST = {("it",), ("its",), ("that",), ("this",), ("that", "one"), ("this", "one")}
_PRONOUN_ALL = {("them",), ("they",), ("their",), ("both",), ("all",), ("everything",), ("both", "of", "them"),
                ("all", "of", "them"), ("each", "of", "them"), ("all", "three"), ("both", "shapes"), ("everyone",)}
_HEADS = {"one", "ones", "shape", "shapes", "object", "objects", "thing", "things", "item", "items", "sprite", "guy",
          "piece"}
_ORDINAL = {**V.ORDINALS, "1st": 0, "2nd": 1, "3rd": 2, "final": -1}
_BACKGROUND = set(V.BACKGROUND_NOUNS) | {"backround", "backgound"}  # the edit's own words are not spell-checked
_BAR = {noun + s for noun in V.BAR_NOUNS for s in ("", "s")}
_ATTRIBUTE_NOUNS = {"colour": "color", "color": "color", "colours": "color", "colors": "color",
                    "direction": "motion", "directions": "motion", "motion": "motion", "motions": "motion",
                    "size": "size", "sizes": "size", "speed": "speed", "speeds": "speed", "shape": "shape",
                    "shapes": "shape", "places": "motion"}
_REVERSED = ({"other", "way"}, {"opposite"}, {"backwards"}, {"backward"}, {"reverse"})

Normalize = Callable[[str], "object"]  # WordMapper's plain normalize: prompt -> Normalized


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))


def _edit_spans(prompt: str) -> list[tuple[int, int]]:
    """(start, end) of every clause that opens with an edit verb, or is a "now ..." sentence."""
    spans = []
    for m in list(_OPEN.finditer(prompt)) + list(_NOW.finditer(prompt)):
        close = _CLOSE.search(prompt, m.end())
        spans.append((m.start(), close.start() if close else len(prompt)))
    spans += [(m.start(), m.end()) for m in _INSTEAD.finditer(prompt)]
    spans.sort()
    return [s for k, s in enumerate(spans) if not k or s[0] >= spans[k - 1][1]]


class _Editor:
    """Applies edit clauses to `objects` (the prompt's objects, edits aside); `removed` holds the indices
    of objects edited away."""

    def __init__(self, scene: ParsedScene, normalize: Normalize):
        self.scene, self.normalize = scene, normalize
        self.objects = [replace(o) for o in scene.objects]
        self.removed: set[int] = set()
        self.edited: set[int] = set()

    # -- what a reference names ----------------------------------------------------------------------
    def resolve(self, ref: list[str], live: list[int]) -> list[int] | None:
        """The objects `ref` names among `live` (indices, in order), or None. Places in the order
        named count every object named before ("keep the first and the last, drop the middle")."""
        ref = [w[:-2] if w.endswith("'s") else w for w in ref]
        named = list(range(max(live) + 1)) if live else []
        if not ref or not live:
            return None
        if tuple(ref) in _PRONOUN_LAST:
            return [live[-1]]
        if tuple(ref) in _PRONOUN_ALL:
            return list(live)
        if "and" in ref or "or" in ref:  # "the first and the last"
            parts, part = [], []
            for w in ref + ["and"]:
                if w in ("and", "or"):
                    got = self.resolve(part, live)
                    if got is None:
                        return None
                    parts += [i for i in got if i not in parts]
                    part = []
                else:
                    part.append(w)
            return parts
        words = [w for w in ref if w not in ("the", "that", "this", "those", "these", "one")]
        while words and words[-1] in _HEADS:
            words = words[:-1]
        if len(words) == 1 and words[0] in _ORDINAL:
            k = _ORDINAL[words[0]]
            return [named[k]] if -len(named) <= k < len(named) else None
        if words == ["middle"] and len(named) == 3:
            return [named[1]]
        if len(words) == 2 and words[0] in ("number", "no", "shape", "object", "#") and words[1].isdigit() or \
                len(words) == 1 and words[0].lstrip("#").isdigit():
            k = int(words[-1].lstrip("#")) - 1
            return [named[k]] if 0 <= k < len(named) else None
        if not words or set(words) & (_BAR | _BACKGROUND | {"left", "right", "top", "bottom", "on", "at"}):
            return None
        said = self.normalize("the " + " ".join(words)).parsed.objects
        if len(said) != 1 or said[0].motion is not None and len(words) > 1:
            return None  # "let the disc sink slowly": "the disc sink" names the disc and says what it does
        stated = {f: getattr(said[0], f) for f in ("color", "shape", "size") if getattr(said[0], f)}
        hits = [i for i in live if stated and all(getattr(self.objects[i], f) == v for f, v in stated.items())]
        plural = words[-1].endswith("s") and "shape" in stated
        return hits if hits and (len(hits) == 1 or plural) else None

    def split_reference(self, rest: list[str], live: list[int]) -> tuple[list[int], list[str]] | None:
        """The longest opening of `rest` that names objects, and the words after it (which must exist)."""
        for k in range(min(len(rest) - 1, 6), 0, -1):
            got = self.resolve(rest[:k], live)
            if got is not None:
                return got, rest[k:]
        return None

    # -- what a payload says -------------------------------------------------------------------------
    def payload(self, words: list[str]) -> dict[str, str] | None:
        """The attributes a payload states ("bigger", "go down", "a circle", "cyan"), or None."""
        cut = next((k for k, w in enumerate(words) if (w, words[k + 1:k + 2]) in (("instead", ["of"]),
                                                                               ("rather", ["than"]))), len(words))
        words = [w for w in words[:cut] if w not in _TAIL]  # "purple instead of orange": what it was is no payload
        if not words:
            return None
        if any(r <= set(words) for r in _REVERSED):
            return {"motion": "<reverse>"}
        text = " ".join(words)
        norm = self.normalize(text if words[0] in ("a", "an") else "a shape " + text)
        if len(norm.parsed.objects) != 1 or any(m.how in ("thesaurus", "embedding") for m in norm.mapped):
            return None  # "keep it clean": a guessed colour is no edit
        said = norm.parsed.objects[0]
        got = {f: getattr(said, f) for f in ParsedObject.FIELDS if getattr(said, f)}
        return got or None

    def set_attributes(self, targets: list[int], attributes: dict[str, str]) -> None:
        self.edited.update(targets)
        for i in targets:
            for f, v in attributes.items():
                if v == "<reverse>":
                    v = reversed_motion(self.objects[i].motion) if self.objects[i].motion else None
                if v is not None:
                    setattr(self.objects[i], f, v)

    # -- one clause ----------------------------------------------------------------------------------
    def apply(self, clause: str, before: int) -> bool:
        """Apply one clause to the objects named before it (`before` of them); False if it is no edit."""
        words = _words(clause)
        while words and words[0] in _LEAD:
            words = words[1:]
        live = [i for i in range(min(before, len(self.objects))) if i not in self.removed]
        if not words or not live:
            return False
        verb = next((v for v in _VERBS if words[:len(v.split())] == v.split()), None)
        modal = next((k for k, w in enumerate(words) if w in _MODALS), None)
        be = modal is not None and "be" in words[modal + 1:modal + 3]  # "the square should (really) be blue"
        if verb is None and modal and (words[-1] == "instead" or be):  # "the yellow one should stay still instead"
            said = words[words.index("be", modal) + 1:] if be else words[modal + 1:]
            targets, attributes = self.resolve(words[:modal], live), self.payload(said)
            if targets is None or attributes is None:
                return False
            self.set_attributes(targets, attributes)
            return True
        if verb is None:  # "now faster"
            attributes = self.payload(words) if len(words) <= 3 else None
            if attributes is None:
                return False
            self.set_attributes(live[-1:], attributes)
            return True
        rest = [w for w in words[len(verb.split()):]]
        while rest and rest[-1] in _TAIL:
            rest = rest[:-1]
        if set(rest) & _BAR:
            return False  # the bar's own words (`phrases._DENY_BAR`)
        if verb in _PACE:
            particle, speed = _PACE[verb]
            targets = self.resolve(rest[:-1], live) if rest[-1:] == [particle] else \
                self.resolve(rest[1:], live) if rest[:1] == [particle] else None  # "slow down the red ball"
            if targets is None:
                return False
            self.set_attributes(targets, {"speed": speed})
            return True
        if verb in _REMOVE:
            if rest == ["that"] and verb in ("scratch", "strike"):
                return False  # "scratch that, a blue one": a correction (`corrections.py`)
            if rest and set(rest) <= _BACKGROUND | {"the", "colour", "color", "too"}:
                self.scene = replace(self.scene, background=None)  # "forget the background colour"
                return True
            targets = self.resolve(rest, live)
            if targets is None:
                return False
            self.removed |= set(targets)
            return True
        if verb in _KEEP:
            rest = [w for w in rest if w not in ("only", "just")]
            targets = self.resolve(rest, live)
            if targets is not None:
                self.removed |= set(live) - set(targets)
                return True
            return self.change(rest, live)  # "keep it slow"
        if verb in _FLIP:
            if rest[:1] in (["that"], ["this"]):
                return False  # "actually reverse that, ...": the statement before is corrected (`corrections.py`)
            targets = self.resolve([w for w in rest if w not in _ATTRIBUTE_NOUNS and w != "around"], live)
            if targets is None:
                return False
            self.set_attributes(targets, {"motion": "<reverse>"})
            return True
        if verb in _REPLACE:
            return self.swap(rest, live) or self.replace_with(rest, live)
        into = verb in ("change", "turn", "set")
        for k in [k for k, w in enumerate(rest) if w == "and"]:
            # "make the square fast and the circle slow": two changes with one verb
            if self.split_reference(rest[k + 1:], live) is not None and self.change(rest[:k], live, into):
                return self.change(rest[k + 1:], live, into)
        return self.change(rest, live, into)

    def swap(self, rest: list[str], live: list[int]) -> bool:
        """ "swap their colours", "swap the directions of the square and the star" """
        field = next((_ATTRIBUTE_NOUNS[w] for w in rest[:3] if w in _ATTRIBUTE_NOUNS), None)
        if field is None:
            return False
        cut = next((k for k, w in enumerate(rest) if w in ("of", "between")), None)
        pair = self.resolve(rest[cut + 1:], live) if cut is not None else (live if len(live) == 2 else None)
        if pair is None or len(pair) != 2:
            return False
        a, b = (self.objects[i] for i in pair)
        va, vb = getattr(a, field), getattr(b, field)
        setattr(a, field, vb)
        setattr(b, field, va)
        return True

    def replace_with(self, rest: list[str], live: list[int]) -> bool:
        """ "replace the ball with a square", "swap the red one for a blue star" """
        cut = next((k for k, w in enumerate(rest) if w in ("with", "for", "by")), None)
        if cut is None:
            return False
        targets = self.resolve([w for w in rest[:cut] if w != "out"], live)
        attributes = self.payload(rest[cut + 1:])
        if targets is None or attributes is None:
            return False
        self.set_attributes(targets, attributes)
        return True

    def change(self, rest: list[str], live: list[int], into: bool = False) -> bool:
        """ "make it bigger", "turn the star blue", "change the triangle into a circle", "change the
        circle's colour to cyan", "change the background to gray" """
        field = None
        if "of" in rest and rest[:rest.index("of")][-1:] and rest[rest.index("of") - 1] in _ATTRIBUTE_NOUNS:
            k = rest.index("of")  # "change the colour of the circle to cyan"
            field, rest = _ATTRIBUTE_NOUNS[rest[k - 1]], rest[k + 1:]
        cut = next((k for k, w in enumerate(rest) if w in ("to", "into")), None) if into or "into" in rest else None
        if cut is not None:
            ref, said = rest[:cut], rest[cut + 1:]
            if ref and ref[-1] in _ATTRIBUTE_NOUNS:  # "change the circle's colour to cyan"
                field, ref = _ATTRIBUTE_NOUNS[ref[-1]], ref[:-1]
            if set(ref) & _BACKGROUND:
                return self.change_background(said)
            targets = self.resolve(ref, live)
        else:
            if set(rest[:3]) & _BACKGROUND:  # "make the background navy"
                return self.change_background(rest[next(k for k, w in enumerate(rest) if w in _BACKGROUND) + 1:])
            split = self.split_reference(rest, live)
            if split is None:
                return False
            targets, said = split
        attributes = self.payload(said) if targets is not None else None
        if attributes is None:
            return False
        if field is not None:
            attributes = {k: v for k, v in attributes.items() if k == field} or attributes
        self.set_attributes(targets, attributes)
        return True

    def change_background(self, said: list[str]) -> bool:
        said = [w for w in said if w not in _TAIL and w not in ("colour", "color", "a", "an", "the")]
        ground = self.normalize(f"a shape on a {' '.join(said)} background").parsed.background if said else None
        if ground is None:
            return False
        self.scene = replace(self.scene, background=ground)
        return True

    def result(self) -> ParsedScene:
        for j, later in enumerate(self.objects):
            # "... make the square white. Red circle goes up, white square goes down.": words after an
            # edit may name the edited object as it now is
            same = [i for i in self.edited if i < j and i not in self.removed and later.color and later.shape and
                    (self.objects[i].color, self.objects[i].shape) == (later.color, later.shape)]
            if same and j not in self.removed:
                self.set_attributes(same[:1], {f: getattr(later, f) for f in ParsedObject.FIELDS})
                self.removed.add(j)
        kept = [o for i, o in enumerate(self.objects) if i not in self.removed]
        count = None if self.scene.count is None else (len(kept) if self.removed else self.scene.count)
        return replace(self.scene, objects=kept, count=count)


def edited(prompt: str, normalize: Normalize):
    """`normalize(prompt)` with the prompt's edit clauses applied (see the module docstring), or None
    when the prompt has none."""
    spans = _edit_spans(prompt)
    # a clause with nothing named before it is no edit ("Make a blue triangle go up. Now make it bigger.")
    counts: dict[tuple[int, int], int] = {}
    for span in list(spans):
        before = _without(prompt[:span[0]], [s for s in spans if s[1] <= span[0]])
        counts[span] = len(normalize(before).parsed.objects) if before.strip(" .") else 0
        if not counts[span]:
            spans.remove(span)
    while spans:
        base = normalize(_without(prompt, spans))
        if not base.parsed.objects:
            return None
        editor = _Editor(base.parsed, normalize)
        failed = [span for span in spans if not editor.apply(prompt[span[0]:span[1]], counts[span])]
        if failed:
            spans = [s for s in spans if s not in failed]  # read as the rest of the prompt, and try again
            continue
        said = "; ".join(" ".join(_words(prompt[s:e])) for s, e in spans)
        return replace(base, prompt=prompt, text=f"{base.text} (edits: {said})", parsed=editor.result())
    return None


def _without(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with each span replaced by a sentence break."""
    out, at = [], 0
    for start, end in spans:
        out += [text[at:start], ". "]
        at = end
    return "".join(out + [text[at:]])
