"""How a prompt's lists are handed to its objects, after the parser has read them.

- `from_to(items, j)`: "top-left corner to bottom-right corner", "from right edge to left edge": the
  first motion named the start, the second is the heading;
- `respectively(items, objects)`: "a circle and a square moving right and left respectively", and
  "..., coloured blue and orange respectively";
- `colors_for_plural(objects)`: "three squares: a red, a green and a blue";
- `plural_subject(items, j)`: "a blue triangle and a green circle bounce": the verb is both's;
- `merge_restated(objects, batch_of)`: "a square has four sides. Here is a large white square", "Bug:
  orange square moving down-right renders wrong. Please generate orange square, down-right": one
  object described twice.
"""

from __future__ import annotations

from minisora.world import vocabulary as V
from minisora.world.scene import ParsedObject


def from_to(items: list[tuple[str, object, str]], j: int) -> bool:
    """Item j is a motion reached by "to" from the opposite one: "left edge to right edge"."""
    k, saw_to = j - 1, False
    while k >= 0 and (items[k][0] == "verb" or items[k][0] == "filler" and items[k][2] in (
            "to", "the", "edge", "side", "corner", "edges", "sides")):  # "from left go to right" too
        saw_to, k = saw_to or items[k][2] == "to", k - 1
    if not saw_to or k < 0 or items[k][0] != "motion":
        return False
    a, b = V.MOTIONS.get(items[k][1]), V.MOTIONS.get(items[j][1])
    return a is not None and b is not None and a[0] == -b[0] and a[1] == -b[1] and a != (0.0, 0.0)


# A verb's plural form, which tells that its subject is the objects joined by "and" before it.
PLURAL_VERBS = frozenset("""move go glide slide drift travel fly float rise fall sink climb head race zoom run roll
bounce hop bob descend ascend rush dart creep crawl stay sit remain""".split())


def plural_subject(items: list[tuple[str, object, str]], j: int) -> bool:
    """Motion item j is said by a plural verb right after a noun phrase that "and" joins to another:
    "a blue triangle and a green circle bounce", "... and a green circle move left"."""
    before_verb = j - 1 if j and items[j - 1][0] == "verb" else j
    verb = items[j - 1][2] if before_verb < j else items[j][2].split()[0]
    k = before_verb - 1  # the noun, then back to its phrase's first word
    if verb not in PLURAL_VERBS or k < 0 or items[k][0] != "shape":
        return False
    while k > 0 and items[k - 1][0] in ("color", "size", "article"):
        k -= 1
    return k > 0 and items[k - 1][2] == "and"


def respectively(items: list[tuple[str, object, str]], objects: list[ParsedObject]) -> None:
    """"a circle and a square moving right and left respectively": the motions (or colours) listed
    right before "respectively" go to the objects in order, when there are as many as objects. Listed
    colours first read as objects of their own ("coloured blue and orange"); those are taken back."""
    at = [j for j, (_, _, surface) in enumerate(items) if surface == "respectively"]
    if not at or len(objects) < 2:
        return
    j, motions, colors = at[0] - 1, [], []
    while j >= 0 and items[j][0] in ("motion", "color", "speed", "filler", "verb", "unknown"):
        if items[j][0] == "motion":
            motions.insert(0, items[j][1])
        elif items[j][0] == "color":
            colors.insert(0, items[j][1])
        j -= 1
    if motions and len(motions) == len(objects):
        for o, m in zip(objects, motions):
            o.motion = m
    named = [o for o in objects if o.shape is not None]
    stray = [o for o in objects if o.shape is None]
    if colors and len(named) == len(colors) and all(o.color in colors and o.size is None for o in stray):
        for o in stray:
            if o.motion is not None:  # "..., red and blue respectively, moving up": the motion is everyone's
                for m in named:
                    m.motion = m.motion or o.motion
        objects[:] = named
        for o, c in zip(named, colors):
            o.color = c


def colors_for_plural(objects: list[ParsedObject]) -> None:
    """"three squares: a red, a green and a blue": objects of a colour alone, right after as many
    uncoloured objects of one shape, are those objects' colours."""
    for start in range(len(objects)):
        group = [o for o in objects[start:] if o.shape is not None and o.color is None]
        n = len(group)
        rest = objects[start + n:start + 2 * n]
        if n > 1 and objects[start:start + n] == group and len({o.shape for o in group}) == 1 and len(rest) == n \
                and all(o.shape is None and o.color is not None and o.size is None for o in rest):
            for o, c in zip(group, rest):
                o.color = c.color
                o.motion = o.motion or c.motion
                o.speed = o.speed or c.speed
            del objects[start + n:start + 2 * n]
            return


def merge_restated(objects: list[ParsedObject], batch_of: dict[int, int]) -> list[ParsedObject]:
    """Objects described twice are one: a later object with the same shape (or none, both times) whose
    every stated attribute agrees with an earlier one's restates it, and its attributes join the
    earlier one's. Objects made together ("three squares", "two circles, one red and one blue") are
    never merged: `batch_of` maps id(object) to the phrase that made it. The caller skips this when the
    prompt states a count."""
    kept: list[ParsedObject] = []
    for o in objects:
        same = next((k for k in kept if k.shape == o.shape and batch_of.get(id(k)) != batch_of.get(id(o))
                     and all(getattr(k, f) is None or getattr(o, f) is None or getattr(k, f) == getattr(o, f)
                             for f in ParsedObject.FIELDS)), None)
        if same is None:
            kept.append(o)
            continue
        for f in ParsedObject.FIELDS:
            if getattr(same, f) is None:
                setattr(same, f, getattr(o, f))
    return kept
