"""What surrounds item j of a matched prompt (`phrases.match`: (kind, value, surface) per phrase), for
`grammar.parse`: questions that read only the items, kept apart from the parser's running state."""

from __future__ import annotations

from minisora.world import vocabulary as V

Item = tuple[str, object, str]


def next_content(items: list[Item], j: int) -> str | None:
    """The kind of the first item after j that is not a filler, article, size or speed."""
    for kind, _, _ in items[j + 1:]:
        if kind not in ("filler", "article", "size", "speed"):
            return kind
    return None


def names_ground(items: list[Item], j: int) -> bool:
    """"on white", "against a white", "over blue": a colour after "on"/"against"/"over" that no noun,
    adjective or further colour follows names the ground the objects are on, not one more object."""
    k = j - 1
    while k >= 0 and items[k][0] == "article":
        k -= 1
    after = items[j + 1][0] if j + 1 < len(items) else None
    return k >= 0 and items[k][2] in ("on", "against", "over") and \
        after not in ("shape", "generic", "color", "bgcolor", "size", "speed")


def joined_ordinal(items: list[Item], j: int, ordinal_at: int | None) -> bool:
    """Item j is an ordinal right after "<ordinal> and (the)", the ordinal at `ordinal_at`: "the first
    and the second" name one group."""
    k = j - 1 - (j >= 1 and items[j - 1][2] == "the")
    return ordinal_at is not None and k >= 1 and items[k][2] == "and" and ordinal_at == k - 1


def occluder_denied(items: list[Item], j: int, at_break: list[bool]) -> bool:
    """The bar named at item j is refused: "no vertical bar", "without a pole", "no pole or bar",
    "occluder: none", "occluder off", "pole is not there"; but "pole, no camera move": a "no" that opens
    a clause of its own is not the bar's."""
    after = items[j + 1][2] if j + 1 < len(items) else ""
    near = [it[2] for it in items[max(0, j - 3):j] if it[0] in ("filler", "article")]
    later = [it[2] for it in items[j + 1:j + 3]]
    alone = not at_break[j] or j + 2 > len(items) - 1 or at_break[j + 1]
    return any(w in ("no", "without", "not") for w in near) or \
        (after in ("none", "false", "no", "off", "absent") and alone) or \
        (later[:1] in (["is"], ["are"]) and "not" in later)


def after_break(items: list[Item], j: int, at_break: list[bool]) -> bool:
    """Punctuation parts item j from the noun phrase before it ("..., a blue triangle, moving up")."""
    k = j - 1
    while k >= 0 and items[k][0] in ("verb", "filler", "speed", "article"):
        if items[k][2] in V.ORDINALS or items[k][2] in ("the", "it", "one"):
            return False  # "..., the first climbs": the motion has its own subject
        if at_break[k]:
            return True
        k -= 1
    return k >= 0 and at_break[k]


def ground_colour_of(items: list[Item], j: int) -> str:
    """What the background colour word at item j colours: "ground" ("bg gray", "background is black",
    "on navy"), "bar" ("behind a grey pillar": the bar, always brown here) or "object" ("a black
    circle": no object colour of the world)."""
    k = j - 1
    while k >= 0 and items[k][0] == "filler" and items[k][2] in ("is", "of", "color", "colour", "shall", "be"):
        k -= 1
    if k >= 0 and items[k][0] == "bgnoun":
        return "ground"
    if j + 1 < len(items) and items[j + 1][0] == "occluder" and items[j + 1][1]:
        return "bar"
    return "object" if next_content(items, j) in ("shape", "generic") else "ground"


def field_name(items: list[Item], j: int) -> bool:
    """Item j ("shape", "object") names a field whose value follows: "shape: circle", "object: blue
    square", "the shape is a triangle", "Object is a red star"."""
    k = j + 1
    while k < len(items) and items[k][2] in ("is", "should", "be", "will", "a", "an"):
        k += 1
    return k < len(items) and items[k][0] in ("shape", "color", "size") and \
        any(it[0] == "shape" for it in items[k:k + 3])
