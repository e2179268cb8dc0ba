"""What surrounds item j of a matched prompt (`phrases.match`: (kind, value, surface) per phrase), for
`grammar.parse`: questions that read only the items, kept apart from the parser's running state."""

from __future__ import annotations

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
