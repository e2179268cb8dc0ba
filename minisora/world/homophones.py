"""Dictation's homophones: words a speech-to-text engine wrote for the one the user said.

"a read circle moving to the write", "to stars, one blew", "behind a brown poll": each is a real
English word, so spelling correction never touches it, and read literally the prompt loses its colour,
heading or count. Each is replaced only where the word it stands for fits and the written word does
not: a colour right before a noun or after an article ("read triangle", "one read"), a heading after a
verb, a direction or "the" ("moving write", "up write", "to the write"), a count before a plural
shape ("to stars", "too circles"); "know pole", "a yellow start", "won red square". "I read the brief"
and "write a caption" keep their words. "sigh an" (cyan) spans two words, so `phrases` rewrites it before
the words are split (this module imports the lexicon, which imports `phrases`).
"""

from __future__ import annotations

from minisora.world.lexicon import word_kind

_COLORS = {"read": "red", "blew": "blue", "sian": "cyan", "scion": "cyan"}
_NOUNS = {"poll": "pole", "polls": "poles"}
_BEFORE_COLOR = ("a", "an", "one", "the", "and", "is", "are", "in", "make", "made", "colour", "color")
_BEFORE_HEADING = ("the", "to", "up", "down", "and", "towards", "toward")


def homophone(words: list[str], i: int) -> str | None:
    """The word dictation meant by words[i], or None when words[i] is meant as written."""
    w = words[i]
    before = words[i - 1] if i else ""
    after = words[i + 1] if i + 1 < len(words) else ""
    if w in _NOUNS:
        return _NOUNS[w]
    if w in _COLORS and (word_kind(after) in ("shape", "noun") or before in _BEFORE_COLOR):
        return _COLORS[w]
    if w == "too" and after == "the":
        return "to"  # "moving up and too the left"
    if w == "know" and after in ("pole", "poll", "bar", "pillar", "post", "occluder", "background"):
        return "no"  # "know pole"
    if w == "start" and word_kind(before) in ("color", "size"):
        return "star"  # "a yellow start standing still"
    if w == "won" and word_kind(after) in ("color", "size", "shape"):
        return "one"  # "won red square"
    if w == "write" and (before in _BEFORE_HEADING or word_kind(before) in ("verb", "motion")):
        return "right"
    if w in ("to", "too") and (i == 0 or word_kind(before) not in ("verb", "motion")) and after.endswith("s") and \
            word_kind(after) in ("shape", "noun"):
        return "two"
    return None
