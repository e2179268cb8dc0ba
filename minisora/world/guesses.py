"""Guesses stay guesses: a word mapped by search (the WordNet thesaurus, MiniLM neighbours, the colour
dictionaries) rather than by table is weaker evidence than the words the prompt states, so a reading
in which a guess contradicts them is replaced by the reading without it.

- `agrees(parsed)`: as many objects as the prompt counts, and no more than the world holds;
- `opened_by_guess`: a guess opened an object the prompt's own nouns do not name;
- `said_without_guess`: a guess bent or replaced a heading, speed, size or background the prompt states.

Both read the prompt again through `WordMapper.normalize_with`, with the guessed words reported
instead, and only at the first level (a withdrawal's own reading is not searched again).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from minisora.world import vocabulary as V
from minisora.world.lexicon import TERM_CATEGORY
from minisora.world.scene import ParsedScene

if TYPE_CHECKING:
    from minisora.world.normalize import Normalized, WordMapper, WordMapping

# Mappings found by search rather than by table: the ones withdrawn when they contradict the prompt.
GUESSES = ("thesaurus", "embedding", "typo")


def agrees(parsed: ParsedScene) -> bool:
    """The prompt agrees with itself: as many objects as it counts, and no more than the world holds."""
    return len(parsed.objects) <= V.MAX_OBJECTS and len(parsed.objects) == parsed.count


def opened_by_guess(mapper: "WordMapper", prompt: str, words: list[str], unknown: set[str], rejected: set[str],
                    mapped: list[WordMapping], parsed: ParsedScene) -> Normalized | None:
    """The prompt read without the guess that opened an object its own words do not: "Squash and
    stretch test - orange ball" (squash -> orange, stretch -> large: an orange, large object
    before the ball), "MVP test: one blue square" (MVP -> star). The prompt read with no guess
    at all tells how many objects its words name; the weakest guess whose withdrawal comes
    closer to that, keeping those objects and agreeing with any count the prompt states, is
    reported instead. Only at the first level: a withdrawal's own reading is not searched again."""
    # colour names count here: a dictionary colour is a guess about a noun ("squash") as well
    order = ("embedding", "thesaurus", "color name", "typo")
    guessed = [m for m in mapped if m.how in order and " " not in m.word]
    if rejected or not guessed:
        return None
    plain = mapper.normalize_with(prompt, words, unknown, {m.word for m in guessed}).parsed
    if not 1 <= len(plain.objects) < len(parsed.objects):
        return None

    def keeps(objects: list) -> bool:
        return all(named_in(p, objects) for p in plain.objects)

    for m in sorted(guessed, key=lambda m: (order.index(m.how), m.score)):
        trial = mapper.normalize_with(prompt, words, unknown, {m.word})
        # a typo is the user's own word: "a yelow circle" is a circle, even if a bare one merges away,
        # and "red trianlge" a triangle (a misspelt noun is a noun), so only shapeless objects may go
        if len(trial.parsed.objects) < len(parsed.objects) and agrees(trial.parsed) and keeps(trial.parsed.objects) \
                and (m.how != "typo" or nounless_gone(parsed.objects, trial.parsed.objects, set())):
            return trial
    return None


def nounless_gone(before: list, after: list, guessed_terms: set[str]) -> bool:
    """Only objects without a noun of their own are gone from `before` to `after` (their shape, if
    any, was itself a guess): "a bantam ruby triangle", "a yelow circle" name a triangle and a
    circle whatever their guessed colour or size."""
    return all(o.shape is None or o.shape in guessed_terms for o in before if not named_in(o, after))


def named_in(obj, objects: list) -> bool:
    """An object of the same shape and colour is among `objects` (how two readings are compared)."""
    return any(obj.shape == o.shape and obj.color == o.color for o in objects)


def said_without_guess(mapper: "WordMapper", prompt: str, words: list[str], unknown: set[str], rejected: set[str],
                       mapped: list[WordMapping], parsed: ParsedScene) -> Normalized | None:
    """The prompt read without its guessed headings, speeds, sizes or backgrounds when its table
    words already state each of them: a guess never overrides or bends what the prompt says. In
    "charging to the left" (charging -> down), "cuts left" (cuts -> down), "moving right so that
    I can verify horizontal motion" (horizontal -> down) a guessed heading would turn the stated
    one into a diagonal; in "Navy background tonight" (tonight -> black) a guessed background
    would replace the stated one. Only at the first level, like `opened_by_guess`."""
    if rejected:
        return None
    for category in ("motion", "speed", "size", "background"):
        # a typo is the user's word; a guess joined to a stated heading by "and" ("plummeting and to the
        # right") was meant to combine with it
        joined = {w for i, w in enumerate(words[:-1]) if words[i + 1] == "and"}
        weak = {m.word for m in mapped if m.how in ("thesaurus", "embedding", "color name")
                and " " not in m.word and TERM_CATEGORY.get(m.term) == category and m.word not in joined}
        if not weak:
            continue
        trial = mapper.normalize_with(prompt, words, unknown, weak)
        before, after = parsed.objects, trial.parsed.objects
        same_objects = [(o.color, o.shape) for o in before] == [(o.color, o.shape) for o in after]
        key = "motion" if category == "motion" else category
        if category == "background":
            stated = trial.parsed.background is not None or parsed.background is None
        else:
            stated = all(getattr(a, key) is not None or getattr(b, key) is None for b, a in zip(before, after))
        if same_objects and stated and trial.parsed != parsed:
            return trial
    return None


def made_of_guesses(mapper: "WordMapper", prompt: str, words: list[str], unknown: set[str],
                    result: Normalized) -> Normalized:
    """The final reading without the objects that guesses alone made: "a rainy Sunday afternoon, a
    cup of tea going cold ... just a single large orange circle" (rainy -> white, cold -> still: a
    white, still object beside the circle). One withdrawal cannot remove such an object, so the
    guesses are withdrawn weakest first until the objects are the ones the prompt's own words name
    (its reading with no guess at all). Run once, on the final reading, on top of what it withdrew."""
    order = ("embedding", "thesaurus", "color name")  # a typo is the user's own word
    guessed = sorted((m for m in result.mapped if m.how in order and " " not in m.word),
                     key=lambda m: (order.index(m.how), m.score))
    if len(guessed) < 2:
        return result
    withdrawn = set(result.unmapped) & unknown
    plain = mapper.normalize_with(prompt, words, unknown, withdrawn | {m.word for m in guessed}).parsed
    if not 1 <= len(plain.objects) < len(result.parsed.objects):
        return result
    for k in range(2, len(guessed) + 1):
        trial = mapper.normalize_with(prompt, words, unknown, withdrawn | {m.word for m in guessed[:k]})
        objects = trial.parsed.objects
        if len(objects) == len(plain.objects) and agrees(trial.parsed) and \
                nounless_gone(result.parsed.objects, objects, {m.term for m in guessed[:k]}) and \
                all(named_in(p, objects) for p in plain.objects):
            return trial
    return result
