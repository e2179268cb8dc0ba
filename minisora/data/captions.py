"""Captions for MovingShapes scenes: a writer of dense captions and short prompts, and their parser.

- `write_caption(spec, rng)`: a dense descriptive caption (Sora's "re-captioning" target), stating
  every attribute of every object, the background, whether an occluder is present, with varied
  sentence layouts and synonyms drawn from `rng`.
- `write_prompt(spec, rng)`: a short user-style prompt that sometimes omits size, speed,
  background or the occluder, as users do.
- `parse(text)`: a rule-based parser of both (and of free user prompts within the vocabulary) into
  a `ParsedScene`; attributes that the text does not state are None; words it cannot place go to
  `unknown_words` (the prompt rewriter reports them).

All phrasings come from the tables in `vocabulary.py`, read by both the writer and the parser, so
`parse(write_caption(spec))` recovers every attribute of `spec` exactly (tests/test_captions.py).

Parsing works in two passes: (1) greedy longest-match of the lowercased word sequence against one
phrase lexicon built from those tables; (2) a left-to-right attachment of the matched items to
objects: adjectives (size, colour, a speed adjective) wait for the next noun; a motion or speed
phrase after a noun belongs to the last object named; an article ("a", "an") or number opens a new
noun phrase, so "... moving right and a slow blue star" gives "slow" to the star.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import numpy as np

from minisora.data import vocabulary as V
from minisora.data.spec import ObjectSpec, SceneSpec

# ---------------------------------------------------------------------------------------------
# Parsed form
# ---------------------------------------------------------------------------------------------


@dataclass
class ParsedObject:
    color: str | None = None
    shape: str | None = None
    size: str | None = None
    motion: str | None = None
    speed: str | None = None

    FIELDS = ("color", "shape", "size", "motion", "speed")


@dataclass
class ParsedScene:
    objects: list[ParsedObject] = field(default_factory=list)
    background: str | None = None
    occluder: bool | None = None
    count: int | None = None
    unknown_words: list[str] = field(default_factory=list)

    def attributes(self) -> set[tuple[str, object]]:
        """The stated attributes as (key, value) pairs, keys like "obj0.color", "background",
        "occluder", "count" (the judge uses the same keys)."""
        out: set[tuple[str, object]] = set()
        for i, o in enumerate(self.objects):
            for f in ParsedObject.FIELDS:
                v = getattr(o, f)
                if v is not None:
                    out.add((f"obj{i}.{f}", v))
        for key in ("background", "occluder", "count"):
            v = getattr(self, key)
            if v is not None:
                out.add((key, v))
        return out

    def to_dict(self) -> dict:
        return asdict(self)


def parsed_from_spec(spec: SceneSpec) -> ParsedScene:
    """The ParsedScene that states everything about `spec` (what a perfect parse of its caption
    gives). Still objects carry no speed: speed means nothing for them."""
    objs = [ParsedObject(o.color, o.shape, o.size, o.motion, None if o.motion == "still" else o.speed)
            for o in spec.objects]
    return ParsedScene(objects=objs, background=spec.background, occluder=spec.occluder is not None,
                       count=len(spec.objects))


# ---------------------------------------------------------------------------------------------
# Writer
# ---------------------------------------------------------------------------------------------

_NUMBER_WORDS = {1: "one", 2: "two", 3: "three"}


def _pick(rng: np.random.Generator, options) -> str:
    options = list(options)
    return options[int(rng.integers(len(options)))]


def _occluded_objects(spec: SceneSpec) -> list[bool]:
    from minisora.data.synthetic import crosses_occluder  # synthetic imports this module lazily

    if spec.occluder is None:
        return [False] * len(spec.objects)
    return [crosses_occluder(o, spec.occluder) for o in spec.objects]


def _a(phrase: str) -> str:
    """Prefix the indefinite article: "an orange star", "a red circle"."""
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def _noun_phrase(obj: ObjectSpec, rng: np.random.Generator, with_size: bool = True,
                 speed_adjective: bool = False, article: bool = True) -> str:
    words = []
    if speed_adjective:
        words.append(_pick(rng, V.SPEED_ADJECTIVE_WRITE[obj.speed]))
    if with_size:
        words.append(_pick(rng, V.SIZE_WRITE[obj.size]))
    words += [obj.color, obj.shape]
    return _a(" ".join(words)) if article else " ".join(words)


def _motion_phrase(obj: ObjectSpec, rng: np.random.Generator, finite: bool, with_speed: bool = True) -> str:
    """Verb phrase for the object's motion (with speed unless said elsewhere)."""
    adverb = _pick(rng, V.SPEED_ADVERB_WRITE[obj.speed]) if with_speed else ""
    if obj.motion == "still":
        return _pick(rng, V.STILL_WRITE if finite else V.STILL_PARTICIPLES_WRITE)
    if obj.motion == "bouncing":
        base = _pick(rng, V.BOUNCING_WRITE if finite else V.BOUNCING_PARTICIPLES_WRITE)
        return f"{base} {adverb}".strip()
    verb = _pick(rng, V.MOTION_VERBS_WRITE if finite else V.MOTION_PARTICIPLES_WRITE)
    direction = _pick(rng, V.DIRECTION_WRITE[obj.motion])
    layout = int(rng.integers(3))
    if layout == 0:
        parts = [verb, adverb, direction]
    elif layout == 1:
        parts = [verb, direction, adverb]
    else:  # "glides slowly from the left edge toward the right"
        parts = [verb, adverb, _pick(rng, V.ORIGIN_WRITE[obj.motion]), direction]
    return " ".join(p for p in parts if p)


def _object_clause(obj: ObjectSpec, rng: np.random.Generator, occluded: bool, finite: bool = True) -> str:
    moving = obj.motion != "still"
    speed_adj = moving and rng.random() < 0.2
    clause = f"{_noun_phrase(obj, rng, speed_adjective=speed_adj)} " \
             f"{_motion_phrase(obj, rng, finite, with_speed=moving and not speed_adj)}"
    if occluded:
        clause += f", passing behind {_pick(rng, V.OCCLUDER_WRITE)}"
    return clause


def _sentence(text: str) -> str:
    text = text.strip()
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


def write_caption(spec: SceneSpec, rng: np.random.Generator) -> str:
    """A dense caption stating every attribute of every object, the background, the occluder (or
    its absence) and, for several objects, their number."""
    occluded = _occluded_objects(spec)
    # The occluder is named once: in the clause of one object that crosses it, or in a sentence.
    attach = -1
    if spec.occluder is not None and any(occluded) and rng.random() < 0.7:
        attach = int(rng.choice(np.flatnonzero(occluded)))
    clauses = [_object_clause(o, rng, i == attach) for i, o in enumerate(spec.objects)]
    bg = spec.background
    camera = f" {_pick(rng, V.CAMERA_WRITE)}" if rng.random() < 0.5 else ""
    n = len(spec.objects)
    layout = int(rng.integers(3))
    if n == 1:
        if layout == 0:
            sentences = [f"{clauses[0]} across a {bg} {_pick(rng, V.BACKGROUND_NOUNS[:2])}{camera}"]
        elif layout == 1:
            sentences = [f"on a {bg} {_pick(rng, V.BACKGROUND_NOUNS[:2])}, {clauses[0]}{camera}"]
        else:
            sentences = [f"{clauses[0]}{camera}", f"the background is {bg}"]
    else:
        joined = ", ".join(clauses[:-1]) + f", and {clauses[-1]}" if n > 2 else f"{clauses[0]} and {clauses[1]}"
        count = _NUMBER_WORDS[n]
        noun = _pick(rng, ("shapes", "objects"))
        if layout == 0:
            sentences = [f"{count} {noun} on {_a(bg)} background{camera}: {joined}"]
        elif layout == 1:
            sentences = [f"against a {bg} {_pick(rng, V.BACKGROUND_NOUNS[:2])}, {joined}{camera}"]
        else:
            sentences = [f"{count} {noun} share the frame", *clauses, f"the background is {bg}{camera}"]
    if spec.occluder is not None and attach < 0:
        sentences.append(f"{_pick(rng, V.OCCLUDER_WRITE)} stands in the foreground")
    elif spec.occluder is None:
        sentences.append(_pick(rng, V.NO_OCCLUDER_WRITE))
    return " ".join(_sentence(s) for s in sentences)


def _short_object(obj: ObjectSpec, rng: np.random.Generator, occluded: bool) -> str:
    moving = obj.motion != "still"
    words = [_pick(rng, V.SIZE_WRITE[obj.size])] if rng.random() < 0.5 else []
    words += [obj.color, obj.shape]
    if rng.random() < 0.1:  # users sometimes leave the motion to the model
        return " ".join(words)
    speed = moving and rng.random() < 0.4
    if obj.motion == "still":
        words.append(_pick(rng, V.STILL_PARTICIPLES_WRITE))
    elif obj.motion == "bouncing":
        words.append("bouncing")
    else:
        words.append(_pick(rng, V.MOTION_PARTICIPLES_WRITE))
        words.append(_pick(rng, (obj.motion, *V.DIRECTION_WRITE[obj.motion][:2])))
    if speed:
        words.append(_pick(rng, V.SPEED_ADVERB_WRITE[obj.speed][:2]))
    if occluded and rng.random() < 0.6:
        words.append(f"behind {_pick(rng, V.OCCLUDER_WRITE)}")
    return " ".join(words)


def write_prompt(spec: SceneSpec, rng: np.random.Generator) -> str:
    """A short user-style prompt ("red circle moving right", "two shapes: a blue square going up
    and a small green star bouncing"); size, speed, background and occluder are sometimes left out."""
    occluded = _occluded_objects(spec)
    parts = [_short_object(o, rng, occluded[i]) for i, o in enumerate(spec.objects)]
    n = len(parts)
    if n == 1:
        text = parts[0] if rng.random() < 0.6 else _a(parts[0])
    else:
        body = " and ".join(_a(p) for p in parts) if n == 2 else \
            ", ".join(_a(p) for p in parts[:-1]) + f" and {_a(parts[-1])}"
        text = f"{_NUMBER_WORDS[n]} shapes: {body}" if rng.random() < 0.5 else body
    if rng.random() < 0.4:
        text += _pick(rng, (f" on {spec.background}", f" on a {spec.background} background",
                            f", {spec.background} background"))
    return text


# ---------------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------------

_ARTICLES = ("a", "an")


def _build_lexicon() -> dict[tuple[str, ...], tuple[str, object]]:
    lex: dict[tuple[str, ...], tuple[str, object]] = {}

    def add(phrase: str, kind: str, value: object = None) -> None:
        key = tuple(re.findall(r"[a-z0-9]+", phrase.lower().replace("-", " ")))
        lex[key] = (kind, value)

    for verb in V.MOTION_VERBS_PARSE:
        add(verb, "verb")
    for noun in V.BACKGROUND_NOUNS:
        add(noun, "bgnoun")
    for noun in V.GENERIC_NOUNS:
        add(noun, "generic", noun.endswith("s"))
    for shape, words in V.SHAPE_PARSE.items():
        for w in words:
            add(w, "shape", (shape, w != shape and w.endswith(("s", "es")) and not w.endswith("ss")))
    for word, n in V.COUNT_WORDS.items():
        add(word, "count", n)
    for c in V.COLORS:
        add(c, "color", c)
    for b in V.BACKGROUNDS:
        add(b, "bgcolor", b)
    for syn, c in V.COLOR_SYNONYMS.items():
        add(syn, "color" if c in V.COLORS else "bgcolor", c)
    for size, words in V.SIZE_PARSE.items():
        for w in words:
            add(w, "size", size)
    for speed, words in V.SPEED_PARSE.items():
        for w in words:
            add(w, "speed", speed)
    for m, words in V.ORIGIN_PARSE.items():
        for w in words:
            add(w, "origin", m)
    for m, words in V.DIRECTION_PARSE.items():
        for w in words:
            add(w, "motion", m)
    for m, words in V.MOTION_WORDS_PARSE.items():
        for w in words:
            add(w, "motion", m)
    for w in V.OCCLUDER_PARSE:
        add(w, "occluder", True)
    for w in V.NO_OCCLUDER_PARSE:
        add(w, "occluder", False)
    for w in V.CAMERA_PARSE:
        add(w, "camera")
    return lex


_LEXICON = _build_lexicon()
_MAX_PHRASE = max(len(k) for k in _LEXICON)


def _tokenize(text: str) -> list[str]:
    text = text.lower().replace("n't", " not").replace("-", " ").replace("_", " ")
    return re.findall(r"[a-z0-9]+", text)


def _match(tokens: list[str]) -> list[tuple[str, object, str]]:
    """Greedy longest match: [(kind, value, surface text)]."""
    items = []
    i = 0
    while i < len(tokens):
        for k in range(min(_MAX_PHRASE, len(tokens) - i), 0, -1):
            hit = _LEXICON.get(tuple(tokens[i:i + k]))
            if hit is not None:
                items.append((hit[0], hit[1], " ".join(tokens[i:i + k])))
                i += k
                break
        else:
            tok = tokens[i]
            kind = "article" if tok in _ARTICLES else ("filler" if tok in V.FILLER_WORDS else "unknown")
            items.append((kind, None, tok))
            i += 1
    return items


def parse(text: str) -> ParsedScene:
    """Parse a caption or prompt into a ParsedScene (see module docstring for the rules)."""
    if not isinstance(text, str):
        raise TypeError(f"parse expects a str, got {type(text).__name__}")
    items = _match(_tokenize(text))
    scene = ParsedScene()
    objects: list[ParsedObject] = []
    origins: dict[int, str] = {}  # id(object) -> motion implied by "from the left edge"
    pending: dict[str, object] = {}
    pending_count: int | None = None
    explicit_count: int | None = None
    last_group: list[ParsedObject] = []
    np_open = False  # inside a noun phrase that has not reached its noun yet

    def make_objects(shape: str | None, plural: bool) -> list[ParsedObject]:
        nonlocal pending_count
        n = pending_count if pending_count is not None else 1
        if not plural and pending_count is None:
            n = 1
        group = []
        for _ in range(max(n, 1)):
            o = ParsedObject(color=pending.get("color"), shape=shape, size=pending.get("size"),
                             motion=pending.get("motion"), speed=pending.get("speed"))
            if "origin" in pending:
                origins[id(o)] = pending["origin"]
            group.append(o)
        objects.extend(group)
        pending.clear()
        pending_count = None
        return group

    def has_adjectives() -> bool:
        return any(k in pending for k in ("color", "size"))

    def next_content(j: int) -> str | None:
        for kind, _, _ in items[j + 1:]:
            if kind not in ("filler", "article", "size", "speed"):
                return kind
        return None

    def names_ground(j: int) -> bool:
        """"on white", "against a white": a colour after "on"/"against" that no noun, adjective or
        further colour follows names the ground the objects are on, not one more object."""
        k = j - 1
        while k >= 0 and items[k][0] == "article":
            k -= 1
        after = items[j + 1][0] if j + 1 < len(items) else None
        return k >= 0 and items[k][2] in ("on", "against") and \
            after not in ("shape", "generic", "color", "bgcolor", "size", "speed")

    for j, (kind, value, surface) in enumerate(items):
        if kind == "article":
            np_open = True
        elif kind == "count":
            pending_count = int(value)
            np_open = True
        elif kind in ("color", "size"):
            if kind == "color" and (next_content(j) == "bgnoun" or names_ground(j)):
                scene.unknown_words.append(f"{surface} background")  # not a background colour we have
                continue
            if kind in pending:  # "red and blue ...": the first adjective had no noun of its own
                last_group = make_objects(None, False)
            pending[kind] = value
            np_open = True
        elif kind in ("speed", "motion", "origin"):
            if np_open or not last_group:
                pending.setdefault(kind, value)
            else:
                for o in last_group:
                    if kind == "origin":
                        origins.setdefault(id(o), value)
                    elif getattr(o, kind) is None:
                        setattr(o, kind, value)
        elif kind == "shape":
            shape, plural = value
            last_group = make_objects(shape, plural)
            np_open = False
        elif kind == "generic":
            if pending:
                last_group = make_objects(None, bool(value))
            elif pending_count is not None:
                explicit_count = pending_count
                pending_count = None
            np_open = False
        elif kind == "verb":
            if has_adjectives():  # "a red moves right": an object whose shape is not said
                last_group = make_objects(None, False)
            np_open = False
        elif kind == "bgcolor":
            if next_content(j) in ("shape", "generic"):
                scene.unknown_words.append(surface)  # "a black circle": not an object colour
                continue
            scene.background = value
            np_open = False
        elif kind == "occluder":
            scene.occluder = bool(value)
            np_open = False
        elif kind in ("camera", "bgnoun"):
            np_open = False
        elif kind == "unknown":
            scene.unknown_words.append(surface)
    if has_adjectives():
        make_objects(None, False)
    elif pending and last_group:  # trailing "... and bouncing" / "... quickly"
        for key in ("motion", "speed"):
            for o in last_group:
                if key in pending and getattr(o, key) is None:
                    setattr(o, key, pending[key])
        for o in last_group:
            if "origin" in pending:
                origins.setdefault(id(o), pending["origin"])
    for o in objects:
        if o.motion is None and id(o) in origins:
            o.motion = origins[id(o)]
    scene.objects = objects
    scene.count = explicit_count if explicit_count is not None else (len(objects) or None)
    return scene
