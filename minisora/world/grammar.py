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
from minisora.world.comparisons import COMPARATIVES, compared_referent
from minisora.world.item_context import (after_break, field_name, ground_colour_of, joined_ordinal, names_ground,
                                         next_content, occluder_denied)
from minisora.world.motions import from_to, merge_motion, plural_subject
from minisora.world.parse_state import ParseState
from minisora.world.phrases import clause_breaks, match, tokenize
from minisora.world.scene import ParsedObject, ParsedScene


# Words a denial reads through to what it denies: "not a", "not the", "isn't really", "don't make it"; any
# other word ends it ("no not siri, okay a small orange star" denies no star)
_DENIAL_GOES_ON = frozenset("a an the any so too very really be is are it them make have want need just even go move head "
                            "travel".split())
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
    s = ParseState()  # the objects read so far and what waits for its noun (parse_state.py)
    # what only this loop reads: denials, lists waiting for their noun, the last references
    coordinated: list[ParsedObject] = []  # "red and blue circles": objects waiting for a plural noun
    negated = False  # "not a circle, a triangle", "isn't red but blue": the next colour or shape is not wanted
    denied_shape = False  # a shape was denied: "a red square - not a circle, a square -" names the square again
    skip_next = False
    referred_at: int | None = None  # the item of the last noun that named an object already named
    last_motion: str | None = None
    ordinal_at: int | None = None  # the item of the last ordinal that named objects
    labels_first = len(items) > 1 and items[0][0] == "motion" and bool(at_break[0]) and \
        items[1][0] in ("color", "size", "shape", "article")
    for j, (kind, value, surface) in enumerate(items):
        if kind == "count" and ordinal_at == j - 1 and items[j - 1][2] in ("first", "last", "former", "latter") and \
                1 < int(value) <= len(s.objects):
            n = int(value)  # "the first two move left", "the latter two": objects named by position
            s.refer_to(s.objects[:n] if items[j - 1][2] in ("first", "former") else s.objects[-n:])
            continue
        if kind == "bgcolor" and value == "navy" and j + 1 < len(items) and items[j + 1][0] in ("shape", "generic") and \
                not at_break[j] and j and items[j - 1][0] in ("article", "size") and not names_ground(items, j):
            kind, value, surface = "color", "blue", "blue"  # "a navy circle": the world's blue is its dark blue
        if kind == "bgcolor" and surface.split()[-1] in V.COLORS and (
                next_content(items, j) in ("shape", "generic") or
                j > 1 and items[j - 1][2] in ("is", "are", "was") and items[j - 2][0] in ("shape", "generic", "count")
                and next_content(items, j) != "bgnoun"):
            kind, value = "color", surface.split()[-1]  # "a navy blue square", "the big one is navy blue": blue
        if negated and kind in ("color", "shape", "size", "bgcolor", "motion"):
            # "not a circle", "isn't red", "does not bounce": nothing is made of what is denied; the denial
            # covers its whole noun phrase ("instead of a purple cube") but not the next ("isn't red but blue")
            negated = kind in ("color", "size") and j + 1 < len(items) and not at_break[j] and \
                items[j + 1][0] in ("color", "size", "shape")
            denied_shape = denied_shape or kind == "shape"
            continue
        if kind == "filler" and surface == "other" and j and items[j - 1][2] == "the" and \
                0 < len(s.last_group) < len(s.objects) and not s.has_adjectives():
            # "the purple one ...; the other one is small", "the middle one moves left, the others stay"
            s.refer_to([o for o in s.objects if all(o is not g for g in s.last_group)])
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
        bare_one = kind == "count" and surface == "one" and len(s.pending) == 1 and not s.opened_by_article and \
            items[j - 1][0] in ("color", "size") and (j == 1 or at_break[j - 2] or items[j - 2][2] in _CLAUSE_OPENERS) \
            and j + 1 < len(items) and items[j + 1][0] in ("verb", "motion", "speed")
        if kind == "count" and surface == "one" and not s.has_adjectives() and s.pending_count is None and \
                len(s.objects) > 1 and (j == 0 or at_break[j - 1] or items[j - 1][2] in _CLAUSE_OPENERS) and \
                j + 1 < len(items) and items[j + 1][0] in ("verb", "motion") and \
                any(o.motion is None for o in s.objects):
            s.refer_to([next(o for o in s.objects if o.motion is None)])  # "One goes up, the other goes down"
            continue
        if (s.definite or bare_one) and s.has_adjectives() and \
                (kind == "generic" or (kind == "count" and surface == "one")):
            same = [o for o in s.objects if all(getattr(o, k) == s.pending[k] for k in ("color", "size", "shape")
                                              if k in s.pending)]
            if len(same) == 1 or kind == "generic" and value and len(same) > 1:
                # "..., the red one moving left", "the small ones": the objects already named
                s.pending.clear()
                s.refer_to(same)
                continue
        if kind in ("size", "speed") and surface in COMPARATIVES and s.definite and not s.has_adjectives() and \
                not (j > 1 and items[j - 2][2] in ("is", "are", "was")) and (at_break[j] or j + 1 == len(items) or items[j + 1][2] in ("one", "is", "was") or
                 items[j + 1][0] in ("verb", "motion")):
            referent = compared_referent(s.objects, surface)
            if referent is not None:  # "the smaller one bounces", "the faster is red": one of the two named
                setattr(referent, kind, value)
                s.refer_to([referent])
                skip_next = j + 1 < len(items) and items[j + 1][2] == "one"
                continue
        if kind in ("article", "count"):
            s.definite = False
        if kind == "article" and s.has_adjectives() and s.pending_count is None and \
                any(k in s.pending for k in ("size", "color")):
            s.last_group = s.adjectives_without_noun()  # "blue ... a small yellow square": a new phrase begins
            if j and items[j - 1][2] in ("and", "or"):  # "a cyan and a blue circle": the noun is theirs too
                coordinated.extend(o for o in s.last_group if o.shape is None)
        if kind == "article" and s.pending_count is not None and not s.has_adjectives():
            # "two travellers: a white disc ..., a cyan square ...": a count before an article counts
            # the scene (its noun was a word the world does not know), not the next noun phrase
            s.explicit_count, s.pending_count = s.pending_count, None
        if kind == "article":
            s.np_open = True
            s.opened_by_article = s.opened_by_article or not s.has_adjectives()  # "a" of "with a grey background"
        elif kind == "count" and at_break[j] and not s.has_adjectives() and s.pending_count is None and \
                (j == 0 or at_break[j - 1] or items[j - 1][2] in ("all", "these", "the")) and \
                any(it[0] in ("shape", "color") for it in items[j + 1:]):
            s.explicit_count = int(value)  # "all three - crimson disc, snow-white cube, ...": the scene's count
        elif kind == "count" and surface == "one" and s.one_for_last_noun(items, j):
            s.pending["shape"] = s.objects[-1].shape  # "a red star and a blue one": one more star
        elif kind == "count":
            s.pending_count = int(value)
            s.count_is_next = s.has_adjectives()  # "one red and one blue": this count is the next phrase's
            s.np_open = True
            s.opened_by_article = s.opened_by_article or not s.has_adjectives()
        elif kind in ("color", "size"):
            if kind == "color" and (next_content(items, j) == "bgnoun" or names_ground(items, j)):
                if value == "blue":  # "over midnight blue", "a dark blue background": navy is the blue ground
                    s.scene.background = s.scene.background or "navy"
                else:
                    s.scene.unknown_words.append(f"{surface} background")  # not a background colour we have
                continue
            after_noun = at_break[j] and j and items[j - 1][0] == "shape"
            in_colour = j > 1 and kind == "color" and items[j - 1][2] == "in" and \
                (items[j - 2][0] == "shape" or at_break[j - 2])
            if (after_noun or in_colour) and not s.has_adjectives() and len(s.named_group) == 1 and \
                    getattr(s.named_group[0], kind) in (None, value):
                # ... and "one block in green and one disc in white": "in" gives the colour to its noun
                for o in s.named_group:  # "three forms: square red, triangle blue, ...": the noun's own
                    setattr(o, kind, value)
                continue
            if kind == "size" and j and items[j - 1][0] == "size" and s.pending.get("size") == value:
                continue  # "a big big circle", "a tiny little star": one size, said twice
            if kind in s.pending:  # "red and blue ...": the first adjective had no noun of its own
                count_of_next = s.pending_count if s.count_is_next else None
                s.last_group = s.adjectives_without_noun()
                s.pending_count, s.count_is_next = count_of_next, False
                if any(it[2] in ("and", "or") for it in items[max(0, j - 3):j]):
                    coordinated.extend(o for o in s.last_group if o.shape is None)
                s.opened_by_article = False
            k = j - 1
            while k > 0 and items[k][2] in ("are", "is", "be", "should", "will", "must", "were"):
                k -= 1  # "both are small"
            if j and items[k][2] in V.DISTRIBUTIVE_WORDS and len(s.objects) > 1 and not s.has_adjectives():
                for o in s.objects:  # "..., both small", "all red"
                    if getattr(o, kind) is None:
                        setattr(o, kind, value)
                continue
            if not s.has_adjectives():
                s.opened_by_article = s.np_open and s.opened_by_article
            s.pending[kind] = value
            s.pending_words[kind] = surface
            s.np_open = True
        elif kind in ("speed", "motion", "origin"):
            if kind == "motion" and s.said_after_noun() and any(k in s.pending for k in ("size", "color")):
                # "green circle small up-right slow + purple star": adjectives after a noun and before
                # its motion are that noun's, not the next one's
                s.last_group = s.adjectives_without_noun()
                s.np_open = False
            if surface.startswith(("neither", "none")) and not s.np_open:
                s.last_group = list(s.objects)  # "a yellow square and a blue circle, neither of which moves"
            if kind == "motion":
                last_motion = value
            if kind in ("motion", "speed") and after_break(items, j, at_break) and not s.np_open and \
                    len(s.objects) > 1 and surface not in COMPARATIVES and \
                    all(getattr(o, kind) is None for o in s.objects) and s.last_group[-1:] == s.objects[-1:]:
                # "a red star, a green square and a blue triangle, moving up"; "..., slow"
                s.last_group = list(s.objects)
            joined = s.trailing_without_motion(value)
            if kind == "motion" and plural_subject(items, j, at_break) and not s.np_open and len(joined) > 1 and \
                    (referred_at is None or j - referred_at > 2):
                s.last_group = joined  # "a blue triangle and a green circle bounce around the frame"
                k = j - 1
                while items[k][0] in ("verb", "speed"):  # "... drifting slowly up": that speed is everyone's too
                    for o in joined:
                        o.speed = o.speed or (items[k][1] if items[k][0] == "speed" else None)
                    k -= 1
            if kind == "motion" and not s.np_open and len(s.named_group) > 1 and \
                    s.last_group == s.named_group[-1:] and all(o.motion is None for o in s.named_group):
                # "two stars one red one yellow moving left": the last says the list's
                s.last_group = list(s.named_group)
            if s.shared_from is not None and len(s.objects) == s.shared_from and not s.np_open and kind != "origin":
                s.shared.setdefault(kind, value)  # "three shapes each moving down: a ..., a ..."
            elif kind == "motion" and from_to(items, j) and s.last_group and not s.np_open:
                for o in s.last_group:  # "top-left corner to bottom-right corner": the first names the start
                    o.motion = value
            elif s.np_open or not s.last_group or (kind == "motion" and j + 1 < len(items) and
                                                 (not at_break[j] or labels_first and at_break[j - 1]) and
                                                 items[j + 1][0] in ("color", "size", "shape", "article") and
                                                 (j == 0 or at_break[j - 1] or items[j - 1][2] in ("and", "plus"))):
                # "Up: red circle. Down: blue square.": when the first motion labels what follows it, so do the rest
                # "... and upward blue triangle": a heading said before its noun is the next object's;
                # "bottom-right to top-left. a small wedge": a path to the opposite corner goes there
                s.pending[kind] = value if kind == "motion" and from_to(items, j) else \
                    merge_motion(s.pending.get(kind), value) if kind == "motion" else s.pending.get(kind, value)
            else:
                for o in s.last_group:
                    if kind == "origin":
                        s.origins.setdefault(id(o), value)
                    elif kind == "motion":
                        o.motion = merge_motion(o.motion, value)
                    elif getattr(o, kind) is None:
                        setattr(o, kind, value)
        elif kind == "filler" and surface == "the":
            if s.said_after_noun():
                s.last_group = s.adjectives_without_noun()  # "the square is red and the star ...": red is the square's
            s.definite = not s.has_adjectives()
        elif kind == "filler" and surface in V.MEDIA_NOUNS:
            for key in ("size", "color"):  # "a little clip of ...": the clip's adjectives
                s.pending.pop(key, None)
            s.np_open = s.opened_by_article = False
        elif kind == "filler" and surface in V.TOGETHER_WORDS and last_motion is not None:
            for o in s.objects:  # "bouncing in sync", "moving right together"
                o.motion = o.motion or last_motion
        elif kind == "filler" and surface == "middle" and len(s.objects) == 3 and s.definite and \
                j + 1 < len(items) and (items[j + 1][2] == "one" or items[j + 1][0] in ("shape", "generic")):
            skip_next = True  # "the middle one", "the middle shape": the second of three
            s.refer_to([s.objects[1]])
        elif kind == "filler" and surface in V.ORDINALS and s.objects and \
                (s.definite or joined_ordinal(items, j, ordinal_at)):
            k = V.ORDINALS[surface]  # "the first climbs, the second falls"
            skip_next = j + 1 < len(items) and items[j + 1][2] == "one"  # "the second one bounces"
            if -len(s.objects) <= k < len(s.objects):
                # "the first and (the) second move left": one group
                s.refer_to((s.last_group if joined_ordinal(items, j, ordinal_at) else []) + [s.objects[k]])
                ordinal_at = j
        elif kind == "filler" and surface in V.DISTRIBUTIVE_WORDS:
            if s.said_after_noun():
                s.adjectives_without_noun()  # "one red, one blue, one green - and each of them ..."
                s.np_open = False
            if len(s.objects) > 1 and not s.np_open:  # "..., both moving left": the motion is everyone's
                s.last_group = list(s.objects)
        elif kind == "shape":
            shape, plural = value
            if j + 1 < len(items) and items[j + 1][0] in ("shape", "generic") and "shape" not in s.pending and \
                    not at_break[j]:
                # "a round dot", "a square block", "a star shape": a shape word right before a noun
                # modifies it; one object, whose outline the modifier names
                s.pending["shape"] = shape
                s.np_open = True
                continue
            bare = not s.opened_by_article and not s.has_adjectives() and not s.np_open  # "..., square goes up"
            named = (s.definite or bare) and not plural and not coordinated and s.pending_count is None
            same = [o for o in s.objects if o.shape == shape and all(getattr(o, k) == s.pending[k] for k in
                                                                     ("color", "size") if k in s.pending)]
            if j >= 2 and items[j - 2][2] in ("of", "inside", "within") and items[j - 1][2] == "the" and \
                    not same and not s.has_adjectives() and s.objects:
                s.scene.unknown_words.append(surface)  # "off the walls of the box": a place, not one more object
                s.definite = False
                continue
            if s.definite and plural and not s.has_adjectives() and s.pending_count is None and len(same) > 1:
                s.definite = False  # "two circles and a square: the circles move left": both circles
                s.refer_to(same)
                continue
            s.definite = False
            fresh = [o for o in same if not (o.color or o.size or o.motion or o.speed)]
            if named and bare and len(same) > 1 and len(fresh) == len(same):
                same = fresh[:1]  # "two squares. Square A: red, ... Square B: blue, ...": the next one counted
            if denied_shape and not s.has_adjectives() and not plural and len(same) == 1:
                denied_shape = False  # "a red square - not a circle, a square -": the square already named
                s.refer_to(same)
                continue
            if named and len(same) == 1:
                # "a red square and a teal star, the square moving left": "the square" is the one
                # already named, not one more object
                for k in ("motion", "speed"):
                    if k in s.pending and getattr(same[0], k) is None:
                        setattr(same[0], k, s.pending[k])
                s.pending.clear()
                k = j - 1 - (items[j - 1][2] == "the")  # "the dot and (the) tile move down": one group
                joined = referred_at is not None and k >= 1 and items[k][2] == "and" and referred_at == k - 1
                s.refer_to((s.last_group if joined else []) + [o for o in same if not joined or o not in s.last_group])
                referred_at = j
                continue
            bare_plural = plural and s.pending_count is None and not s.has_adjectives() and not s.np_open and \
                not coordinated
            s.last_group = s.make_objects(shape, plural)
            if bare_plural:  # "triangles are better", "why does it keep giving me squares": maybe talk about shapes
                s.spoken_of.update((id(o), surface) for o in s.last_group)
            if coordinated:  # "red and blue circles", "a red and a blue circle": the noun is theirs too
                for o in coordinated:
                    o.shape = o.shape or shape
                s.last_group = coordinated + s.last_group
            coordinated = []
            s.np_open = s.opened_by_article = False
        elif kind == "generic" and surface == "ones" and s.pending_count is None:
            s.pending.clear()  # "for the little ones": "ones" names objects already named, or nothing
            s.np_open = s.opened_by_article = False
        elif kind == "generic" and surface in ("shape", "object") and field_name(items, j):
            continue  # "shape: circle", "object: blue square", "the shape is a triangle": a field's name
        elif kind == "generic":
            if value and s.pending_count is not None and s.pending_count > 1 and \
                    any(it[0] == "shape" for it in items[j + 1:]):
                # "three little shapes: a red star, ...": the header of a list; its adjectives are everyone's
                s.explicit_count, s.pending_count = s.pending_count, None
                s.shared_from = len(s.objects)
                for k in ("size", "color", "speed", "motion"):
                    if k in s.pending:
                        s.shared[k] = s.pending.pop(k)
            elif s.pending or (s.opened_by_article and not value and s.pending_count is None):
                s.last_group = s.make_objects(None, bool(value), noun=True)  # "a red shape", "an object moving right"
            elif s.pending_count is not None:
                s.explicit_count = s.pending_count
                s.pending_count = None
                s.shared_from = len(s.objects)  # a motion before the objects are listed is all of theirs
            s.np_open = s.opened_by_article = False
        elif kind == "verb":
            if s.has_adjectives():  # "a red moves right": an object whose shape is not said
                s.last_group = s.adjectives_without_noun()
            s.np_open = s.opened_by_article = False
        elif kind == "bgcolor":
            said_of = ground_colour_of(items, j)
            if said_of == "object":
                s.scene.unknown_words.append(surface)  # "a black circle": not an object colour
            elif said_of == "ground":
                s.scene.background = value
                s.np_open = False
        elif kind == "occluder":
            s.scene.occluder = bool(value) and not occluder_denied(items, j, at_break) and s.scene.occluder is not False
            s.opened_by_article = False  # "a vertical pillar in front of square's path": the article was the bar's
            k = j - 1
            while k >= 0 and items[k][0] in ("size", "color", "bgcolor"):
                k -= 1
            if k < j - 1 and (k < 0 or items[k][0] != "bgnoun"):
                for key in ("size", "color"):  # "behind a tall pillar": the bar's adjectives, not an object's
                    s.pending.pop(key, None)
            s.np_open = False
        elif kind in ("camera", "bgnoun"):
            s.np_open = False
        elif kind in ("unknown", "outside"):
            s.scene.unknown_words.append(surface)
    return s.finish(items)
