"""Comparisons between objects: what one object's size or speed says about the other's.

The world has two sizes and two speeds, so a comparison between two objects states both of them:
- "a purple star larger than the cyan square": the square is small (`compared_opposites`, which
  writes the term after the compared noun, before parsing);
- "the triangle is smaller and faster", "the red one goes faster", "an orange star bigger than it",
  "the lime one is the bigger of the two": in a scene of two objects, the one the comparison does not
  name takes the other value (`settle_comparisons`, after parsing). Every outside writer who compared
  two objects annotated both (bench/data set o).
- "the yellow one trails behind", "the red one speeds ahead": relative speeds, settled the same way.
- "a white circle moving the opposite way", "in the opposite direction": in a scene of two objects,
  the one without a heading takes the reverse of the other's ("a crimson orb follows it" the same);
  "at the same lazy pace" gives both the speed said.
- Degrees and multiples are comparatives too: "a bit quicker", "much bigger", "twice as big", "half
  its size" (`DEGREE` and `MULTIPLE`, rewritten before the words are split).
"""

from __future__ import annotations

import re

from minisora.world import vocabulary as V
from minisora.world.scene import ParsedScene

# "X larger than Y": Y is the other size (or speed), unless the prompt gives Y one of its own.
COMPARATIVES = {"larger": "large", "bigger": "large", "greater": "large", "smaller": "small", "tinier": "small",
                 "faster": "fast", "quicker": "fast", "speedier": "fast", "slower": "slow"}
_OPPOSITE = {"large": "small", "small": "large", "fast": "slow", "slow": "fast"}
# "..., and so does a blue square", "a blue square does the same": the other object moves the same way
# ("the same way" is read before, as "together": `rewrites._SIDE_BY_SIDE`)
_SAME = re.compile(r"\b(?:so\s+does|so\s+do|does\s+the\s+same|do\s+the\s+same|does\s+too|does\s+likewise|"
                   r"follows\s+suit)\b")
_WORD_CATEGORY = {w: ("size" if v in ("large", "small") else "speed") for w, v in COMPARATIVES.items()}


def compared_opposites(words: list[str], kind) -> dict[int, str]:
    """{position: term} for the object after "than" in a comparison: "a purple star larger than the
    cyan square" makes the square small, "the red triangle moves faster than the blue star" makes the
    star slow. The term goes right after the compared object's noun (a speed before "the blue star"
    would read as a reference's), at the position of the word that follows it; nothing is added when
    the object states its own size or speed. kind(word) is `lexicon.word_kind`."""
    out: dict[int, str] = {}
    for i, w in enumerate(words[:-2]):
        if w in COMPARATIVES and words[i + 1] == "than":
            k = i + 2
            while k < len(words) and words[k] in ("a", "an", "the", "one"):
                k += 1
            category = "size" if COMPARATIVES[w] in ("large", "small") else "speed"
            named = [kind(x) for x in words[k:k + 3]]
            nouns = [j for j, x in enumerate(named) if x in ("shape", "noun")]
            if nouns and category not in named:
                out[k + nouns[0] + 1] = _OPPOSITE[COMPARATIVES[w]]  # after its noun: "the blue star slow"
    return out


# "a bit quicker", "much bigger", "way faster": the degree says nothing the world can draw, and "a" of
# "a bit" would open a noun phrase
DEGREE = re.compile(r"\b(?:a\s+(?:bit|little|lot|tad)|much|way|slightly|far|even|lots)\s+(?=(?:" +
                    "|".join(COMPARATIVES) + r")\b)")
# "twice as big (as)", "two times the size", "half its size", "half as fast": a comparative
MULTIPLE = re.compile(r"\b(twice|two times|double|three times|half)\s+(?:as\s+(big|large|fast|quick)(\s+as\b)?|"
                      r"(?:its|the|of its|their|his|her)\s+size)\b")


# "the bigger of the two", "the slower of the pair": the count is the comparison's, not the scene's
OF_THE_TWO = re.compile(r"\b(" + "|".join(COMPARATIVES) + r")\s+of\s+the\s+(?:two|2|pair)\b")
# "The smaller of two stars is purple": the two stars are named here, and the comparative names one of
# them; only opening a sentence ("a green star, the smaller of the two sizes you have" names no stars)
OF_TWO_NOUNS = re.compile(r"(?:^|(?<=[.;:!?]\s))\s*(?:the\s+)?(" + "|".join(COMPARATIVES) + r")\s+of\s+(?:the\s+)?(?:two|2)\s+([a-z]+s)\b")


def compared_referent(objects: list, word: str):
    """The object "the smaller (one)", "the faster" names in a scene of two: the one that has the
    comparative's value, else the one that does not have its opposite (the first, when neither has
    either). None outside a scene of two. The caller gives it the value."""
    if len(objects) != 2:
        return None
    value = COMPARATIVES[word]
    category = _WORD_CATEGORY[word]
    having = [o for o in objects if getattr(o, category) == value]
    if len(having) == 1:
        return having[0]
    free = [o for o in objects if getattr(o, category) is None]
    return free[0] if free and not having else None


def multiple_as_comparative(m: re.Match) -> str:
    """The comparative a multiple states: "twice as big as" -> "bigger than", "half its size" -> "smaller"."""
    speed = m.group(2) in ("fast", "quick")
    more = m.group(1) != "half"
    word = ("faster" if more else "slower") if speed else ("bigger" if more else "smaller")
    return word + (" than" if m.group(3) else "")


# Verbs of going after the other object: the follower heads the same way
_FOLLOWS = frozenset("follows follow following followed chases chase chasing chased tails tailing".split())
# Speeds said relative to the other object: "the yellow one trails behind", "the red one speeds ahead"
_RELATIVE_SPEED = ("lags behind", "lagging behind", "trails behind", "trailing behind", "falls behind", "speeds ahead",
                   "races ahead", "pulls ahead")


def reversed_motion(motion: str) -> str | None:
    dx, dy = V.MOTIONS[motion]
    return next((m for m in V.DIRECTIONAL_MOTIONS if V.MOTIONS[m] == (-dx, -dy)), None)


def settle_comparisons(words: list[str], scene: ParsedScene) -> set[str]:
    """In a scene of two objects, a size (speed) said by a comparative of one object alone makes the
    other the opposite size (speed), and "the opposite way" reverses the other's heading. `words` are
    the prompt's tokens (`phrases.tokenize`). Returns the words read so ("opposite", "follows"), which
    are understood, not unmapped."""
    if len(scene.objects) != 2:
        return set()
    first, second = scene.objects
    said = " ".join(words)
    opposite = any(w == "opposite" and words[i + 1:i + 2] in (["way"], ["direction"], ["directions"], ["ways"]) or
                   w == "other" and words[i + 1:i + 2] in (["way"], ["direction"]) and words[i - 1:i] == ["the"]
                   for i, w in enumerate(words))
    same_pace = re.search(r"\bsame\s+(?:\w+\s+)?(?:pace|speed)\b", said)  # "at the same lazy pace"
    paced = {o.speed for o in scene.objects if o.speed is not None}
    if same_pace and len(paced) == 1:
        for o in scene.objects:
            o.speed = next(iter(paced))
    moving = [o for o in scene.objects if o.motion in V.DIRECTIONAL_MOTIONS]
    understood: set[str] = set()
    if opposite and len(moving) == 1 and (first.motion is None or second.motion is None):
        understood = {"opposite"}
        other = second if moving[0] is first else first
        other.motion = reversed_motion(moving[0].motion)
    elif _FOLLOWS & set(words) and len(moving) == 1 and (first.motion is None or second.motion is None):
        (second if moving[0] is first else first).motion = moving[0].motion  # "a red orb follows it slowly"
        understood = _FOLLOWS & set(words)
    elif _SAME.search(said) and (first.motion is None) != (second.motion is None):
        (second if first.motion else first).motion = (first.motion or second.motion)  # "..., and so does a blue one"
    relative_speed = any(p in said for p in _RELATIVE_SPEED)
    for category in {_WORD_CATEGORY[w] for w in words if w in _WORD_CATEGORY} | ({"speed"} if relative_speed else set()):
        stated = [o for o in scene.objects if getattr(o, category) is not None]
        if len(stated) == 1:
            other = scene.objects[1] if stated[0] is scene.objects[0] else scene.objects[0]
            setattr(other, category, _OPPOSITE[getattr(stated[0], category)])
    return understood
