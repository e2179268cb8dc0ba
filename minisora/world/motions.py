"""How motion words combine into one object's motion, after the parser has matched them.

- `merge_motion(stated, more)`: "rising to the right" is a diagonal, "dropping downward" one heading;
- `from_to(items, j)`: "top-left corner to bottom-right corner", "from right edge to left edge": the
  first motion named the start, the second is the heading;
- `plural_subject(items, j, at_break)`: "a blue triangle and a green circle bounce", "a red dot and a blue
  square drifting right": the verb is both's;
- `heading_between(origin, motion)`: "starting at the top right, moving to the top left" goes left.
"""

from __future__ import annotations

from minisora.world import vocabulary as V


def merge_motion(stated: str | None, more: str) -> str | None:
    """One object's motion from two motion words: "rising to the right" and "falling toward the lower
    right" are diagonals (a vertical heading and a horizontal one, or a diagonal that keeps the
    vertical); otherwise the first word stands ("dropping downward")."""
    if stated is None or stated == more:
        return more
    vertical, horizontal = ("up", "down"), ("left", "right")
    if stated in vertical and more in horizontal:
        return f"{stated}-{more}"
    if stated in horizontal and more in vertical:
        return f"{more}-{stated}"
    if stated in vertical + horizontal and more in V.DIRECTIONAL_MOTIONS and stated in more.split("-"):
        return more
    return stated


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


def plural_subject(items: list[tuple[str, object, str]], j: int, at_break: list[bool]) -> bool:
    """Motion item j is said by a plural verb or a participle right after a noun phrase that "and"
    joins to another noun: "a blue triangle and a green circle bounce", "a white pyramid and a blue
    pyramid moving down to the right", "a red dot, a blue dot and a green dot drifting slowly up".
    Every outside writer who typed the participle form meant all the objects (sets h, i and n of
    bench/data), so the world's own prompts never leave out a motion before another object's
    (`world.captions.write_prompt`). Not after a place ("a white disc in the middle and a red ball
    bouncing"): the first object was given its own description; nor after a comma ("a red dot, and a
    blue square drifting right")."""
    k = j - 1
    while k >= 0 and (items[k][0] in ("verb", "speed") or items[k][2] in ("are", "were") or items[k][2] in PLURAL_VERBS):
        # "... drifting slowly up", "... are falling", "... stay still"
        k -= 1
    verb = items[k + 1][2] if k + 1 < j else items[j][2].split()[0]
    if (verb not in PLURAL_VERBS and verb not in ("are", "were") and not verb.endswith("ing")) or k < 0 or \
            items[k][0] != "shape":
        return False
    while k > 0 and items[k - 1][0] in ("color", "size"):  # the noun, then back to its phrase's first word
        k -= 1
    if k > 0 and (items[k - 1][0] == "article" or items[k - 1][2] == "the"):  # the phrase's own article, once
        k -= 1
    return k > 1 and items[k - 1][2] == "and" and items[k - 2][0] == "shape" and not at_break[k - 2]


def heading_between(origin: str, motion: str) -> str:
    """The heading from a corner to a corner: an object that starts in one corner (`origin`, the heading
    that start implies: "in the top right" -> "down-left") and is sent to another (`motion`, a diagonal:
    "to the top left" -> "up-left") moves from the one to the other ("left"). Other pairs keep `motion`
    ("in the top right corner, moving down" goes down)."""
    a, b = V.MOTIONS.get(origin), V.MOTIONS.get(motion)
    if a is None or b is None or 0.0 in a or 0.0 in b or origin in ("bouncing", "still") or \
            motion in ("bouncing", "still"):
        return motion
    x, y = round(a[0] + b[0], 6), round(a[1] + b[1], 6)  # destination - start, both corners
    if x == 0 and y == 0:
        return motion
    horizontal = "" if x == 0 else "right" if x > 0 else "left"
    vertical = "" if y == 0 else "down" if y > 0 else "up"
    return "-".join(p for p in (vertical, horizontal) if p)
