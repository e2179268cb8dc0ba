"""Idioms that use the world's words in other senses: "back to square one", "the star of the show",
"once in a blue moon", "up to you", "down to earth", "left over from last time", "#4", "a quick question",
"I still want". Read word by word, each names a shape, a colour, a heading, a size or a speed the
prompt never asked for; `IDIOMS` removes them before the words are split (`phrases.tokenize`). Only
phrases whose idiomatic sense is the usual one are listed: "green light" or "a red flag" may be a thing
the user wants drawn, and stay.
"""

from __future__ import annotations

import re

_PHRASES = (
    r"back to square one", r"square one", r"star of the show", r"star player", r"rock ?star",
    r"once in a blue moon", r"out of the blue", r"feel(?:ing|s)? blue", r"up to (?:you|me|them)",
    r"what(?:'s| is) up", r"down to earth", r"down the (?:line|road)", r"let (?:me|you|us) down",
    r"bounce (?:an |some |a few )?ideas? off(?: of)?(?: you| me)?", r"left ?overs? from", r"leftovers?",
    r"(?:a )?(?:quick|small|big|tiny|little) (?:question|favou?r|note|request|thanks|thank you|fan|deal|ask|test|check|demo|sketch|preview|look|update|reminder)",
    r"real quick", r"(?:^|(?<=, )|(?<=\bhey )|(?<=\bhi ))quick one", r"block(?:s|ing|ed)? out", r"unlike (?:the |that )?(?:\w+ )?(?:one|\w+)(?=,)", r"title card", r"animatic", r"storyboard(?: panel)?(?: \d+)?", r"panel \d+", r"cheer (?:me |you |us |them )?up", r"orange juice", r"take \d+", r"attempt \d+", r"round \d+",
    r"(?:listed |ordered |sorted |ranked )?(?:from )?(?:biggest|largest|smallest|fastest|slowest) to "
    r"(?:smallest|biggest|largest|slowest|fastest)", r"power[- ]?ups?",
    r"(?:to )?(?:make|take|do) (?:a|the same|one) (?:trip|journey|voyage|ride)(?: too)?",
    r"set(?:s|ting)? up(?= (?:a|an|the|my|our)\b)",
    r"make it (?:one|two|three|\d) (?:instead of|not) (?:two|three|four|five|\d)",
    r"(?:in )?(?:a |their own |its own )?different (?:ways?|directions?)", r"(?:their|its) own ways?",
)
IDIOMS = re.compile(r"\b(?:" + "|".join(_PHRASES) + r")\b|(?<=\bi )still(?= (?:want|need|like|prefer|think|hope|wish))"
                    r"|#\d{1,2}\b")
