"""The parser of MovingShapes prompts and captions: text -> `ParsedScene`.

`parse(text)` reads dense captions, short prompts and free user prompts within the vocabulary;
attributes the text does not state are None; words it cannot place go to `unknown_words` (the
rewriter reports them).

Parsing works in two passes: (1) greedy longest-match of the lowercased word sequence against one
phrase lexicon built from the `*_PARSE` tables of `vocabulary.py`; (2) a left-to-right attachment of
the matched items to objects: adjectives (size, colour, a speed adjective) wait for the next noun; a
motion or speed phrase after a noun belongs to the last object named; an article ("a", "an") or
number opens a new noun phrase, so "... moving right and a slow blue star" gives "slow" to the star.
"""

from __future__ import annotations

import re

from minisora.world import vocabulary as V
from minisora.world.scene import ParsedObject, ParsedScene

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


PHRASES = _build_lexicon()
_MAX_PHRASE = max(len(k) for k in PHRASES)


def _tokenize(text: str) -> list[str]:
    text = text.lower().replace("n't", " not").replace("-", " ").replace("_", " ")
    return re.findall(r"[a-z0-9]+", text)


def _match(tokens: list[str]) -> list[tuple[str, object, str]]:
    """Greedy longest match: [(kind, value, surface text)]."""
    items = []
    i = 0
    while i < len(tokens):
        for k in range(min(_MAX_PHRASE, len(tokens) - i), 0, -1):
            hit = PHRASES.get(tuple(tokens[i:i + k]))
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
