"""Words whose role in a prompt is not their dictionary meaning, found from their neighbours: the words of
a simile ("quick as a fox", "like a rubber ball"), which describe an object and never name one, and lone
letters typed for words ("red n blue" is "and"; "red square N," points north). `normalize.py` asks
both before it maps a word.
"""

from __future__ import annotations

from minisora.world.lexicon import CURATED, TERM_CATEGORY, word_kind


def simile_positions(words: list[str], breaks: set[int]) -> set[int]:
    """Positions of similes: "like a rubber ball", "quick as a fox", "slow as an autumn afternoon",
    from "like"/"as" to the clause's end, when an attribute or motion word comes right before
    ("as a red circle passes, ..." and "I'd like a red circle" are no comparisons)."""
    out: set[int] = set()
    for i, w in enumerate(words[:-1]):
        if w not in ("like", "as") or words[i + 1] not in ("a", "an", "the") or i == 0 or i - 1 in breaks:
            continue
        prev = words[i - 1]
        kind = word_kind(prev) if prev not in CURATED else TERM_CATEGORY.get(CURATED[prev], "verb")
        if kind not in ("speed", "size", "color", "motion", "verb") and not (w == "like" and kind == "bgnoun"):
            continue  # "can u do like a yellow ball": "like" is no comparison here ("navy background
            # like the ocean" is)
        clause = words[i + 2:i + 5]
        if w == "as" and any(word_kind(x) == "shape" for x in clause) and \
                any(word_kind(x) in ("color", "size") for x in clause):
            continue  # "a blue block sinking as an amber triangle bounces": "as" is "while" here
        k = i
        while k < min(len(words), i + 6):  # "like a rocket on pure black": to the clause's end,
            if k > i + 1 and words[k] in ("and", "while", "with", "but"):  # at most six words
                break
            out.add(k)
            if k in breaks:
                break
            k += 1
    return out

def single_letter(words: list[str], i: int, breaks: set[int]) -> str | None:
    """A lone letter users type for a word: "n" between two attributes is "and" ("red n blue",
    "a dot n a square"); "n", "e", "w" after a noun or a heading word, at a clause's end, are
    compass points ("red square N,"); "S" only right after a noun ("green circle S,"), since
    elsewhere it is the "'s" of "it's"."""
    w = words[i]
    if w == "s":
        at_end = i + 1 == len(words) or i in breaks
        return "down" if i and at_end and word_kind(words[i - 1]) in ("shape", "noun") else None
    if w not in ("n", "e", "w"):
        return None
    prev = word_kind(words[i - 1]) if i else "edge"
    nxt = word_kind(words[i + 1]) if i + 1 < len(words) else "edge"
    if w == "n" and prev in ("color", "shape", "noun", "size", "speed", "motion") and \
            nxt in ("color", "shape", "noun", "size", "article", "other"):
        if i not in breaks:
            return "and"
    at_end = i + 1 == len(words) or i in breaks
    heading = i and words[i - 1] in ("direction", "heading", "going", "moving", "towards", "toward", "to")
    if at_end and (prev in ("shape", "noun") or heading):
        return {"n": "up", "e": "right", "w": "left"}[w]
    return None
