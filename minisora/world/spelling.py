"""Two word-level rules of the prompt normaliser that need no table of their own: typos, and
number compounds.

Typos. A word the parser and the tables do not know, and that is no English word (WordNet does not
list it), is read as a misspelling of the known word it is nearest to by optimal string alignment
distance (insertions, deletions, substitutions and swaps of two neighbouring letters each count one
edit): "cirlce" -> "circle", "gren" -> "green", "rihgt" -> "right". Short words are risky (every
three-letter word is one edit from many others), so words of 4 to 6 letters may be one edit away,
longer ones two. Of several nearest candidates, those keeping the most of the word's letters in order
win (a dropped letter is the commonest slip); if they still differ in meaning the word is left alone
(and reported). A word of 3 to 5 letters with no such neighbour (or only neighbours with another first letter) may be
a fast typist's shortening of one of the world's own words, vowels dropped or the end cut off ("grn", "wht", "ylw", "dwn", "blk", "purp"; `abbreviation_gap`), when it
shortens one known meaning only.

Number compounds. "five-pointed", "three-sided", "two-tone", "one-eyed" (the grammar's tokenizer
keeps them one word): their number counts points, sides or eyes, never objects. Sides and points
name a shape where the world has one ("three-sided" is a triangle, "four-sided" a square,
"five-pointed" a star); any other compound says nothing the world can show and is reported.
"""

from __future__ import annotations

from typing import Callable, Iterable

from minisora.world.phrases import POINT_WORDS, SIDE_WORDS, number_compound



def compound_shape(word: str) -> str | None:
    """The shape a number compound names ("three-sided" -> "triangle", "five-pointed" -> "star"), or
    None (no number compound, or one naming no shape of the world: "two-tone", "six-sided")."""
    hit = number_compound(word)
    if hit is None:
        return None
    n, rest = hit
    if rest in SIDE_WORDS:
        return {3: "triangle", 4: "square"}.get(n)
    if rest in POINT_WORDS:
        return "triangle" if n == 3 else "star" if n >= 4 else None
    return None


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance between a and b (a swap of neighbours is one edit); any
    value above `limit` is returned as limit + 1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return min(prev[-1], limit + 1)


def common_letters(a: str, b: str) -> int:
    """Length of the longest common subsequence of a and b."""
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0]
        for j, cb in enumerate(b):
            cur.append(prev[j] + 1 if ca == cb else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def skeleton(word: str) -> str:
    """The first letter and the consonants after it, doubled letters once: "yellow" -> "ylw"."""
    out = word[:1]
    for c in word[1:]:
        if c not in "aeiou" and c != out[-1]:
            out += c
    return out


def abbreviation_gap(short: str, word: str) -> int | None:
    """How many of `word`'s consonants `short` leaves out when it is how people shorten `word` when
    typing fast, else None: its vowels dropped ("grn", "wht", "ylw", "dwn", "blu": 0), a consonant
    cluster thinned too ("blk", "brn": 1), or its first letters ("purp": 0). Shorter than the word, with
    the same first letter and its letters in the word's order."""
    if len(short) >= len(word) or short[0] != word[0] or common_letters(short, word) != len(short):
        return None
    if len(short) >= 4 and word.startswith(short):
        return 0
    gap = len(skeleton(word)) - len(skeleton(short))
    return gap if gap <= 1 and common_letters(skeleton(short), skeleton(word)) == len(skeleton(short)) else None


def allowed_edits(word: str) -> int:
    """How many edits a misspelling of this length may be from its word (see the module docstring)."""
    return 0 if len(word) < 4 else 1 if len(word) < 7 else 2


class Speller:
    """Corrects misspellings onto `known` words. meaning(word) says what a known word stands for (two
    candidates with one meaning are no ambiguity: "grey"/"gray"); is_english(word) says whether a word
    is a real word (then it is no misspelling), None when no dictionary is at hand."""

    def __init__(self, known: Iterable[str], meaning: Callable[[str], object],
                 is_english: Callable[[str], bool] | None = None, shortened: Iterable[str] = (),
                 preferred: Iterable[str] = ()):
        self.known = sorted({w for w in known if len(w) >= 3 and w.isalpha()})
        self.shortened = sorted({w for w in shortened if w.isalpha()})  # the words fast typists shorten
        self.meaning = meaning
        self.preferred = frozenset(preferred)  # the world's own words, the likeliest targets of a typo
        self.is_english = is_english
        self._memo: dict[str, str | None] = {}

    def correct(self, word: str) -> str | None:
        """The known word `word` is a misspelling of, or None."""
        if word in self._memo:
            return self._memo[word]
        limit = allowed_edits(word)
        best: list[str] = []
        best_d = limit + 1
        if limit and word.isalpha() and not (self.is_english and self.is_english(word)):
            for cand in self.known:
                d = edit_distance(word, cand, min(limit, best_d))
                if d < best_d:
                    best, best_d = [cand], d
                elif d == best_d and d <= limit:
                    best.append(cand)
        if not limit and len(word) == 3 and word.isalpha() and not (self.is_english and self.is_english(word)):
            # too short for an edit, but two neighbouring letters swapped keep every letter: "rde" is "red"
            best = [c for c in self.known if len(c) == 3 and c != word and sorted(c) == sorted(word)
                    and sum(a != b for a, b in zip(c, word)) == 2 and any(
                        word[k] == c[k + 1] and word[k + 1] == c[k] for k in range(2))]
        if len(best) > 1:  # a dropped letter is the commonest slip: "gren" is "green" before "grey"
            most = max(common_letters(word, c) for c in best)
            best = [c for c in best if common_letters(word, c) == most]
        if len(best) > 1:  # two letters swapped before one dropped: "shapse" is "shapes", not "shape"
            best = [c for c in best if sorted(c) == sorted(word)] or best
        if len(best) > 1 and best_d == 1 and len(word) >= 5:
            # a prompt to this model names its world: "grean" is "green", not "great" (short words, whose
            # one-edit neighbours are many, stay ambiguous: "stor" is no more "star" than "stop")
            best = [c for c in best if c in self.preferred] or best
        if all(c[0] != word[0] for c in best) and 3 <= len(word) <= 5 and word.isalpha() and \
                not (self.is_english and self.is_english(word)):
            # a shortening keeps the first letter, which typos rarely change: "orng" is "orange", not "trng"
            gaps = {c: abbreviation_gap(word, c) for c in self.shortened}
            least = min((g for g in gaps.values() if g is not None), default=None)
            best = [c for c, g in gaps.items() if g is not None and g == least] or best
        meanings = {repr(self.meaning(c)) for c in best}
        hit = best[0] if best and len(meanings) == 1 else None
        self._memo[word] = hit
        return hit
