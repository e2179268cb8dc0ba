"""Phrasings rewritten before a prompt is split into words, so that the grammar reads them as it reads
their plain form: "starts left, ends right" is "from the left to the right", "the rest" is "the other",
"not big" is "small", "Moving up is a red circle" is "a red circle moving up", "kill the pole" is "no
pole". Each pattern says what it reads and why, next to it; `rewritten(text)` applies them in order
(`phrases.tokenize` calls it on lower-cased text). Patterns that `phrases._written` applies before
clause breaks are counted are exported by name: they read or change punctuation (labels, arrows, what
everything does, a list of motions); every other one keeps within a clause, so that `clause_breaks`,
which tokenizes clause by clause, counts the same words as `tokenize` does.
"""

from __future__ import annotations

import re

from minisora.world import vocabulary as V
from minisora.world.comparisons import DEGREE, MULTIPLE, OF_THE_TWO, OF_TWO_NOUNS, multiple_as_comparative
from minisora.world.film import CHILL_MUSIC
from minisora.world.idioms import IDIOMS
from minisora.world.things import (COLOUR_OF_THING, SIZE_OF_THING, SPEED_OF_THING, colour_of_thing, size_of_thing,
                                   speed_of_thing)


# Where a spec says an object starts is where it comes from: "Spawn: top-left corner", "spawn point:
# bottom edge", "starts top-left corner" (a side only with its noun: "starts right away" is no place).
_PLACE_AHEAD = r"(?=(?:top|bottom|upper|lower|centre|center|middle)\b(?!\s+speed)|(?:left|right)\s+(?:edge|side|corner|border|wall)\b)"
_START_MARKER = re.compile(r"\b(?:spawn(?:s|ed|ing)?|start(?:s|ing)?|begins?|origin)(?:\s+(?:point|position|location))?"
                           r"\s*[:=]?\s*(?:(?:at|in|on|from)\s+)?(?:the\s+)?" + _PLACE_AHEAD)
# ... and where it ends is where it goes: "ends up in the bottom right corner", "finishing at the top"
_END_MARKER = re.compile(r"\b(?:and\s+|then\s+)?(?:ends?|ending|finish(?:es|ing)?|lands?|landing|winds?\s+up|stops?)"
                         r"(?:\s+up)?\s*[:=]?\s*(?:(?:at|in|on|near|by)\s+)?(?:the\s+)?" + _PLACE_AHEAD)
# "starts left, ends right", "start top end bottom": bare sides, said as a pair
_START_END = re.compile(r"\bstart(?:s|ing)?\s+(?:(?:at|on|in)\s+)?(?:the\s+)?(left|right|top|bottom)\s*,?\s*(?:and\s+|then\s+)?"
                        r"end(?:s|ing)?\s+(?:up\s+)?(?:(?:at|on|in)\s+)?(?:the\s+)?(left|right|top|bottom)\b")
# A label saying where an object is placed ("Top one: a yellow triangle going down", "Left side: ...",
# "The bottom shape is a ..."): a place on screen the world does not keep, never a heading
PLACE_LABEL = re.compile(r"(?:^|(?<=[.;\n]))\s*(?:the\s+)?(?:top|bottom|left|right|middle|centre|center|upper|lower)"
                          r"(?:[\s-]+(?:left|right))?(?:\s+(?:one|shape|object|side|item|sprite|slot|lane))?\s*(?:(?=:)|\bis\b)", re.IGNORECASE)
# "travels right to left", "slides top to bottom": after a verb of motion, a path between two sides said
# without "from" (corners are read whole; "left to right: a red dot, ..." may be an order, and is left)
_SIDE_TO_SIDE = re.compile(r"\b((?:move|go|travel|slide|drift|glide|run|fly|cross|head|roll|zoom|race|sweep|pan)"
                           r"(?:s|es|ing|ed)?\s+)(left|right|top|bottom)\s+to\s+(?:the\s+)?(left|right|top|bottom)"
                           r"(?![\w-])(?!\s+(?:left|right|corner))")
# "the rest", "everything else", "the other two": the objects not named last ("the other" in the grammar)
_THE_REST = re.compile(r"\b(?:the\s+rest(?:\s+of\s+them)?|everything\s+else|all\s+the\s+others|"
                       r"the\s+other\s+(?:two|ones|shapes|objects))\b")
# "Everything stays still: a green circle and a yellow square": what everything does, said before the
# list, is said after it ("... . All stays still."), where the grammar gives it to every object
ALL_BEFORE_LIST = re.compile(r"(?:^|(?<=[.!?]\s))(?:everything|everyone|all(?:\s+of\s+them|\s+shapes|\s+objects)?|"
                              r"both(?:\s+of\s+them|\s+shapes)?)\s+([^:.!?\n]{1,40}?)\s*:\s*([^.!?\n]*)", re.IGNORECASE)
# A path written with an arrow between two places: "bottom-left -> top-right"
ARROW_BETWEEN = re.compile(r"(?<=[a-z])\s*(?:-+>|=+>|→|⟶)\s*(?=(?:the\s+)?(?:top|bottom|upper|lower|left|right)\b)",
                            re.IGNORECASE)
# "side by side", "in parallel", "the same way": the motion said is every object's ("moving right side by
# side", "a small square followed it in the same direction")
_SIDE_BY_SIDE = re.compile(r"\b(?:side[\s-]+by[\s-]+side|(?:in\s+|along\s+)?the\s+same\s+(?:direction|way|path|heading))\b")
# "bouncing on grey", "on pure black.": a ground colour that ends its clause is the background
_ON_GROUND = re.compile(r"\bon\s+(?:an?\s+)?(?:(?:plain|solid|pure|flat|dark|deep)\s+)?(black|gr[ae]y|navy|charcoal|slate|"
                        r"silver|midnight|jet)(?=\s*(?:$|[^\w\s]))")
# Words run together: "bluesquare", "redball" (a colour and a shape noun of the world's own words)
_JOINED = re.compile(r"\b(red|orange|yellow|green|cyan|blue|purple|white)(circle|square|triangle|star|ball|box|dot|"
                     r"block|disc)(s?)\b")
# An object refused is no object: "don't add a second shape", "no other objects", "without any extra items"
_NO_MORE_OBJECTS = re.compile(r"\b(?:not|no|never|without)\s+(?:(?:add|adding|include|including|put|show|want|need)\s+)?"
                              r"(?:an?\s+|any\s+)?(?:second|third|another|other|extra|more|additional)\s+"
                              r"(?:shapes?|objects?|things?|items?)\b")
# "right away", "right now": an adverb of time, no heading
_RIGHT_AWAY = re.compile(r"\bright\s+(?=(?:away|now|then|after|before|off the bat)\b)")
# A denied bounce or speed reads as the bare denial the parser knows ("not bouncing", "not slow"): "it
# does not bounce", "never bouncing", "no bouncing", "don't make it slow"
_DENIED = re.compile(r"\b(?:(?:not|never|no)\s+(?=bounc)|not\s+(?:make|let|have)\s+(?:it|them)\s+(?:go\s+)?(?=(?:slow|fast)\b)|"
                     r"not\s+(?:want|need|like)\s+(?:it|them)\s+to\s+(?=bounc))")  # "I don't want it to bounce"
# Literal translations of a heading: "make a trip to the down", "goes to the up"
_TO_THE_UP = re.compile(r"\b(?:to|toward|towards)\s+the\s+(up|down)\b")
# An animator's entrance and exit name the start and the end: "enters from frame right and exits left",
# "pops in bottom-left, exits top-right", "entering from the bottom edge and exiting top"
_SIDE_AHEAD = r"(?:the\s+)?(?:(?:frame|screen)\s+)?(?=(?:top|bottom|left|right|upper|lower)\b)"
_ENTERS = re.compile(r"\b(?:enter(?:s|ing|ed)?|pops?\s+in|popping\s+in|comes?\s+in|coming\s+in)\s+(?:(?:from|at)\s+)?"
                     + _SIDE_AHEAD)
_EXITS = re.compile(r"\b(?:exit(?:s|ing|ed)?|leav(?:es|ing)|goes\s+out|going\s+out)\s+(?:(?:at|through|via|to)\s+)?"
                    + _SIDE_AHEAD)
# "a red triangle in the bottom that rises": a place, as "at the bottom" is (not the heading "down")
_IN_THE_SIDE = re.compile(r"\bin\s+the\s+(bottom|top)\b(?!\s+(?:left|right|corner|edge|side))")
# Dictation's cyan: "a large sigh an circle" (other homophones need their context: `homophones.py`)
_SIGH_AN = re.compile(r"\bsigh\s+and?\b")
# Words split or joined where they should not be: "a gray back round", "screen-left to screen-right"
_BACK_ROUND = re.compile(r"\bback\s+(?:round|ground)\b")
_SCREEN_SIDE = re.compile(r"\b(?:screen|frame)[\s-]+(?=(?:left|right|top|bottom)\b)")
# A bar taken away is no bar: "kill the pole", "remove the occluder", "get rid of that pillar"
_BAR_NOUN = r"(?:" + "|".join(V.BAR_NOUNS) + r")s?"
_DENY_BAR = re.compile(r"\b(?:kill|remove|removing|drop|lose|delete|ditch|get\s+rid\s+of|take\s+out|take\s+away|"
                       r"leave\s+out|leave\s+off|omit|omitting|skip|exclude|excluding|scrap|nix|forget)\s+"
                       r"(?:the\s+|that\s+|any\s+)?(?=" + _BAR_NOUN + r"\b)|"
                       # "keep the bar thing out of it", "leave the pole out": said after the noun
                       r"\b(?:keep|leave)\s+(?:the\s+|that\s+|any\s+)?(?=" + _BAR_NOUN + r"(?:\s+thing)?\s+out\b)")
# "the circle runs right, the square stays", "the blue stands": a verb of staying that ends its clause is still
_STAYS = re.compile(r"\b(?:stays?|stands?|remains?)(?=\s*(?:[.,;!?)]|$))")
# "bouncing off all four walls": the frame's walls, not four of anything
_FOUR_WALLS = re.compile(r"\boff\s+(?:of\s+)?(?:all\s+)?(?:the\s+)?(?:four|4)\s+(walls|edges|sides)\b")
# "motions: still, bouncing (in that order)": the lists are handed out as "respectively" does
_IN_THAT_ORDER = re.compile(r"\b(?:in\s+(?:that|the\s+same|this)\s+order|same\s+order)\b")
# "moving up and down respectively": two headings handed out, not the bounce "up and down" names
_PAIR_RESPECTIVELY = re.compile(r"\b(up and down|down and up|left and right|right and left)(?=[^.;!?]*\brespectively\b)")
# "... moving left. And not red, blue.": a colour denied and another said is a correction of the colour
_NOT_THIS_COLOUR = re.compile(r"\bnot\s+(?:red|orange|yellow|green|cyan|blue|purple|white)\s*[,;:]\s*(?=(?:red|orange|yellow|"
                              r"green|cyan|blue|purple|white)\b)")
# "... and they bounce", "they are small": "they" is every object named ("all"), as "both" is
_THEY = re.compile(r"\bthey\b(?!\s+(?:both|all|each)\b)")
# A denial that ends its clause denies the motion: "the circle moves, the square doesn't."
_ELLIPTICAL_NOT = re.compile(r"\b(it|one|other|latter|former|circles?|squares?|triangles?|stars?|balls?|box(?:es)?|dots?|"
                             r"blocks?|discs?|cubes?)\s+(?:doesn[’']?t|does not|won[’']?t|will not)(?=\s*(?:[.,;!?)]|\s-|$))")
# A denied stillness says only that the object moves: "a red square that doesn't stay still - it bounces"
_NOT_STILL = re.compile(r"\b(?:not|never)\s+(?:stay|sit|stand|keep|remain|hold)(?:s|ing)?\s+still\b")
# A camera's zoom is no object's speed: "the camera zooming in on a red circle" ("zooming" alone is fast)
_ZOOM_IN = re.compile(r"\bzoom(?:s|ed|ing)?\s+(?:in|out)\b")
# "a cube in a bright-orange shade": the article belongs to the shade, which names the cube's colour
_IN_A_SHADE = re.compile(r"\bin\s+an?\s+(?=(?:[\w-]+\s+){1,2}(?:shade|hue|tone|tint|colou?r)\b)")
# "a square twice as big as usual - so a large one -": "so a large one" says again what the noun is
_SO_A_ONE = re.compile(r"\b(?:so|i\.?e\.?|meaning|that is|in other words)\s+an?\s+(\w+)\s+one\b")
# "above it", "below them": where an object is, said of another; no heading ("up it")
_BESIDE_IT = re.compile(r"\b(?:above|below|beneath|under|underneath|over|beside|next\s+to)\s+(?:it|them|that|this)\b|"
                        r"\b(?:to|on)\s+(?:its|their|his|her)\s+(?:left|right)(?:\s+side)?\b")  # "to its right": a place
# "one of them moves left": "one" of the objects named, as "one moves left" is
_ONE_OF_THEM = re.compile(r"\bone\s+of\s+(?:them|the\s+two|these|those|the\s+pair)\b")
# "the round one", "the square one": a reference by outline
_BY_OUTLINE = re.compile(r"\bthe\s+(round|circular|square|triangular|pointy|star[\s-]shaped)\s+(?:one|shape|object)\b")
_OUTLINE_NOUN = {"round": "circle", "circular": "circle", "square": "square", "triangular": "triangle",
                 "pointy": "star"}
# "Shape one: red circle", "Object 2 - blue square": a label, not a count (a later "object one falls" stays)
ITEM_LABEL = re.compile(r"\b(?:shape|object|item|element|entity|sprite|layer)\s+(?:one|two|three|four|#?\s*[1-4])"
                         r"\s*(?=[:=)\-])", re.IGNORECASE)
# ... and "object one falls" afterwards names the first object, as "the first" does
_ITEM_REFERENCE = re.compile(r"\b(?:shape|object|item|element|entity|sprite|layer)\s+(one|two|three|1|2|3)\b")
_ORDINAL_OF = {"one": "first", "1": "first", "two": "second", "2": "second", "three": "third", "3": "third"}
# "Motions: rising, falling.": a list of one attribute, handed to the objects in the order they were named
ATTRIBUTE_LIST = re.compile(r"(?:^|(?<=[.;\n]))\s*(?:motions|movements|directions|speeds|sizes)\s*:\s*([^.;\n]+)",
                            re.IGNORECASE)

# "neither the red square nor the yellow star moves": both stay still
_NEITHER_NOR = re.compile(r"\bneither\s+((?:the|a|an)\s+[^,;.]*?)\s+nor\s+((?:the|a|an)\s+[^,;.]*?)\s+"
                          r"(?:moves|move|is\s+moving|are\s+moving|goes\s+anywhere)\b")
# "neither up nor down but straight to the left": only what follows "but" is said
_NEITHER_BUT = re.compile(r"\bneither\s+[\w-]+\s+nor\s+[\w-]+\s+but\s+")
# "a square in a shade of blue": the colour, said after its noun
_SHADE_OF = re.compile(r"\bin\s+(?:an?\s+)?(?:\w+\s+)?(?:shade|hue|tone|tint)\s+of\s+")
# "a triangle pointing up": which way a shape faces, not where it goes (a velocity vector's points the way)
_FACING = re.compile(r"(?<!vector\s)(?<!velocity\s)(?<!arrow\s)(?<!motion\s)\b(?:pointing|pointed|facing)\s+(?:straight\s+)?(?:up|down|left|right)(?:wards?)?\b")
# "does not move left (but up)": the heading is denied, not the motion ("does not move" alone is still)
_NOT_THIS_WAY = re.compile(r"\b(?:does|do|will|is|are)\s+not\s+(?:move|go|head|travel|drift|slide|moving|going)\s+"
                           r"(?=(?:to\s+the\s+|towards?\s+the\s+)?(?:left|right|up|down|upwards?|downwards?|leftwards?|"
                           r"rightwards?)\b)")
# "Moving up is a red circle; moving down is a blue square": the motion said first, then what does it
_MOTION_FIRST = re.compile(r"(^|[.;!?,]\s*)((?:moving|going|heading|drifting|sliding|gliding|travell?ing|rising|falling|"
                           r"sinking|floating|climbing|bouncing|staying\s+still|standing\s+still)(?:\s+[a-z-]+){0,3}?)"
                           r"\s+(?:is|are|comes|we\s+have|there\s+is)\s+(an?\s+[a-z -]+?)(?=\s*(?:[.;!?,]|$))")
# Sizes said by denial: "is not big" is small, "isn't tiny" large, "not too big" says nothing; "no bigger than a
# pea" is small; "takes up most of the frame" is large (and no heading up)
_NOT_SIZE = re.compile(r"\b(?:(?:is|are|be|was|were|it's|that's)\s+not\s+(big|large|huge|small|tiny|little)\b|"
                       r"not[\s-]+(?:too|so|that|overly)[\s-]+(?:big|large|huge|small|tiny|little)\b)")
_NO_BIGGER = re.compile(r"\bno\s+(?:bigger|larger)\s+than\s+(?:an?\s+|the\s+)?[a-z]+")
_TAKES_UP = re.compile(r"\b(?:takes|taking|take|fills|filling|fill)\s+(?:up\s+)?(?:a\s+lot|most|much|all|half)\s+of\s+"
                       r"(?:the\s+)?(?:frame|screen|space|picture|view)\b")


def _size_denied(m: re.Match) -> str:
    """"is not big" -> small, "isn't tiny" -> large (after a verb only: "no, not small, big" is a
    correction); "not too big" says nothing."""
    if not m.group(1):
        return " "
    return " is small " if m.group(1) in ("big", "large", "huge") else " is large "


# A key=value flag for the bar: "occluder=0", "pole: 0" say there is none ("=1" names it, as the noun alone does)
_BAR_FLAG_OFF = re.compile(r"\b(" + _BAR_NOUN + r"|occ)\s*[:=]\s*0\b")
# Applied in this order, each to what the one before left ("right away" goes before a start's side is read).
_REWRITES = (
    (_BY_OUTLINE, lambda m: "the " + _OUTLINE_NOUN.get(m.group(1), "star")),  # before the idiom "square one"
    (IDIOMS, " "),
    (COLOUR_OF_THING, colour_of_thing),
    (SIZE_OF_THING, size_of_thing),
    (SPEED_OF_THING, speed_of_thing),
    (_BAR_FLAG_OFF, "\\1: none"),
    (_SO_A_ONE, "\\1"),
    (_BESIDE_IT, " "),
    (_ONE_OF_THEM, "one"),
    (_ITEM_REFERENCE, lambda m: "the " + _ORDINAL_OF[m.group(1)]),
    (_NEITHER_NOR, "\\1 and \\2 stay still"),
    (_DENY_BAR, "no "),
    (_STAYS, "stays still"),
    (CHILL_MUSIC, ""),
    (DEGREE, ""),
    (OF_TWO_NOUNS, "two \\2, the \\1 one"),
    (OF_THE_TWO, "\\1"),
    (MULTIPLE, multiple_as_comparative),
    (_ENTERS, "from the "),
    (_EXITS, "to the "),
    (_IN_THE_SIDE, "at the \\1"),
    (_RIGHT_AWAY, ""),
    (_ZOOM_IN, " "),
    (_START_END, "from the \\1 to the \\2"),
    (_SIDE_TO_SIDE, "\\1from the \\2 to the \\3"),
    (_START_MARKER, "from the "),
    (_END_MARKER, " to the "),
    (_THE_REST, "the other"),
    (_TO_THE_UP, "\\1ward"),
    (_SIDE_BY_SIDE, " together "),
    (_DENIED, "not "),
    (_NOT_STILL, " "),
    (_ELLIPTICAL_NOT, "\\1 does not move"),
    (_IN_THAT_ORDER, "respectively"),
    (_NOT_THIS_COLOUR, "no wait "),
    (_THEY, "all"),
    (_FOUR_WALLS, "off the \\1"),
    (_PAIR_RESPECTIVELY, lambda m: m.group(1).replace(" and ", " and also ")),
    (_SIGH_AN, "cyan"),
    (_BACK_ROUND, "background"),
    (_SCREEN_SIDE, ""),
    (_NO_MORE_OBJECTS, " "),
    (_ON_GROUND, "on a \\1 background"),
    (_JOINED, "\\1 \\2\\3"),
    (_SHADE_OF, "in "),
    (_IN_A_SHADE, "in "),
    (_NEITHER_BUT, ""),
    (_NOT_SIZE, _size_denied),
    (_NO_BIGGER, " small "),
    (_TAKES_UP, " large "),
    (_MOTION_FIRST, "\\1\\3 \\2"),
    (_NOT_THIS_WAY, "not go "),
    (_FACING, " "),
)


def rewritten(text: str) -> str:
    """`text` (lower-cased) with every rewrite applied, in order."""
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)
    return text
