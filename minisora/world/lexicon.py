"""The prompt normaliser's word tables: common English words for the world's terms, words for
things the world lacks, stop-words, and where in a sentence each attribute may stand.

`normalize.WordMapper` reads these (the module docstring there gives the order of the rules); they
are written from general English, not from any benchmark or test set.
"""

from __future__ import annotations

from minisora.world import vocabulary as V
from minisora.world.film import FILM_WORDS
from minisora.world.phrases import PHRASES

# Attribute category of every vocabulary term (one place: built from data/vocabulary.py).
TERM_CATEGORY: dict[str, str] = {
    **{c: "color" for c in V.COLORS},
    **{b: "background" for b in V.BACKGROUNDS if b not in V.COLORS},
    **{s: "shape" for s in V.SHAPES},
    **{s: "size" for s in V.SIZES},
    **{m: "motion" for m in V.MOTIONS},
    **{s: "speed" for s in V.SPEEDS},
}

# A motion verb without a direction ("drifting", "gliding") means the object moves; the canonical
# word the caption language uses for that.
MOVE = "moving"

# The curated lexicon: common English words for each vocabulary term, checked before anything else
# because it is exact. It is deliberately broad (users type "maroon", "orb", "zooming", not our 30
# terms) and written from general English, not from any benchmark: the rewriter bench draws its
# paraphrases from a separate held-out list and refuses to run if one of its words is in here.
# Colour names follow the hue family of the world's palette (pink is a light red, brown a dark
# orange); a colour the palette lacks entirely is better reported than guessed.
LEXICON: dict[str, str] = {
    # object colours
    "red": """crimson scarlet maroon blood bloody tomato brick cardinal burgundy claret carmine cerise
        vermilion vermillion garnet raspberry strawberry cranberry oxblood ketchup poppy rouge ruddy rosy
        merlot cabernet redwood rosewood firebrick lipstick fire fiery rose pink pinkish salmon flamingo
        bubblegum blush hotpink watermelon rhubarb radish beet beetroot chili chilli
        paprika cinnabar lobster""",
    "orange": """orang amber tangerine apricot peach peachy pumpkin rust rusty saffron marigold persimmon mandarin
        clementine terracotta papaya cantaloupe coral tawny bronze brown brownish tan auburn cinnamon
        caramel chestnut mahogany sienna umber ochre butterscotch cinnamon orangey nectarine citrus
        sunset""",
    "yellow": """lemon lemony golden gold mustard canary banana butter buttery buttercup daffodil sunflower
        dandelion straw flaxen maize corn citrine sulphur sulfur blond topaz sand sandy beige khaki
        wheat champagne brass lemonade yolk sun sunshine sunlit""",
    "green": """emerald lime olive jade mint minty grass grassy forest sage pine fern kelly avocado
        pistachio basil shamrock clover verdant spruce chartreuse leaf leaves foliage ivy lichen
        seaweed cucumber celery lettuce spinach kiwi broccoli juniper evergreen jungle viridian
        malachite peridot""",
    "cyan": """teal turquoise aqua aquamarine cyanic tiffany caribbean lagoon ice glacier glacial
        arctic peacock aquatic""",
    "blue": """azure cobalt sapphire indigo cerulean ultramarine sky ocean sea oceanic marine blueberry
        lapis jeans admiral prussian""",
    "purple": """magenta violet lavender lilac plum mauve grape amethyst heliotrope wisteria aubergine boysenberry
        mulberry heather byzantium iris thistle periwinkle raisin blackberry lavendar purply""",
    "white": """ivory snow snowy pearl pearly cream creamy milky milk chalk chalky linen eggshell frost frosty
        vanilla cotton ghost ghostly platinum paper marshmallow coconut cloud""",
    # background colours
    "gray": """grey silver silvery ash ashen ashy slate charcoal smoke smoky smokey pewter graphite stone
        stony concrete gunmetal steel cement granite fog foggy mist misty grayish greyish""",
    "black": """dark ebony jet pitch inky ink onyx coal sable raven obsidian soot sooty tar licorice
        liquorice night blackish""",
    "navy": """midnight""",
    # shapes
    "circle": """circ circl crcl ball disc disk dot orb sphere round ring bubble blob coin oval spot bead wheel hoop button
        puck balloon moon planet ellipse spheroid spherical rounded roundish roundel circlet
        doughnut donut bullseye pebble cookie plate saucer""",
    "square": """sq sqr box block cube tile rectangle crate quad cuboid panel chip dice die card cubical squared
        rectangular quadrilateral boxlike parcel package tablet plank board checker diamond
        rhombus oblong""",
    "triangle": """tri trng pyramid wedge cone arrowhead delta triangular tent spike dart arrow tetrahedron
        pennant sail fin trilateral""",
    "star": """starfish pentagram asterisk sparkle starry twinkle twinkly hexagram nova supernova
        sparkler starlet snowflake starshape""",
    # sizes
    "small": """sm sml pint teeny tiny little mini petite miniature wee compact puny microscopic dinky pocket slight
        undersized itty teensy bitty itsy lilliputian dwarf toy modest baby smallest
        microscopical""",
    "large": """lg lrg big huge giant enormous massive jumbo bulky oversized sizable sizeable vast mammoth
        titanic monstrous mighty great tremendous humongous ginormous hulking whopping towering mega
        gargantuan behemoth monumental mountainous kingsize grand fat chunky biggest""",
    # directions
    "left": """leftward leftwards west westward westwards westerly portside port""",
    "right": """rightward rightwards east eastward eastwards easterly starboard rite""",
    "up": """upward upwards rising rises rise ascending ascends ascend climbing climbs climb north northward
        northwards northerly top upper skyward skywards lifting lifts uphill aloft levitating rocketing
        mounting elevating above""",
    "down": """downward downwards falling falls fall sinking sinks sink descending descends descend dropping
        drops drop south southward southwards southerly bottom lower dipping dips diving dives plunging
        plunges tumbling tumbles toppling lowering sagging raining below beneath""",
    # compass diagonals: the parser reads "up-right" as the diagonal
    "up-right": "northeast northeastward northeastwards northeasterly ne",
    "up-left": "northwest northwestward northwestwards northwesterly nw upleft",
    "down-right": "southeast southeastward southeastwards southeasterly se",
    "down-left": "southwest southwestward southwestwards southwesterly sw downleft",
    "bouncing": """bounce bounces bouncy ricocheting rebounding rebounds rebound pinballing boinging springing
        hopping jumping caroming jump jumps hop hops""",
    "still": """stationary motionless static unmoving resting sitting standing frozen immobile parked
        idle stopped halted paused steady inert anchored hovering stuck chilling chill chills lounging
        loafing idling waits waiting""",
    # speeds
    "fast": """quick quickly rapid rapidly speedy swift swiftly hurried racing races zooming zooms zoomed
        dashing dashes speeding speeds fastly brisk briskly fleet hurrying hurries rushing rushes
        darting darts whizzing whizzes sprinting sprints breakneck blazing lightning turbo express
        snappy snappily agile hastily rushed energetic frantic frantically zipping zips shoots shooting
        firing fires careening careens bolting bolts""",
    "slow": """sluggish slowly leisurely gentle gently crawling crawls creeping creeps lazy lazily
        unhurried sedate calm calmly lethargic ambling ambles strolling strolls meandering meanders
        lingering inching inches gradual gradually poky pokey lumbering lumbers trudging trudges
        dawdling dawdles
        moseying snail snaillike tortoise sleepy drowsy relaxed mellow deliberate deliberately""",
    # motion verbs without a direction
    MOVE: """drifting drifts drift sliding slides slide gliding glides glide going goes go heading heads
        travelling traveling travels floating floats rolling rolls flying flies sailing sails cruising
        wandering wanders shifting shifts budge budges budging running runs move moves moving coasting passing scooting
        wafting wafts skimming skims skating skates roaming roams swimming swims advancing advances
        migrating marching walking drives driving riding steering shuttling tracking sweeping scudding
        journeying wandered moved drifted glided slid floated rolled flew sailed travelled traveled went
        headed cruised""",
}

# Where "<place>ward" and "<place>bound" point ("skyward", "earthward", "northbound"): the places
# that a direction names, beyond the direction words themselves.
PLACES: dict[str, str] = {
    "up": "sky heaven heavens ceiling roof sun space top summit north",
    "down": "earth ground floor bottom sea hell south",
    "left": "west",
    "right": "east",
}
# Nouns that "up"/"down" prefix in English compounds: "uphill", "downstream", "downwind".
SLOPES = frozenset("hill hills stream river wind slope stairs ward wards".split())

# Colour words of the lexicon that are also nouns of things, read as such where only a noun can
# stand: "a yellow sun" is a yellow circle; the sky of "across the sky" is no second (blue) object,
# but scenery the world does not have (None: reported). Only these: "a plum-coloured circle" and
# "three stars (lavender, tangerine ...)" keep their colours wherever the slot reads like a noun.
NOUN_READINGS: dict[str, str | None] = {"sun": "circle", "sky": None, "sea": None, "ocean": None, "grass": None,
                                        "night": None, "cloud": None, "fire": None, "snow": None}

# Words whose past-tense verb reading names a heading where a verb stands (after a noun or an adverb, before
# no noun): "the blue star rose slowly", "a square slowly rose toward the top"; "a rose circle" is red.
VERB_READINGS: dict[str, str] = {"rose": "up"}

# Modifiers of a colour ("light blue", "deep red"): ignored when a colour follows, since the
# palette has one shade per hue.
COLOR_MODIFIERS = frozenset("""light pale bright deep dark vivid neon pastel hot soft rich dull muted faded
dusty electric baby powder""".split())

# Attribute words for things the world does not have: reported as unmapped at once, because any
# nearest neighbour would be a wrong guess ("hexagon" is no square, "spinning" is no bouncing).
OUTSIDE_WORLD: frozenset[str] = frozenset("""
hexagon hexagons hexagonal pentagon pentagons pentagonal octagon octagons octagonal heart hearts crescent crescents
cross crosses spiral spirals zigzag
zigzagging spinning spins rotating rotates orbiting orbits circling swirling twirling wobbling
shaking vibrating pulsing pulsating growing grows shrinking shrinks expanding fading blinking
flashing glowing exploding morphing rainbow striped stripy spotted polka checkered plaid
transparent translucent glittery sparkly metallic shiny clockwise counterclockwise anticlockwise rotate rotated
revolving revolves twirls swirls pan pans panning panned tilt tilts tilting
""".split()) | FILM_WORDS

# Shape nouns of OUTSIDE_WORLD: reported, but still nouns, so their object keeps its other attributes
# ("magenta hexagon moving right" is a purple object moving right, its outline unstated).
OUTSIDE_SHAPES: frozenset[str] = frozenset("hexagon hexagons pentagon pentagons octagon octagons heart hearts crescent "
                                           "crescents cross crosses".split())

# Words that carry no attribute and that the parser does not know either; ignored, not reported.
STOP_WORDS: frozenset[str] = frozenset("""
please make show me render generate create give draw want need would like could can should let us
i you we my your our picture image shot footage sequence very really quite
pretty kind sort bit slightly somewhat nice cute lovely simple some for so shaped colored coloured
sized tinted toned looking ish hued shade shaded colour color tone light whose diagonal
yo gimme lol hey hi hello pls plz ok okay thanks thank d ll ve m re u ya ur do short brief super totally
about maybe alright what know look thinking something thin thick narrow skinny objs obj cool awesome neat
fun funny interesting beautiful scale said says say tell told think thought guess mean inch good shall
will lived once
content lighting lit mood flat um uh uhh er erm hmm idk smth sth thx ty tbh btw imo imho fyi rn k kk brb np ty tysm omg pls da dat dis
motion movement trajectory velocity size sizes colors colours directions topic topics final
wanted wants wanting try tries tried trying again motions movements trajectories
whatsoever due hue hues tint now add adding put start starting perfect hiya instead wait actually
""".split())


def _build_curated() -> dict[str, str]:
    """LEXICON inverted to word -> term; a word listed under two terms is an error in the table."""
    out: dict[str, str] = {}
    for term, words in LEXICON.items():
        for w in words.split():
            if out.get(w, term) != term:
                raise ValueError(f"LEXICON lists {w!r} under both {out[w]!r} and {term!r}")
            out[w] = term
    return out


CURATED: dict[str, str] = _build_curated()
PLACE_TERM: dict[str, str] = {w: d for d, words in PLACES.items() for w in words.split()}

# Derivational endings tried on an unknown word: "reddish" -> "red", "star-shaped" -> "star",
# "cubic" -> "cube", "pyramidal" -> "pyramid", "golden" -> "gold", "sparkling" -> "sparkle".
SUFFIXES = ("ish", "er", "est", "ly", "like", "y", "ed", "s", "es", "ing", "ic", "ical", "al", "en",
             "ness", "colored", "coloured", "shaped", "sized", "tinted", "toned", "hued")
# Closed-class words WordNet has no entry for: real words, so never read as misspellings ("anything"
# is not "nothing", "whatever" is not "whatever shape").
FUNCTION_WORDS = frozenset("""anything something everything nothing anyone someone everyone anybody somebody
everybody whatever whichever whoever them they their theirs it its itself this that these those he she him her
his hers we us our ours you your yours me mine myself yourself themselves""".split())
# Endings that turn a place into a heading: "earthward", "northbound", "skywards".
HEADING_SUFFIXES = ("wardly", "wards", "ward", "bound")

def _parser_synonyms() -> dict[str, str]:
    """Single-word synonyms the parser already knows, as extra labelled anchors for the search."""
    out: dict[str, str] = {}
    for table in (V.SHAPE_PARSE, V.SIZE_PARSE, V.SPEED_PARSE, V.MOTION_WORDS_PARSE, V.DIRECTION_PARSE):
        for term, words in table.items():
            for w in words:
                if " " not in w and term in TERM_CATEGORY:
                    out.setdefault(w, term)
    for w, term in V.COLOR_SYNONYMS.items():
        if " " not in w:
            out.setdefault(w, term)
    return out


PARSER_SYNONYMS = _parser_synonyms()
# Words of the parser's multi-word phrases ("upper" of "upper left", "pace" of "at a slow pace").
PHRASE_WORDS: frozenset[str] = frozenset(w for key in PHRASES if len(key) > 1 for w in key)


def word_kind(word: str) -> str:
    """What the parser takes a single known word for: an attribute category, "verb", "noun",
    "bgnoun", "article", or "other"."""
    if word in ("a", "an", "one", "two", "three", "the"):
        return "article"
    if word in V.MOTION_VERBS_PARSE:
        return "verb"
    if word in V.GENERIC_NOUNS:
        return "noun"
    if word in V.BACKGROUND_NOUNS:
        return "bgnoun"
    term = TERM_CATEGORY.get(word) and word or PARSER_SYNONYMS.get(word) or CURATED.get(word)
    if term and TERM_CATEGORY.get(term):
        return TERM_CATEGORY[term]
    return "other"


ADJECTIVE_SLOT = frozenset({"color", "size", "speed"})
NOUN_SLOT = frozenset({"shape"})
ADVERBIAL_SLOT = frozenset({"motion", "speed"})
BACKGROUND_SLOT = frozenset({"background", "color"})


_LIST_ARTICLES = frozenset({"a", "an", "one", "the"})


def slot_categories(words: list[str], i: int, unknown: set[str],
                    resolved: dict[str, str] | None = None) -> frozenset[str] | None:
    """The attribute categories word `i` can belong to, judged from its known neighbours
    (None when the neighbours do not say). `resolved`: unknown words already mapped by table or
    word form ("purplish" -> "purple"), which tell their neighbours' roles like known words do."""
    resolved = resolved or {}
    if i + 1 < len(words) and words[i + 1] in ("coloured", "colored", "hued", "tinted", "toned"):
        return frozenset({"color"})  # "a ruby-coloured circle"

    coordinated: set[int] = set()  # steps whose neighbour was reached across "and"

    def neighbour(step: int) -> str:
        j = i + step
        while 0 <= j < len(words):
            if words[j] == "and":
                coordinated.add(step)
            elif words[j] in _LIST_ARTICLES and (step in coordinated or (0 <= j + step < len(words)
                                                                        and words[j + step] == "and")):
                j += step  # "one ruby and one blue": the article of a listed item says nothing of the word
                continue
            if words[j] in resolved:
                term = resolved[words[j]]
                return "verb" if term == MOVE else TERM_CATEGORY.get(term, "other")
            if words[j] in unknown:
                return "unknown"  # two unknown words side by side: neither tells the other's role
            if words[j] not in ("and", "to", "toward", "towards"):
                return word_kind(words[j])
            j += step
        return "edge"

    before, after = neighbour(-1), neighbour(+1)
    if after == "bgnoun":
        return BACKGROUND_SLOT
    if (after == "color" and +1 in coordinated) or (before == "color" and -1 in coordinated):
        return ADJECTIVE_SLOT  # "sunny yellow, ruby and amber": colours listed, each of its own object
    # A noun phrase states each attribute once, so an adjective is not of its neighbours' kind:
    # in "a small royal star" royal is no size, in "a teeny red star" teeny is no colour.
    if after in ("shape", "noun"):
        return ADJECTIVE_SLOT - {before}  # "a ruby circle", "a teeny red star"
    if after in ("color", "size") and before in ("article", "edge", "size", "color", "speed"):
        return ADJECTIVE_SLOT - {before, after}  # "a teeny red ..."
    if before in ("article", "color", "size") and after in ("verb", "motion", "speed", "edge", "other", "article"):
        return NOUN_SLOT  # "a red slab gliding left", "a red slab and a blue star"
    if before in ("article", "edge", "size", "color", "speed") and after == "unknown":
        return (ADJECTIVE_SLOT | NOUN_SLOT) - {before}  # "a large cornflower trigon": an adjective or the noun
    if before in ("shape", "noun") and after == "color":
        return ADJECTIVE_SLOT  # "three blocks (ruby, violet and amber)": a list of colours after the noun
    if before in ("shape", "noun"):
        return ADVERBIAL_SLOT | {"color"}  # "a circle plummeting", "a square block, ruby, bouncing"
    if before in ("verb", "motion"):
        return ADVERBIAL_SLOT  # "gliding westbound"
    return None


# Shape words that are adjectives ("round", "triangular", "star-shaped"): in "a round red dot" the
# adjective and the noun name one object.
_ADJECTIVE_ENDINGS = ("ed", "al", "ar", "ic", "ical", "y", "ish", "like", "shaped", "ular")
_SHAPE_ADJECTIVES = frozenset("round square".split())


def is_adjectival(word: str) -> bool:
    """True for a shape word that is an adjective by its form ("round", "circular", "starry")."""
    return word in _SHAPE_ADJECTIVES or word.endswith(_ADJECTIVE_ENDINGS)


def move_shape_modifiers(words: list[str], modifiers: set[int]) -> list[str]:
    """Move each shape word at a position in `modifiers` (a shape said by an adjective) to just before
    the noun of its noun phrase, past the colour and size adjectives between them: "a triangle green
    shape" -> "a green triangle shape", which the grammar reads as one object (a shape word right
    before a noun modifies it). Without such a noun the word stays and is the noun itself."""
    out = list(words)
    for i in sorted(modifiers, reverse=True):
        j = i + 1
        while j < len(out) and word_kind(out[j]) in ("color", "size", "speed"):
            j += 1
        if j > i + 1 and j < len(out) and word_kind(out[j]) in ("shape", "noun"):
            out.insert(j - 1, out.pop(i))
    return out
