"""The parser of MovingShapes prompts and captions: text -> `ParsedScene`.

`parse(text)` reads dense captions, short prompts and free user prompts within the vocabulary;
attributes the text does not state are None; words it cannot place go to `unknown_words` (the
rewriter reports them).

Parsing works in two passes: (1) greedy longest-match of the lowercased word sequence against one
phrase lexicon built from the `*_PARSE` tables of `vocabulary.py`; (2) a left-to-right attachment of
the matched items to objects: adjectives (size, colour, a speed adjective) wait for the next noun; a
motion or speed phrase after a noun belongs to the last object named; an article ("a", "an") or
number opens a new noun phrase, so "... moving right and a slow blue star" gives "slow" to the star.

Phrasings of free prompts the attachment also reads: a shape word right before a noun modifies it
("a round dot", "a square block": one object); adjectives that reach no noun after a noun named
without an article describe it ("a star, red, going up", "a circle whose colour is red"), as does
"one <colour>" after a plural ("two circles, one red and one blue"); "red and blue circles" are two
circles; a vertical and a horizontal motion word make a diagonal ("rising to the right"); number
compounds ("five-pointed") stay one word and never count objects (`phrases.tokenize`).

References back name objects already named instead of adding one: "the square", "the red one", "the
first", bare "square goes up" and "red goes left" (colours are distinct in this world). Adjectives
that no noun, article or count introduced are no object when the prompt names its objects by nouns
("minimal composition: a ... circle"); they are reported. Punctuation parts clauses: "a yellow
circle, square goes up" is not "a yellow circle square". Distributed: list headers ("three little
shapes: ..."), "both/all/each", "respectively", "in sync", a motion after a comma-closed list (`lists.py`),
a plural verb or a participle after nouns joined by "and" (`motions.plural_subject`). A denial covers its
noun phrase ("instead of a purple cube") and ends at its clause; "the other one" of two is the one not
just named.
"""

from __future__ import annotations

from minisora.world import vocabulary as V
from minisora.world.comparisons import COMPARATIVES
from minisora.world.item_context import (after_break, field_name, ground_colour_of, joined_ordinal, names_ground,
                                         next_content, occluder_denied)
from minisora.world.lists import (colors_for_plural, drop_words_read_as_objects, fold_into_count, merge_restated,
                                  respectively)
from minisora.world.motions import from_to, heading_between, merge_motion, plural_subject
from minisora.world.phrases import clause_breaks, match, tokenize
from minisora.world.scene import ParsedObject, ParsedScene


# Words a denial reads through to what it denies: "not a", "not the", "isn't really", "don't make it"; any
# other word ends it ("no not siri, okay a small orange star" denies no star)
_DENIAL_GOES_ON = frozenset("a an the any so too very really be is are it them make have want need just even".split())
_CLAUSE_OPENERS = frozenset("and but while whereas then".split())


def parse(text: str) -> ParsedScene:
    """Parse a caption or prompt into a ParsedScene (see module docstring for the rules)."""
    if not isinstance(text, str):
        raise TypeError(f"parse expects a str, got {type(text).__name__}")
    items = match(tokenize(text))
    token_breaks, end = clause_breaks(text), -1
    at_break = []  # at_break[j]: punctuation follows item j ("a red star, a blue circle")
    for _, _, surface in items:
        end += len(surface.split())
        at_break.append(end in token_breaks)
    scene = ParsedScene()
    objects: list[ParsedObject] = []
    origins: dict[int, str] = {}  # id(object) -> motion implied by "from the left edge"
    pending: dict[str, object] = {}
    pending_count: int | None = None
    explicit_count: int | None = None
    last_group: list[ParsedObject] = []
    np_open = False  # inside a noun phrase that has not reached its noun yet
    opened_by_article = False  # ... and an article or number opened it ("a red ...", not "star, red")
    coordinated: list[ParsedObject] = []  # "red and blue circles": objects waiting for a plural noun
    count_is_next = False  # the pending count came after the pending adjectives
    definite = False  # "the" opened the noun phrase: it may name an object already named
    shared_from: int | None = None  # objects named before a generic plural ("three shapes")
    negated = False  # "not a circle, a triangle", "isn't red but blue": the next colour or shape is not wanted
    denied_shape = False  # a shape was denied: "a red square - not a circle, a square -" names the square again
    skip_next = False
    referred_at: int | None = None  # the item of the last noun that named an object already named
    last_motion: str | None = None
    batch_of: dict[int, int] = {}  # id(object) -> the phrase that made it (`lists.merge_restated`)
    spoken_of: dict[int, str] = {}  # id(object) -> its noun, for objects a bare plural made ("circles are too fast")
    loose: dict[int, list[str]] = {}  # id(object) -> its words, for objects no noun, article or count introduced
    pending_words: dict[str, str] = {}  # the words of the pending adjectives
    named_group: list[ParsedObject] = []  # the objects the last noun named (adjectives may still come)
    shared: dict[str, str] = {}  # "three shapes moving down: a ..., a ...": a motion said before the objects

    def make_objects(shape: str | None, plural: bool, noun: bool = False) -> list[ParsedObject]:
        nonlocal pending_count
        shape = pending.pop("shape", None) or shape  # "a round dot": the modifier names the outline
        n = pending_count if pending_count is not None else 1
        if not plural and pending_count is None:
            n = 1
        group = []
        introduced = shape is not None or noun or opened_by_article or (pending_count is not None and not count_is_next)
        for _ in range(max(n, 1)):
            o = ParsedObject(color=pending.get("color"), shape=shape, size=pending.get("size"),
                             motion=pending.get("motion"), speed=pending.get("speed"))
            if "origin" in pending:
                origins[id(o)] = pending["origin"]
            group.append(o)
            batch_of[id(o)] = len(batch_of) if not group[:-1] else batch_of[id(group[0])]
            if not introduced:
                loose[id(o)] = [pending_words[k] for k in ("size", "color") if k in pending and k in pending_words]
        objects.extend(group)
        pending.clear()
        pending_count = None
        named_group[:] = group
        return group

    def has_adjectives() -> bool:
        return any(k in pending for k in ("color", "size", "shape"))

    def adjectives_without_noun() -> list[ParsedObject]:
        """Adjectives that reached no noun: "a red moves right" is an object whose shape is not said;
        but after a noun without an article ("a star, red, going up", "a circle whose colour is red")
        or as "one <adjective>" after a plural ("two circles, one red and one blue") they describe an
        object already named, the first of the last group that lacks them."""
        nonlocal pending_count, explicit_count
        keys = [k for k in ("color", "size", "shape") if k in pending]
        distributive = pending_count == 1 and len(named_group) > 1
        if named_group and (not opened_by_article or distributive):
            for o in named_group:
                if all(getattr(o, k) is None for k in keys):
                    for k in keys:
                        setattr(o, k, pending.pop(k))
                    if "speed" in pending and o.speed is None:  # "square, blue, large, slow, direction: ..."
                        o.speed = pending.pop("speed")
                    if "motion" in pending and o.motion is None:  # "two circles: a white one staying still and ..."
                        o.motion = pending.pop("motion")
                    pending_count = None
                    # a motion said next is this object's while the group's list goes on ("two
                    # triangles: orange going up, cyan going down"), everyone's once it is complete
                    # ("three blocks (ruby, violet and amber) climbing"); "one orange that goes left,
                    # and one purple that goes up": each "one" keeps its own
                    done = all(getattr(m, k) is not None for m in named_group for k in keys)
                    return list(named_group) if done and not distributive else [o]
        same = [o for o in objects if o.color == pending.get("color")]
        if "color" in keys and len(same) == 1 and pending_count is None and not opened_by_article:
            for k in keys:  # "2 dots, red and blue; red goes left", "the red is big": colours are
                value = pending.pop(k)  # distinct, so the red one, which takes the other adjectives
                if getattr(same[0], k) is None:
                    setattr(same[0], k, value)
            return same
        if pending_count is not None and pending_count > 1:  # "three (yellow, blue and orange)": the
            explicit_count, pending_count = pending_count, None  # count is the list's, not each colour's
        return make_objects(None, False)

    def refer_to(same: list[ParsedObject]) -> None:
        """The phrase just read names objects already named ("the square", "the red one", "the
        first"): what follows is theirs, and no object is added."""
        nonlocal last_group, np_open, opened_by_article, definite
        last_group = named_group[:] = list(same)
        np_open = opened_by_article = definite = False

    def said_after_noun() -> bool:
        """Adjectives are pending after a noun named without an article ("a star, red, ...")."""
        return has_adjectives() and bool(named_group) and not opened_by_article

    ordinal_at: int | None = None  # the item of the last ordinal that named objects
    for j, (kind, value, surface) in enumerate(items):
        if kind == "count" and ordinal_at == j - 1 and items[j - 1][2] in ("first", "last") and \
                1 < int(value) <= len(objects):
            n = int(value)  # "the first two move left", "the last two": objects named by position
            refer_to(objects[:n] if items[j - 1][2] == "first" else objects[-n:])
            continue
        if kind == "bgcolor" and surface.split()[-1] in V.COLORS and next_content(items, j) in ("shape", "generic"):
            kind, value = "color", surface.split()[-1]  # "a navy blue square": a blue object
        if negated and kind in ("color", "shape", "size", "bgcolor", "motion"):
            # "not a circle", "isn't red", "does not bounce": nothing is made of what is denied; the denial
            # covers its whole noun phrase ("instead of a purple cube") but not the next ("isn't red but blue")
            negated = kind in ("color", "size") and j + 1 < len(items) and not at_break[j] and \
                items[j + 1][0] in ("color", "size", "shape")
            denied_shape = denied_shape or kind == "shape"
            continue
        if kind == "filler" and surface == "other" and j and items[j - 1][2] == "the" and \
                0 < len(last_group) < len(objects) and not has_adjectives():
            # "the purple one ...; the other one is small", "the middle one moves left, the others stay"
            refer_to([o for o in objects if all(o is not g for g in last_group)])
            if j + 1 < len(items) and items[j + 1][2] == "one":
                skip_next = True
            continue
        if skip_next:
            skip_next = False
            continue
        # a denial ends at its clause: "(easing) doesn't matter, just the green square" keeps green
        negated = (negated and (kind == "article" or surface in _DENIAL_GOES_ON) and not at_break[j - 1]) or \
            (kind == "filler" and surface == "not" and not at_break[j]) or \
            (kind == "filler" and surface == "no" and j + 1 < len(items) and items[j + 1][0] == "shape" and
             items[j + 1][1][1])  # "no circles, just a green square": a plural refused
        # "..., red one moves up": a colour and "one" opening a clause, with a verb next, names as "the" would
        bare_one = kind == "count" and surface == "one" and len(pending) == 1 and not opened_by_article and \
            items[j - 1][0] in ("color", "size") and (j == 1 or at_break[j - 2] or items[j - 2][2] in _CLAUSE_OPENERS) \
            and j + 1 < len(items) and items[j + 1][0] in ("verb", "motion", "speed")
        if (definite or bare_one) and has_adjectives() and (kind == "generic" or (kind == "count" and surface == "one")):
            same = [o for o in objects if all(getattr(o, k) == pending[k] for k in ("color", "size", "shape")
                                              if k in pending)]
            if len(same) == 1:  # "..., the red one moving left": the object already named
                pending.clear()
                refer_to(same)
                continue
        if kind in ("article", "count"):
            definite = False
        if kind == "article" and has_adjectives() and pending_count is None and \
                any(k in pending for k in ("size", "color")):
            last_group = adjectives_without_noun()  # "blue ... a small yellow square": a new phrase begins
            if j and items[j - 1][2] in ("and", "or"):  # "a cyan and a blue circle": the noun is theirs too
                coordinated.extend(o for o in last_group if o.shape is None)
        if kind == "article" and pending_count is not None and not has_adjectives():
            # "two travellers: a white disc ..., a cyan square ...": a count before an article counts
            # the scene (its noun was a word the world does not know), not the next noun phrase
            explicit_count, pending_count = pending_count, None
        if kind == "article":
            np_open = True
            opened_by_article = opened_by_article or not has_adjectives()  # "a" of "with a grey background"
        elif kind == "count" and at_break[j] and not has_adjectives() and pending_count is None and \
                (j == 0 or at_break[j - 1] or items[j - 1][2] in ("all", "these", "the")) and \
                any(it[0] in ("shape", "color") for it in items[j + 1:]):
            explicit_count = int(value)  # "all three - crimson disc, snow-white cube, ...": the scene's count
        elif kind == "count":
            pending_count = int(value)
            count_is_next = has_adjectives()  # "one red and one blue": this count is the next phrase's
            np_open = True
            opened_by_article = opened_by_article or not has_adjectives()
        elif kind in ("color", "size"):
            if kind == "color" and (next_content(items, j) == "bgnoun" or names_ground(items, j)):
                if value == "blue":  # "over midnight blue", "a dark blue background": navy is the blue ground
                    scene.background = scene.background or "navy"
                else:
                    scene.unknown_words.append(f"{surface} background")  # not a background colour we have
                continue
            if (at_break[j] and j and items[j - 1][0] == "shape" or j > 1 and kind == "color" and
                    items[j - 1][2] == "in" and items[j - 2][0] == "shape") and not has_adjectives() and \
                    len(named_group) == 1 and getattr(named_group[0], kind) is None:
                # ... and "one block in green and one disc in white": "in" gives the colour to its noun
                for o in named_group:  # "three forms: square red, triangle blue, ...": the noun's own
                    setattr(o, kind, value)
                continue
            if kind == "size" and j and items[j - 1][0] == "size" and pending.get("size") == value:
                continue  # "a big big circle", "a tiny little star": one size, said twice
            if kind in pending:  # "red and blue ...": the first adjective had no noun of its own
                count_of_next = pending_count if count_is_next else None
                last_group = adjectives_without_noun()
                pending_count, count_is_next = count_of_next, False
                if any(it[2] in ("and", "or") for it in items[max(0, j - 3):j]):
                    coordinated.extend(o for o in last_group if o.shape is None)
                opened_by_article = False
            k = j - 1
            while k > 0 and items[k][2] in ("are", "is", "be", "should", "will", "must", "were"):
                k -= 1  # "both are small"
            if j and items[k][2] in V.DISTRIBUTIVE_WORDS and len(objects) > 1 and not has_adjectives():
                for o in objects:  # "..., both small", "all red"
                    if getattr(o, kind) is None:
                        setattr(o, kind, value)
                continue
            if not has_adjectives():
                opened_by_article = np_open and opened_by_article
            pending[kind] = value
            pending_words[kind] = surface
            np_open = True
        elif kind in ("speed", "motion", "origin"):
            if kind == "motion" and said_after_noun() and any(k in pending for k in ("size", "color")):
                # "green circle small up-right slow + purple star": adjectives after a noun and before
                # its motion are that noun's, not the next one's
                last_group = adjectives_without_noun()
                np_open = False
            if surface.startswith(("neither", "none")) and not np_open:
                last_group = list(objects)  # "a yellow square and a blue circle, neither of which moves"
            if kind == "motion":
                last_motion = value
            if kind in ("motion", "speed") and after_break(items, j, at_break) and not np_open and len(objects) > 1 and \
                    surface not in COMPARATIVES and \
                    all(getattr(o, kind) is None for o in objects) and last_group[-1:] == objects[-1:]:
                last_group = list(objects)  # "a red star, a green square and a blue triangle, moving up"; "..., slow"
            if kind == "motion" and plural_subject(items, j, at_break) and not np_open and len(objects) > 1 and \
                    (referred_at is None or j - referred_at > 2) and \
                    all(o.motion in (None, value) and id(o) not in origins for o in objects):
                last_group = list(objects)  # "a blue triangle and a green circle bounce around the frame"
                k = j - 1
                while items[k][0] in ("verb", "speed"):  # "... drifting slowly up": that speed is everyone's too
                    for o in objects:
                        o.speed = o.speed or (items[k][1] if items[k][0] == "speed" else None)
                    k -= 1
            if kind == "motion" and not np_open and len(named_group) > 1 and last_group == named_group[-1:] and \
                    all(o.motion is None for o in named_group):
                last_group = list(named_group)  # "two stars one red one yellow moving left": the last says the list's
            if shared_from is not None and len(objects) == shared_from and not np_open and kind != "origin":
                shared.setdefault(kind, value)  # "three shapes each moving down: a ..., a ..."
            elif kind == "motion" and from_to(items, j) and last_group and not np_open:
                for o in last_group:  # "top-left corner to bottom-right corner": the first names the start
                    o.motion = value
            elif np_open or not last_group or (kind == "motion" and j + 1 < len(items) and not at_break[j] and
                                               items[j + 1][0] in ("color", "size", "shape") and
                                               (j == 0 or at_break[j - 1] or items[j - 1][2] in ("and", "plus"))):
                # "... and upward blue triangle": a heading said before its noun is the next object's;
                # "bottom-right to top-left. a small wedge": a path to the opposite corner goes there
                pending[kind] = value if kind == "motion" and from_to(items, j) else \
                    merge_motion(pending.get(kind), value) if kind == "motion" else pending.get(kind, value)
            else:
                for o in last_group:
                    if kind == "origin":
                        origins.setdefault(id(o), value)
                    elif kind == "motion":
                        o.motion = merge_motion(o.motion, value)
                    elif getattr(o, kind) is None:
                        setattr(o, kind, value)
        elif kind == "filler" and surface == "the":
            if said_after_noun():
                last_group = adjectives_without_noun()  # "the square is red and the star ...": red is the square's
            definite = not has_adjectives()
        elif kind == "filler" and surface in V.MEDIA_NOUNS:
            for key in ("size", "color"):  # "a little clip of ...": the clip's adjectives
                pending.pop(key, None)
            np_open = opened_by_article = False
        elif kind == "filler" and surface in V.TOGETHER_WORDS and last_motion is not None:
            for o in objects:  # "bouncing in sync", "moving right together"
                o.motion = o.motion or last_motion
        elif kind == "filler" and surface == "middle" and len(objects) == 3 and definite and \
                j + 1 < len(items) and (items[j + 1][2] == "one" or items[j + 1][0] in ("shape", "generic")):
            skip_next = True  # "the middle one", "the middle shape": the second of three
            refer_to([objects[1]])
        elif kind == "filler" and surface in V.ORDINALS and objects and \
                (definite or joined_ordinal(items, j, ordinal_at)):
            k = V.ORDINALS[surface]  # "the first climbs, the second falls"
            skip_next = j + 1 < len(items) and items[j + 1][2] == "one"  # "the second one bounces"
            if -len(objects) <= k < len(objects):
                # "the first and (the) second move left": one group
                refer_to((last_group if joined_ordinal(items, j, ordinal_at) else []) + [objects[k]])
                ordinal_at = j
        elif kind == "filler" and surface in V.DISTRIBUTIVE_WORDS:
            if said_after_noun():
                adjectives_without_noun()  # "one red, one blue, one green - and each of them ..."
                np_open = False
            if len(objects) > 1 and not np_open:  # "..., both moving left": the motion is everyone's
                last_group = list(objects)
        elif kind == "shape":
            shape, plural = value
            if j + 1 < len(items) and items[j + 1][0] in ("shape", "generic") and "shape" not in pending and \
                    not at_break[j]:
                # "a round dot", "a square block", "a star shape": a shape word right before a noun
                # modifies it; one object, whose outline the modifier names
                pending["shape"] = shape
                np_open = True
                continue
            bare = not opened_by_article and not has_adjectives() and not np_open  # "..., square goes up"
            named = (definite or bare) and not plural and not coordinated and pending_count is None
            same = [o for o in objects if o.shape == shape and all(getattr(o, k) == pending[k] for k in
                                                                     ("color", "size") if k in pending)]
            if j >= 2 and items[j - 2][2] in ("of", "inside", "within") and items[j - 1][2] == "the" and \
                    not same and not has_adjectives() and objects:
                scene.unknown_words.append(surface)  # "off the walls of the box": a place, not one more object
                definite = False
                continue
            definite = False
            fresh = [o for o in same if not (o.color or o.size or o.motion or o.speed)]
            if named and bare and len(same) > 1 and len(fresh) == len(same):
                same = fresh[:1]  # "two squares. Square A: red, ... Square B: blue, ...": the next one counted
            if denied_shape and not has_adjectives() and not plural and len(same) == 1:
                denied_shape = False  # "a red square - not a circle, a square -": the square already named
                refer_to(same)
                continue
            if named and len(same) == 1:
                # "a red square and a teal star, the square moving left": "the square" is the one
                # already named, not one more object
                for k in ("motion", "speed"):
                    if k in pending and getattr(same[0], k) is None:
                        setattr(same[0], k, pending[k])
                pending.clear()
                k = j - 1 - (items[j - 1][2] == "the")  # "the dot and (the) tile move down": one group
                joined = referred_at is not None and k >= 1 and items[k][2] == "and" and referred_at == k - 1
                refer_to((last_group if joined else []) + [o for o in same if not joined or o not in last_group])
                referred_at = j
                continue
            bare_plural = plural and pending_count is None and not has_adjectives() and not np_open and not coordinated
            last_group = make_objects(shape, plural)
            if bare_plural:  # "triangles are better", "why does it keep giving me squares": maybe talk about shapes
                spoken_of.update((id(o), surface) for o in last_group)
            if coordinated:  # "red and blue circles", "a red and a blue circle": the noun is theirs too
                for o in coordinated:
                    o.shape = o.shape or shape
                last_group = coordinated + last_group
            coordinated = []
            np_open = opened_by_article = False
        elif kind == "generic" and surface in ("shape", "object") and field_name(items, j):
            continue  # "shape: circle", "object: blue square", "the shape is a triangle": a field's name
        elif kind == "generic":
            if value and pending_count is not None and pending_count > 1 and any(it[0] == "shape" for it in items[j + 1:]):
                # "three little shapes: a red star, ...": the header of a list; its adjectives are everyone's
                explicit_count, pending_count = pending_count, None
                shared_from = len(objects)
                for k in ("size", "color", "speed", "motion"):
                    if k in pending:
                        shared[k] = pending.pop(k)
            elif pending or (opened_by_article and not value and pending_count is None):
                last_group = make_objects(None, bool(value), noun=True)  # "a red shape", "an object moving right"
            elif pending_count is not None:
                explicit_count = pending_count
                pending_count = None
                shared_from = len(objects)  # a motion before the objects are listed is all of theirs
            np_open = opened_by_article = False
        elif kind == "verb":
            if has_adjectives():  # "a red moves right": an object whose shape is not said
                last_group = adjectives_without_noun()
            np_open = opened_by_article = False
        elif kind == "bgcolor":
            said_of = ground_colour_of(items, j)
            if said_of == "object":
                scene.unknown_words.append(surface)  # "a black circle": not an object colour
            elif said_of == "ground":
                scene.background = value
                np_open = False
        elif kind == "occluder":
            scene.occluder = bool(value) and not occluder_denied(items, j, at_break) and scene.occluder is not False
            opened_by_article = False  # "a vertical pillar in front of square's path": the article was the bar's
            k = j - 1
            while k >= 0 and items[k][0] in ("size", "color", "bgcolor"):
                k -= 1
            if k < j - 1 and (k < 0 or items[k][0] != "bgnoun"):
                for key in ("size", "color"):  # "behind a tall pillar": the bar's adjectives, not an object's
                    pending.pop(key, None)
            np_open = False
        elif kind in ("camera", "bgnoun"):
            np_open = False
        elif kind in ("unknown", "outside"):
            scene.unknown_words.append(surface)
    if has_adjectives():
        last_group = adjectives_without_noun()
    if pending and last_group:  # trailing "... and bouncing" / "... quickly"
        for o in last_group:
            if "motion" in pending:
                o.motion = merge_motion(o.motion, pending["motion"])
            if "speed" in pending and o.speed is None:
                o.speed = pending["speed"]
        for o in last_group:
            if "origin" in pending:
                origins.setdefault(id(o), pending["origin"])
    colors_for_plural(objects)  # first: "three circles: red moving up, white ..." are no loose adjectives
    respectively(items, objects)  # before the loose colours are dropped: "..., coloured red and blue respectively"
    scene.unknown_words.extend(drop_words_read_as_objects(objects, loose, spoken_of))
    for o in objects[shared_from or 0:] if shared and shared_from is not None else ():
        for k, v in shared.items():
            if getattr(o, k) is None:
                setattr(o, k, v)
    if explicit_count is None:
        objects = merge_restated(objects, batch_of)
    else:
        objects = fold_into_count(objects, explicit_count)
    for o in objects:
        if id(o) in origins:
            o.motion = heading_between(origins[id(o)], o.motion) if o.motion else origins[id(o)]
    scene.objects = objects
    scene.count = explicit_count if explicit_count is not None else (len(objects) or None)
    return scene
