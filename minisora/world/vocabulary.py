"""The MovingShapes vocabulary: the one place where the world's words and their meanings live.

The renderer (`world/render.py`), the caption writer and parser (`world/captions.py`, `world/grammar.py`), the
judge (`world/judge/`) and the prompt rewriter (`text/rewriter.py`) all read these tables, so a word means
the same thing everywhere (DESIGN rule 12: one place per string choice).
"""

from __future__ import annotations

# Object colours, fixed RGB (uint8). Order is stable: indices are used as class ids.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (230, 40, 40),
    "orange": (245, 140, 30),
    "yellow": (240, 220, 40),
    "green": (40, 200, 60),
    "cyan": (40, 210, 220),
    "blue": (40, 80, 230),
    "purple": (150, 60, 200),
    "white": (245, 245, 245),
}

BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "black": (10, 10, 10),
    "gray": (90, 90, 90),
    "navy": (20, 30, 70),
}

# The occluder has a colour of its own, outside the object palette, so that segmentation never
# confuses it with an object.
OCCLUDER_COLOR: tuple[int, int, int] = (135, 105, 70)
# Occluder bar width as a fraction of the frame width.
OCCLUDER_WIDTH = 0.16

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star")

# Object radius (centre to farthest point) as a fraction of min(height, width).
SIZES: dict[str, float] = {"small": 0.11, "large": 0.19}

# Unit direction vectors in image coordinates (x to the right, y downwards).
_D = 0.7071067811865476
MOTIONS: dict[str, tuple[float, float]] = {
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "up": (0.0, -1.0),
    "down": (0.0, 1.0),
    "up-left": (-_D, -_D),
    "up-right": (_D, -_D),
    "down-left": (-_D, _D),
    "down-right": (_D, _D),
    "bouncing": (_D, _D),  # initial heading; the renderer randomises it and reflects off edges
    "still": (0.0, 0.0),
}
DIRECTIONAL_MOTIONS: tuple[str, ...] = tuple(m for m in MOTIONS if m not in ("bouncing", "still"))

# Speed in fractions of min(height, width) per second, so that clip duration and fps change how far
# an object travels in time, not what "fast" means.
SPEEDS: dict[str, float] = {"slow": 0.14, "fast": 0.30}

MAX_OBJECTS = 3

# Held-out attribute combinations: no object in the training split ever has one of these; every
# clip of the held-out split has at least one object with one. Used for generalisation tests.
HELDOUT_COLOR_SHAPE: frozenset[tuple[str, str]] = frozenset({
    ("red", "star"), ("blue", "triangle"), ("green", "square"), ("yellow", "circle"),
    ("purple", "circle"), ("cyan", "star"), ("orange", "square"), ("white", "triangle"),
})
HELDOUT_SHAPE_MOTION: frozenset[tuple[str, str]] = frozenset({
    ("circle", "up"), ("square", "down-left"), ("triangle", "right"), ("star", "up-right"),
})


def is_heldout_object(color: str, shape: str, motion: str) -> bool:
    """True when this object's attributes form a held-out combination."""
    return (color, shape) in HELDOUT_COLOR_SHAPE or (shape, motion) in HELDOUT_SHAPE_MOTION


# ---------------------------------------------------------------------------------------------
# Phrasing tables. The caption writer draws its words from the `*_WRITE` tables and the parser
# accepts everything in the `*_PARSE` tables (a superset, so user prompts may say "big" or
# "grey"). Writer and parser read these same tables, so a phrasing the writer can produce is
# always one the parser knows (tests/test_captions.py checks the subset relation).
# Multi-word phrases are written with spaces; the parser splits hyphens into spaces first.
# ---------------------------------------------------------------------------------------------

# Extra names users type for our colours -> canonical key of COLORS or BACKGROUNDS.
COLOR_SYNONYMS: dict[str, str] = {
    "grey": "gray", "violet": "purple", "aqua": "cyan", "turquoise": "cyan",
    "navy blue": "navy", "dark blue": "navy",
}

SIZE_WRITE: dict[str, tuple[str, ...]] = {"small": ("small",), "large": ("large",)}
SIZE_PARSE: dict[str, tuple[str, ...]] = {
    "small": ("small", "little", "tiny", "smaller"),
    "large": ("large", "big", "huge", "larger", "bigger"),
}

# Speed as an adverbial phrase placed after the verb, and as an adjective placed before the noun.
SPEED_ADVERB_WRITE: dict[str, tuple[str, ...]] = {
    "slow": ("slowly", "at a slow pace", "at a slow speed"),
    "fast": ("quickly", "fast", "rapidly", "at a fast pace", "at a fast speed"),
}
SPEED_ADJECTIVE_WRITE: dict[str, tuple[str, ...]] = {
    "slow": ("slow", "slow-moving"),
    "fast": ("fast", "fast-moving"),
}
SPEED_PARSE: dict[str, tuple[str, ...]] = {
    "slow": ("slowly", "slow", "at a slow pace", "at a slow speed", "slow moving", "leisurely",
             "gently", "unhurriedly", "slowly moving", "sluggish", "sluggishly", "at low speed", "low speed",
             "speed low", "not fast", "not quickly", "not quick", "low velocity", "at low velocity", "slow mo",
             "slow motion", "in slow motion", "slow and steady", "at a crawl", "barely moves", "barely moving",
             "slower", "at a snail s pace", "snail s pace", "snails pace", "small speed", "little speed", "lags behind", "lagging behind", "trails behind", "trailing behind", "falls behind",
             "in no hurry", "no hurry", "with no hurry", "without hurry", "not in a hurry", "in no rush", "no rush",
             "at a stroll", "at a walk", "at a walking pace", "taking its time", "takes its time", "taking their time",
             "take its time", "take their time"),
    "fast": ("quickly", "fast", "rapidly", "at a fast pace", "at a fast speed", "fast moving",
             "swiftly", "quick", "speedy", "speedily", "quickly moving", "at high speed", "high speed",
             "speed high", "at speed", "at full speed", "not slow", "not slowly", "high velocity", "at high velocity",
             "max speed", "at max speed", "top speed", "at top speed", "maximum speed", "like crazy", "like mad",
             "high energy", "high frequency", "big speed", "great speed", "much speed", "faster", "quicker", "speedier", "speeds ahead", "races ahead",
             "pulls ahead", "in a hurry", "in a rush", "in a big hurry", "in a great hurry"),
}

SHAPE_PARSE: dict[str, tuple[str, ...]] = {
    "circle": ("circle", "circles", "ball", "balls", "disc", "discs", "disk", "disks", "dot", "dots"),
    "square": ("square", "squares", "box", "boxes", "block", "blocks"),
    "triangle": ("triangle", "triangles"),
    "star": ("star", "stars"),
}
# Nouns that stand for "an object" without naming its shape ("two shapes: ...", "a red object").
GENERIC_NOUNS: tuple[str, ...] = ("shape", "shapes", "object", "objects", "thing", "things",
                                  "item", "items", "figure", "figures", "entities", "sprites", "ones")
COUNT_WORDS: dict[str, int] = {"one": 1, "single": 1, "lone": 1, "two": 2, "pair of": 2, "couple of": 2,
                               "three": 3, "trio of": 3, "four": 4, "five": 5, "1": 1, "2": 2, "3": 3, "4": 4, "5": 5,
                               # more than the world holds, so that the request is refused, not cut to one
                               "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "dozen": 12, "twelve": 12,
                               "6": 6, "7": 7, "8": 8, "9": 9, "10": 10,
                               # vague counts read as the most the world holds
                               "several": MAX_OBJECTS, "a few": MAX_OBJECTS, "few": MAX_OBJECTS,
                               "multiple": MAX_OBJECTS, "many": MAX_OBJECTS}

# Verbs of motion, as finite verb (caption sentences) and participle (prompts, "while ... moving").
MOTION_VERBS_WRITE: tuple[str, ...] = ("moves", "glides", "drifts", "slides", "travels")
MOTION_PARTICIPLES_WRITE: tuple[str, ...] = ("moving", "gliding", "drifting", "sliding", "heading", "going")
MOTION_VERBS_PARSE: tuple[str, ...] = (
    "move", "moves", "moving", "moved", "glide", "glides", "gliding", "drift", "drifts", "drifting",
    "slide", "slides", "sliding", "travel", "travels", "traveling", "travelling", "head", "heads",
    "heading", "go", "goes", "going", "float", "floats", "floating", "pass", "passes", "passing",
    "cross", "crosses", "crossing", "roll", "rolls", "rolling", "fly", "flies", "flying", "run",
    "runs", "running", "zoom", "cruise", "cruises", "cruising", "sweep",
    "sweeps", "sweeping",
)

# Where each side/corner is named; the key is the MOTIONS direction that points there.
_SIDE_NAMES: dict[str, tuple[str, ...]] = {
    "left": ("left",), "right": ("right",), "up": ("top", "upper"), "down": ("bottom", "lower"),
}
_OPPOSITE: dict[str, str] = {"left": "right", "right": "left", "up": "down", "down": "up"}
_VERT_WORDS: dict[str, tuple[str, ...]] = {"up": ("up", "upward", "upwards"),
                                           "down": ("down", "downward", "downwards")}
_HORIZ_WORDS: dict[str, tuple[str, ...]] = {"left": ("left", "leftward", "leftwards"),
                                            "right": ("right", "rightward", "rightwards")}


def _axis_parts(motion: str) -> tuple[str, ...]:
    return tuple(motion.split("-"))  # "up-left" -> ("up", "left"); "right" -> ("right",)


def _place_names(motion: str) -> list[str]:
    """Names of the side or corner that `motion` points to: "right" -> ["right"],
    "up-left" -> ["top left", "upper left"]."""
    parts = _axis_parts(motion)
    if len(parts) == 1:
        return list(_SIDE_NAMES[parts[0]])
    v, h = parts
    return [f"{vn} {hn}" for vn in _SIDE_NAMES[v] for hn in _SIDE_NAMES[h]]


def _build_direction_tables() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]],
                                       dict[str, tuple[str, ...]]]:
    write: dict[str, tuple[str, ...]] = {}
    parse: dict[str, tuple[str, ...]] = {}
    origin: dict[str, tuple[str, ...]] = {}
    for m in DIRECTIONAL_MOTIONS:
        parts = _axis_parts(m)
        places = _place_names(m)
        opposite = "-".join(_OPPOSITE[p] for p in parts)
        if len(parts) == 1:
            d = parts[0]
            side, back = _SIDE_NAMES[d][0], _SIDE_NAMES[_OPPOSITE[d]][0]  # "top"/"bottom", "left"/...
            words = _VERT_WORDS.get(d) or _HORIZ_WORDS[d]
            w = [f"to the {d}", f"toward the {d}", f"{d}ward"] if d in _HORIZ_WORDS else \
                [f"{d}ward", d, f"toward the {side}"]
            p = list(words) + [f"{pre} the {x}" for pre in ("to", "toward", "towards") for x in dict.fromkeys((d, side))]
            p += [f"{side} side", f"from {back} to {side}", f"from the {back} to the {side}"]
            # a shot list's "enters bottom, exits top": where it leaves is the heading, where it enters the start
            p += [f"exits {x}" for x in (side, f"the {side}", f"at the {side}", f"through the {side}", f"frame {side}")]
            o = [f"from the {back} edge", f"from the {back} side"]
            o_parse = [f"from the {back} {kind}" for kind in ("edge", "side", "border")] + [f"from the {back}"]
            o_parse += [f"enters {x}" for x in (back, f"from the {back}", f"from {back}", f"at the {back}",
                                                 f"frame {back}")]
            o_parse += [f"{back} {mid}" for mid in ("centre", "center", "middle")]  # "a triangle bottom centre"
        else:
            v, h = parts
            w = [f"up and to the {h}" if v == "up" else f"down and to the {h}",
                 f"toward the {places[1]}", f"diagonally {v} and to the {h}", f"{v}-{h}"]
            p = []
            for vw in _VERT_WORDS[v]:
                for hw in _HORIZ_WORDS[h]:
                    p += [f"{vw} {hw}", f"{vw} and {hw}", f"{vw} and to the {h}", f"{vw} to the {h}"]
            p += [f"{pre} the {pl}" for pre in ("to", "toward", "towards") for pl in places]
            p += [f"{pl}" for pl in places]
            p += [f"{pl} corner" for pl in places]
            opp_places = _place_names(opposite)
            o = [f"from the {opp_places[1]} corner", f"from the {opp_places[0]} corner"]
            o_parse = [f"from the {op} {kind}" for op in opp_places for kind in ("corner", "side", "edge")]
            o_parse += [f"from the {op}" for op in opp_places]
            # where it is, said before where it goes: "a blue square in the top left drifting to the
            # bottom right", "starting at the top right", "it starts in the lower left corner"
            o_parse += [f"{pre} the {op}{corner}" for pre in ("in", "at", "starting in", "starting at", "starts in",
                                                             "starts at", "starting from", "begins in", "begins at")
                        for op in opp_places for corner in ("", " corner")]
            p += [f"from {op} to {pl}" for op in opp_places for pl in places]
            p += [f"from the {op} to the {pl}" for op in opp_places for pl in places]
        write[m] = tuple(w)
        parse[m] = tuple(dict.fromkeys(p + [x.replace("-", " ") for x in w]))
        origin[m] = tuple(o)
        # Origin phrases name where the object starts; the parser reads them as a hint for the
        # direction (used only when no explicit direction is given).
        origin[m + ":parse"] = tuple(dict.fromkeys(o_parse + o))
    return write, parse, origin


# Direction phrases after a motion verb: "glides slowly toward the upper left".
DIRECTION_WRITE, DIRECTION_PARSE, _ORIGINS = _build_direction_tables()
# "from the left edge" (written before the direction: "from the left edge toward the right").
ORIGIN_WRITE: dict[str, tuple[str, ...]] = {m: _ORIGINS[m] for m in DIRECTIONAL_MOTIONS}
ORIGIN_PARSE: dict[str, tuple[str, ...]] = {m: _ORIGINS[m + ":parse"] for m in DIRECTIONAL_MOTIONS}

# Whole verb phrases for the two non-directional motions (finite form, participle form).
BOUNCING_WRITE: tuple[str, ...] = ("bounces around the frame", "bounces off the edges",
                                   "bounces between the edges")
BOUNCING_PARTICIPLES_WRITE: tuple[str, ...] = ("bouncing", "bouncing around", "bouncing off the edges")
STILL_WRITE: tuple[str, ...] = ("stays still", "sits motionless", "remains stationary", "does not move",
                                "stays in place")
STILL_PARTICIPLES_WRITE: tuple[str, ...] = ("staying still", "standing still", "not moving")
MOTION_WORDS_PARSE: dict[str, tuple[str, ...]] = {
    "bouncing": ("bouncing", "bounces", "bounce", "bounced", "bouncy", "ricochets", "ricocheting", "up and down",
                 "ping ponging", "ping pongs", "ping pong", "pinballing", "pinballs",
                 "back and forth", "side to side", "to and fro",
                 "bouncing around", "bounces around", "bounces around the frame", "bouncing off the edges", "bounces off the edges",
                 "bounces between the edges", "bouncing between the edges", "bouncing off the walls",
                 "bounces off the walls"),
    "still": ("still", "stationary", "motionless", "static", "not moving", "does not move",
              "doesn t move", "do not move", "stays put", "stays in place", "staying in place",
              "remains still", "standing still", "stands still", "sitting still", "sits still",
              "stays still", "staying still", "stay put", "staying put", "at rest", "resting", "unmoving",
              "fixed in place",
              "immobile", "sits motionless", "remains stationary", "no motion", "not move",
              "without moving", "without motion", "with no motion", "never moves", "never moving",
              "not in motion", "not going anywhere", "in place", "sits there", "sitting there", "stays there",
              "sit there", "just sit", "hold frame", "holds frame", "holds its position", "hold its position",
              "stays on the place", "stay on the place", "stays on its place", "stays in the place", "stay in the place", "remains fixed", "stays fixed",
              "remain fixed", "stay fixed",
              "just sits", "just sitting", "doing nothing", "does nothing", "velocity 0", "speed 0",
              "zero speed", "zero velocity", "neither of which moves", "neither of them moves", "neither moves", "neither moving",
              "neither one moving", "neither one moves", "neither of them moving", "neither is moving", "none moving",
              "neither of them is moving", "goes nowhere", "going nowhere", "go nowhere",
              "none of them move", "none of them moves", "neither of which move", "are staying", "is staying",
              "stays there", "stay there", "in one place", "zero movement", "no movement", "stays where it is",
              "stay where it is", "staying where it is", "remains where it is", "refuses to move",
              "refuse to move", "refusing to move", "sits tight", "sitting tight", "sit tight", "holds still",
              "holding still", "frozen in place", "holds its position", "holding its position",
              "stayed put", "stayed still", "stayed in place", "stayed where it was", "stayed right where it was",
              "stays right where it is", "remained still", "remained where it was", "not make it move",
              "not make them move", "not let it move", "not have it move",
              # an animator's hold: "the dot holds", "keep it on a hold" (the imperative "hold the bg" is no still)
              "dead still", "stock still", "stationery", "standing quiet", "stands quiet", "stays quiet",
              "stay quiet", "without to move", "holds", "on a hold", "on hold", "holds center", "holds centre", "holds in place",
              "stays at place", "stay at place", "stays at its place", "stays in its place")
    # a verb of staying before where: "a green pyramid sitting in the middle", "staying in one place"
    + tuple(f"{verb} {where}" for verb in ("sitting", "sits", "staying", "stays", "standing", "stands", "resting",
                                           "rests", "waiting", "waits", "parked", "remaining", "remains")
            for where in ("in the middle", "in the center", "in the centre", "in one place", "in one spot",
                          "on the left", "on the right", "at the top", "at the bottom")),
}

# The occluder: how captions name it, and phrases that state there is none.
OCCLUDER_WRITE: tuple[str, ...] = ("a brown vertical bar", "a brown bar", "a vertical brown bar")
# Nouns for the bar on their own ("remove the pole", "keep the pillar out")
BAR_NOUNS: tuple[str, ...] = ("pole", "bar", "pillar", "post", "column", "occluder")
OCCLUDER_PARSE: tuple[str, ...] = ("brown vertical bar", "vertical brown bar", "brown bar", "vertical bar",
                                   "bar", "pillar", "brown pillar", "post", "brown post", "pole",
                                   "occluder", "occluding bar", "wall", "column", "obstacle", "vertical pole",
                                   "vertical post", "vertical pillar", "vertical column", "vertical wall",
                                   "vertical line", "vertical stripe", "lamp post", "lamppost", "signpost",
                                   "sign post", "street lamp", "tree trunk", "bars", "poles", "pillars", "posts",
                                   "bars or poles", "poles or bars", "bar or pole", "occluders", "obstacles",
                                   "vertical beam", "rod", "vertical rod", "goalpost", "pylon", "stick", "brown stick", "occ")
NO_OCCLUDER_WRITE: tuple[str, ...] = ("Nothing blocks the view.", "The view is unobstructed.",
                                      "There is no occluder.")
NO_OCCLUDER_PARSE: tuple[str, ...] = ("nothing blocks the view", "view is unobstructed",
                                      "unobstructed view", "no occluder", "no bar", "nothing in the way",
                                      "without an occluder", "without occluder", "no obstacle",
                                      "nothing blocking the view", "clear view", "no obstructions", "no obstruction",
                                      "without obstructions", "without obstruction", "unobstructed")

# Camera phrases: the MovingShapes camera never moves; captions say so, the parser skips them.
CAMERA_WRITE: tuple[str, ...] = ("while the camera stays still", "as the camera holds still",
                                 "seen by a static camera", "while the camera remains fixed")
CAMERA_PARSE: tuple[str, ...] = (
    "camera stays still", "camera holds still", "camera remains fixed", "camera is still",
    "camera is static", "camera does not move", "camera remains still", "static camera", "still camera",
    "fixed camera", "locked off camera", "camera", "camera stays fixed", "camera is fixed",
    "static frame", "static shot", "locked frame", "locked shot", "locked off shot", "no camera move",
    "camera static", "camera still", "camera fixed", "camera locked", "camera locked off",
    "no camera movement", "static locked off camera", "static locked off shot", "static tripod shot",
    "top down shot", "top down view", "top down camera", "overhead shot", "overhead camera", "camera stays put", "camera stays in place", "camera doesn t move", "camera does not move",
)
BACKGROUND_NOUNS: tuple[str, ...] = ("background", "backdrop", "backgrounds", "bg", "bkg", "field", "ground", "canvas",
                                     "pitch", "stage", "surface", "underground", "room", "void", "backplate")  # writers use the first two
# Paths the world has no motion for ("a circle moving in a circle"): the parser reports the phrase
# as unmapped, rather than reading its noun as one more object.
OUTSIDE_PATHS_PARSE: tuple[str, ...] = (
    "in a circle", "in circles", "in a ring", "in a loop", "in loops", "in a spiral", "in a zigzag",
    "in a zig zag", "in a figure eight", "in a figure of eight", "in a wave", "in waves", "in an arc",
    "in a square", "in a triangle", "zig zag", "zig zags", "zig zagging", "zig zagged", "round and round",
    "around and around",
)
# Clock-face headings ("toward 3 o'clock"): the hour hand's direction on the screen.
CLOCK_PARSE: dict[str, tuple[int, ...]] = {"up": (12,), "up-right": (1, 2), "right": (3,), "down-right": (4, 5),
                                           "down": (6,), "down-left": (7, 8), "left": (9,), "up-left": (10, 11)}
_HOUR_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")
# Nouns for the clip itself: adjectives right before them describe the clip ("a little clip of a red
# circle", "a short animation"), not an object.
MEDIA_NOUNS: tuple[str, ...] = ("clip", "video", "animation", "animations", "movie", "film", "gif", "loop", "loops")
# Words after a motion that give it to every object ("bouncing in sync", "moving right together").
TOGETHER_WORDS: tuple[str, ...] = ("together", "sync", "unison", "parallel")
# "the first ... the second ...": objects named by their place in the prompt.
ORDINALS: dict[str, int] = {"first": 0, "second": 1, "third": 2, "former": 0, "latter": -1, "last": -1}
# Where an object is, not where it goes ("a big circle on the left moving right"): skipped.
POSITION_PARSE: tuple[str, ...] = ("on the left", "on the right", "at the top", "at the bottom", "on the left side",
                                   "on the right side", "in the middle", "in the center", "in the centre",
                                   "at the left", "at the right", "on top", "along the top", "along the bottom",
                                   "along the left", "along the right", "across the top", "across the bottom",
                                   "near the top", "near the bottom", "near the left", "near the right")
# Words after which a motion or speed belongs to every object named so far ("a red ball and a blue
# box, both moving left"; "three shapes ..., all heading down").
DISTRIBUTIVE_WORDS: tuple[str, ...] = ("both", "all", "each")
# Phrases that state nothing the world varies ("without a background": every clip has one, its colour
# unstated): the parser skips them rather than reading "background" as a colour's noun.
NOTHING_STATED_PARSE: tuple[str, ...] = ("without a background", "without background", "without any background",
                                         "no background", "with no background", "without a backdrop",
                                         "no backdrop", "one more", "one more thing", "one last", "one last thing",
                                         "never quits", "never stops", "does not stop", "will not stop",
                                         "would not stop", "non stop", "nonstop", "keeps going", "keeps moving",
                                         "never stopping")

# Words that carry no attribute: the parser skips them instead of reporting them as unknown.
FILLER_WORDS: frozenset[str] = frozenset("""
a an the and with while on across against in into onto of its it is are at to toward towards from
over through around as by each frame frames scene there which then same time meanwhile another other
also both all video clip edge edges side sides corner off walls plain solid colored coloured
diagonally steadily smoothly pace speed along path straight line behind front foreground stands
stand standing sits sit sitting stays stay remains remain seen holds fixed view whole screen
here this that these those while whilst where s just only some who makes make way
direction across between out middle centre center shown showing shows has have having
appears appear visible moment throughout entire during share shares respectively no none not but
animation animations movie film gif together sync unison first second third former latter last without or any
false true yes
""".split())
