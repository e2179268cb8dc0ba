"""What the parser's attachment pass has built so far, and the noun-phrase steps it shares.

`grammar.parse` reads the matched items left to right into one `ParseState`: the objects named so
far, the adjectives, count and motion waiting for their noun (`pending`), the group the next motion
belongs to (`last_group`), and what the finishing step needs to settle the scene (`finish`). The
steps here are the ones several of the parser's rules take: make the objects of a noun phrase, give
adjectives that reached no noun to an object, name objects already named (see grammar.py's
docstring for the rules themselves).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from minisora.world.item_context import next_content
from minisora.world.lists import (colors_for_plural, drop_words_read_as_objects, fold_into_count, merge_restated,
                                  respectively)
from minisora.world.motions import heading_between, merge_motion
from minisora.world.scene import ParsedObject, ParsedScene


@dataclass
class ParseState:
    """The state of one parse; `grammar.parse` makes one per text."""

    scene: ParsedScene = field(default_factory=ParsedScene)
    objects: list[ParsedObject] = field(default_factory=list)
    origins: dict[int, str] = field(default_factory=dict)  # id(object) -> motion implied by "from the left edge"
    pending: dict[str, object] = field(default_factory=dict)
    pending_count: int | None = None
    explicit_count: int | None = None
    last_group: list[ParsedObject] = field(default_factory=list)
    np_open: bool = False  # inside a noun phrase that has not reached its noun yet
    opened_by_article: bool = False  # ... and an article or number opened it ("a red ...", not "star, red")
    count_is_next: bool = False  # the pending count came after the pending adjectives
    definite: bool = False  # "the" opened the noun phrase: it may name an object already named
    shared_from: int | None = None  # objects named before a generic plural ("three shapes")
    # id(object) -> the phrase that made it (`lists.merge_restated`)
    batch_of: dict[int, int] = field(default_factory=dict)
    # id(object) -> its noun, for objects a bare plural made ("circles are too fast")
    spoken_of: dict[int, str] = field(default_factory=dict)
    # id(object) -> its words, for objects no noun, article or count introduced
    loose: dict[int, list[str]] = field(default_factory=dict)
    pending_words: dict[str, str] = field(default_factory=dict)  # the words of the pending adjectives
    # the objects the last noun named (adjectives may still come); changed in place, never rebound
    named_group: list[ParsedObject] = field(default_factory=list)
    # "three shapes moving down: a ..., a ...": a motion said before the objects
    shared: dict[str, str] = field(default_factory=dict)

    def make_objects(self, shape: str | None, plural: bool, noun: bool = False) -> list[ParsedObject]:
        pending = self.pending
        shape = pending.pop("shape", None) or shape  # "a round dot": the modifier names the outline
        n = self.pending_count if self.pending_count is not None else 1
        if not plural and self.pending_count is None:
            n = 1
        group = []
        introduced = shape is not None or noun or self.opened_by_article or \
            (self.pending_count is not None and not self.count_is_next)
        for _ in range(max(n, 1)):
            o = ParsedObject(color=pending.get("color"), shape=shape, size=pending.get("size"),
                             motion=pending.get("motion"), speed=pending.get("speed"))
            if "origin" in pending:
                self.origins[id(o)] = pending["origin"]
            group.append(o)
            self.batch_of[id(o)] = len(self.batch_of) if not group[:-1] else self.batch_of[id(group[0])]
            if not introduced:
                self.loose[id(o)] = [self.pending_words[k] for k in ("size", "color")
                                     if k in pending and k in self.pending_words]
        self.objects.extend(group)
        pending.clear()
        self.pending_count = None
        self.named_group[:] = group
        return group

    def has_adjectives(self) -> bool:
        return any(k in self.pending for k in ("color", "size", "shape"))

    def adjectives_without_noun(self) -> list[ParsedObject]:
        """Adjectives that reached no noun: "a red moves right" is an object whose shape is not said;
        but after a noun without an article ("a star, red, going up", "a circle whose colour is red")
        or as "one <adjective>" after a plural ("two circles, one red and one blue") they describe an
        object already named, the first of the last group that lacks them."""
        pending, named_group = self.pending, self.named_group
        keys = [k for k in ("color", "size", "shape") if k in pending]
        distributive = self.pending_count == 1 and len(named_group) > 1
        if named_group and (not self.opened_by_article or distributive):
            for o in named_group:
                if all(getattr(o, k) is None for k in keys):
                    for k in keys:
                        setattr(o, k, pending.pop(k))
                    if "speed" in pending and o.speed is None:  # "square, blue, large, slow, direction: ..."
                        o.speed = pending.pop("speed")
                    if "motion" in pending and o.motion is None:  # "two circles: a white one staying still and ..."
                        o.motion = pending.pop("motion")
                    self.pending_count = None
                    # a motion said next is this object's while the group's list goes on ("two
                    # triangles: orange going up, cyan going down"), everyone's once it is complete
                    # ("three blocks (ruby, violet and amber) climbing"); "one orange that goes left,
                    # and one purple that goes up": each "one" keeps its own
                    done = all(getattr(m, k) is not None for m in named_group for k in keys)
                    return list(named_group) if done and not distributive else [o]
        same = [o for o in self.objects if o.color == pending.get("color")]
        if "color" in keys and len(same) == 1 and self.pending_count is None and not self.opened_by_article:
            order = list(pending)  # a speed or motion said after the colour is its object's too
            for k in keys + [k for k in ("speed", "motion") if k in pending and order.index(k) > order.index("color")]:
                # "2 dots, red and blue; red goes left", "the red is big", "green fast blue slow": colours
                value = pending.pop(k)  # are distinct, so the red one, which takes the other adjectives
                if getattr(same[0], k) is None:
                    setattr(same[0], k, value)
            return same
        if self.pending_count is not None and self.pending_count > 1:
            # "three (yellow, blue and orange)": the count is the list's, not each colour's
            self.explicit_count, self.pending_count = self.pending_count, None
        return self.make_objects(None, False)

    def refer_to(self, same: list[ParsedObject]) -> None:
        """The phrase just read names objects already named ("the square", "the red one", "the
        first"): what follows is theirs, and no object is added."""
        self.last_group = self.named_group[:] = list(same)
        self.np_open = self.opened_by_article = self.definite = False

    def said_after_noun(self) -> bool:
        """Adjectives are pending after a noun named without an article ("a star, red, ...")."""
        return self.has_adjectives() and bool(self.named_group) and not self.opened_by_article

    def trailing_without_motion(self, motion: str) -> list[ParsedObject]:
        """The objects named last that have no motion yet (or this one), in order: the subject a plural
        verb can give its motion ("a green square bounces while a white dot and an orange star sit still")."""
        out: list[ParsedObject] = []
        for o in reversed(self.objects):
            if o.motion not in (None, motion) or id(o) in self.origins:
                break
            out.insert(0, o)
        return out

    def one_for_last_noun(self, items, j: int) -> bool:
        """"a red star and a blue one": "one" (item j) after an article and adjectives, with no noun
        after it, stands for the noun of the object named just before, when that one was named alone
        (after "two circles" or "three stars:", "a red one" is one of those; "one green one blue" counts)."""
        k = j - 1
        while k >= 0 and items[k][0] in ("color", "size"):
            k -= 1
        return k < j - 1 and k >= 0 and items[k][2] in ("a", "an") and self.has_adjectives() and \
            "shape" not in self.pending and next_content(items, j) not in ("shape", "generic") and \
            len(self.named_group) == 1 and self.named_group[0] is self.objects[-1] and \
            self.objects[-1].shape is not None and self.explicit_count is None and self.pending_count is None and \
            self.shared_from is None

    def finish(self, items: list[tuple[str, object, str]]) -> ParsedScene:
        """The scene, once every item is read: what is still pending goes to the last objects named,
        lists and counts are settled, and each start edge becomes part of its object's motion."""
        if self.has_adjectives():
            self.last_group = self.adjectives_without_noun()
        pending, last_group = self.pending, self.last_group
        if pending and last_group:  # trailing "... and bouncing" / "... quickly"
            for o in last_group:
                if "motion" in pending:
                    o.motion = merge_motion(o.motion, pending["motion"])
                if "speed" in pending and o.speed is None:
                    o.speed = pending["speed"]
            for o in last_group:
                if "origin" in pending:
                    self.origins.setdefault(id(o), pending["origin"])
        objects, scene = self.objects, self.scene
        colors_for_plural(objects)  # first: "three circles: red moving up, white ..." are no loose adjectives
        respectively(items, objects)  # before the loose colours are dropped: "..., coloured red and blue respectively"
        scene.unknown_words.extend(drop_words_read_as_objects(objects, self.loose, self.spoken_of))
        for o in objects[self.shared_from or 0:] if self.shared and self.shared_from is not None else ():
            for k, v in self.shared.items():
                if getattr(o, k) is None:
                    setattr(o, k, v)
        if self.explicit_count is None:
            objects = merge_restated(objects, self.batch_of)
        else:
            objects = fold_into_count(objects, self.explicit_count)
        for o in objects:
            if id(o) in self.origins:
                o.motion = heading_between(self.origins[id(o)], o.motion) if o.motion else self.origins[id(o)]
        scene.objects = objects
        scene.count = self.explicit_count if self.explicit_count is not None else (len(objects) or None)
        return scene
