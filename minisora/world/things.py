"""Colours and sizes named by things that have them: "a star the same colour as a banana", "a square
the colour of a fire truck", "a circle the colour of snow", "a triangle the size of a pea", "a star the
size of a planet".

Read word by word, the thing is one more noun, so the prompt gets an object it never asked for (a
banana read as a shape) and its own object no colour. The phrase is rewritten to the colour before
the words are split (`phrases.tokenize`). Only things whose colour or size nobody would dispute are
listed; "the sky" (blue or cyan?) and "an apple" (red or green?) are not.
"""

from __future__ import annotations

import re

THING_COLOURS: dict[str, tuple[str, ...]] = {
    "yellow": ("banana", "lemon", "sun", "sunflower", "canary", "egg yolk", "yolk", "butter", "school bus", "taxi",
               "mustard", "corn"),
    "red": ("fire truck", "fire engine", "tomato", "strawberry", "cherry", "blood", "ruby", "stop sign", "ladybug",
            "ladybird", "lipstick"),
    "green": ("grass", "lime", "leaf", "frog", "emerald", "broccoli", "cucumber", "pea", "moss", "jade", "pine tree"),
    "white": ("snow", "milk", "cloud", "chalk", "swan", "pearl", "sugar", "cotton", "ivory", "paper"),
    "orange": ("orange", "carrot", "pumpkin", "tangerine", "traffic cone", "goldfish", "mandarin"),
    "blue": ("ocean", "sea", "sapphire", "blueberry", "denim"),
    "purple": ("grape", "eggplant", "aubergine", "plum", "lavender", "amethyst"),
}
_COLOUR_OF = {thing: colour for colour, things in THING_COLOURS.items() for thing in things}
_THING = "|".join(sorted((re.escape(t).replace(r"\ ", r"\s+") for t in _COLOUR_OF), key=len, reverse=True))
_DETAIL = r"(?:an?\s+|the\s+|some\s+|fresh\s+|ripe\s+|new\s+|fallen\s+)*"
# "(in) the (same/exact) colour of/as (a ripe) banana (the fruit)"
COLOUR_OF_THING = re.compile(r"\b(?:in\s+)?(?:the\s+)?(?:same\s+|exact\s+)*colou?r\s+(?:of|as)\s+" + _DETAIL +
                             r"(" + _THING + r")(?:e?s)?\b(?:\s*\(\s*the\s+fruit\s*\))?")


def colour_of_thing(m: re.Match) -> str:
    """The colour a COLOUR_OF_THING match names."""
    return " " + _COLOUR_OF[re.sub(r"\s+", " ", m.group(1))] + " "


# Things the size of which is small or large beside a 64-pixel frame
THING_SIZES: dict[str, tuple[str, ...]] = {
    "small": ("pea", "marble", "coin", "grain", "pebble", "button", "bead", "ant", "pinhead", "crumb", "seed"),
    "large": ("planet", "house", "building", "mountain", "truck", "bus", "moon", "sun", "car", "whale", "elephant"),
}
_SIZE_OF = {thing: size for size, things in THING_SIZES.items() for thing in things}
# "(about) the size of a (grain of) pea", "pea-sized", "planet-sized"
SIZE_OF_THING = re.compile(r"\b(?:about\s+|roughly\s+)?(?:the\s+)?size\s+of\s+" + _DETAIL + r"(?:grain\s+of\s+)?(" +
                           "|".join(_SIZE_OF) + r")s?\b|\b(" + "|".join(_SIZE_OF) + r")[\s-]+sized?\b")


def size_of_thing(m: re.Match) -> str:
    """The size a SIZE_OF_THING match names."""
    return " " + _SIZE_OF[m.group(1) or m.group(2)] + " "


# Things known for their speed, in a simile: "zooms up like a rocket", "crawls left like a snail"
THING_SPEEDS: dict[str, tuple[str, ...]] = {
    "fast": ("rocket", "bullet", "shot", "flash", "lightning", "cheetah", "race car", "racecar", "jet", "comet",
             "bat out of hell", "greased lightning", "the wind", "hare", "rabbit"),
    "slow": ("snail", "turtle", "tortoise", "sloth", "glacier", "slug", "sleepy cat", "molasses", "treacle", "syrup"),
}
_SPEED_OF = {thing: speed for speed, things in THING_SPEEDS.items() for thing in things}
SPEED_OF_THING = re.compile(r"\b(?:just\s+)?like\s+(?:an?\s+|the\s+)?(?:speeding\s+|real\s+|little\s+|tiny\s+|lazy\s+)?(" +
                            "|".join(sorted((re.escape(t).replace(r"\ ", r"\s+") for t in _SPEED_OF), key=len,
                                            reverse=True)) + r")s?\b")


def speed_of_thing(m: re.Match) -> str:
    """The speed a SPEED_OF_THING match names."""
    return " " + _SPEED_OF[re.sub(r"\s+", " ", m.group(1))] + " "
