"""Map the words users type onto the MovingShapes vocabulary, and say what could not be mapped.

Users write "crimson ball drifting to the left" or "a box sliding upward"; the world's caption parser
(`data/captions.parse`) knows "red", "ball", "drifting", "left", "box", "upward". Only the words the
parser cannot place are mapped, each in this order:

1. a curated synonym table (`CURATED`), checked first because it is exact;
2. word-form rules: plurals and "-ish"/"-er"/"-like"/"-shaped" forms of a known word ("reddish",
   "bluish", "star-shaped");
3. stop-words ("please", "show", "me") are ignored;
4. embedding nearest neighbour: the word is embedded with the text encoder (MiniLM) and compared with
   anchors whose meaning is known — every vocabulary term, every curated synonym and every synonym
   the parser knows — taking the label of the nearest anchors (top-k vote) when the cosine similarity
   clears a threshold. Labelled synonyms as extra anchors ("scarlet" is near "crimson", which means
   red) make the neighbour search far more reliable than comparing with the bare terms alone;
5. anything else is reported as unmapped, never silently dropped.

The result is re-parsed; what the parser still cannot place is reported as unmapped too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch

from minisora.data import vocabulary as V
from minisora.data.captions import ParsedScene, parse

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

# Curated synonyms: exact, checked before the embedding search. Values are vocabulary terms,
# MOVE, or a canonical word the captions use ("occluder" etc.).
CURATED: dict[str, str] = {
    # colours
    "crimson": "red", "scarlet": "red", "rose": "red", "maroon": "red", "blood": "red",
    "tomato": "red", "brick": "red",
    "amber": "orange", "tangerine": "orange", "apricot": "orange", "peach": "orange",
    "pumpkin": "orange", "rust": "orange",
    "lemon": "yellow", "golden": "yellow", "gold": "yellow", "mustard": "yellow", "canary": "yellow",
    "banana": "yellow",
    "emerald": "green", "lime": "green", "olive": "green", "jade": "green", "mint": "green",
    "grass": "green", "forest": "green",
    "teal": "cyan", "turquoise": "cyan", "aqua": "cyan", "aquamarine": "cyan",
    "azure": "blue", "cobalt": "blue", "sapphire": "blue", "indigo": "blue", "cerulean": "blue",
    "ultramarine": "blue", "sky": "blue",
    "violet": "purple", "lavender": "purple", "magenta": "purple", "lilac": "purple", "plum": "purple",
    "mauve": "purple", "grape": "purple", "amethyst": "purple",
    "ivory": "white", "snow": "white", "snowy": "white", "pearl": "white", "cream": "white",
    "milky": "white", "chalk": "white",
    "grey": "gray", "silver": "gray", "ash": "gray", "slate": "gray", "charcoal": "gray",
    "dark": "black", "ebony": "black", "jet": "black", "pitch": "black", "inky": "black",
    "midnight": "navy",
    # shapes
    "ball": "circle", "disc": "circle", "disk": "circle", "dot": "circle", "orb": "circle",
    "sphere": "circle", "round": "circle", "ring": "circle", "bubble": "circle", "blob": "circle",
    "coin": "circle", "oval": "circle",
    "box": "square", "block": "square", "cube": "square", "tile": "square", "rectangle": "square",
    "crate": "square", "quad": "square",
    "pyramid": "triangle", "wedge": "triangle", "cone": "triangle", "arrowhead": "triangle",
    "delta": "triangle", "triangular": "triangle",
    "starfish": "star", "pentagram": "star", "asterisk": "star", "sparkle": "star", "starry": "star",
    "twinkle": "star",
    # sizes
    "tiny": "small", "little": "small", "mini": "small", "petite": "small", "miniature": "small",
    "wee": "small", "compact": "small",
    "big": "large", "huge": "large", "giant": "large", "enormous": "large", "massive": "large",
    "jumbo": "large", "bulky": "large", "oversized": "large", "sizable": "large",
    # directions
    "leftward": "left", "leftwards": "left", "west": "left", "westward": "left", "westwards": "left",
    "rightward": "right", "rightwards": "right", "east": "right", "eastward": "right", "eastwards": "right",
    "upward": "up", "upwards": "up", "rising": "up", "rises": "up", "rise": "up", "ascending": "up",
    "ascends": "up", "climbing": "up", "climbs": "up", "north": "up", "northward": "up", "top": "up",
    "upper": "up", "skyward": "up", "skywards": "up", "lifting": "up",
    "downward": "down", "downwards": "down", "falling": "down", "falls": "down", "fall": "down",
    "sinking": "down", "sinks": "down", "descending": "down", "descends": "down", "dropping": "down",
    "drops": "down", "south": "down", "southward": "down", "bottom": "down", "lower": "down",
    "bounce": "bouncing", "bounces": "bouncing", "bouncy": "bouncing", "ricocheting": "bouncing",
    "rebounding": "bouncing", "pinballing": "bouncing",
    "stationary": "still", "motionless": "still", "static": "still", "unmoving": "still",
    "resting": "still", "sitting": "still", "standing": "still", "frozen": "still", "immobile": "still",
    "parked": "still", "idle": "still",
    # speeds
    "quick": "fast", "quickly": "fast", "rapid": "fast", "rapidly": "fast", "speedy": "fast",
    "swift": "fast", "swiftly": "fast", "hurried": "fast", "racing": "fast", "zooming": "fast",
    "dashing": "fast", "speeding": "fast", "fastly": "fast", "brisk": "fast", "briskly": "fast",
    "sluggish": "slow", "slowly": "slow", "leisurely": "slow", "gentle": "slow", "gently": "slow",
    "crawling": "slow", "creeping": "slow", "lazy": "slow", "lazily": "slow", "unhurried": "slow",
    "sedate": "slow", "calm": "slow", "calmly": "slow",
    # motion verbs without a direction
    "drifting": MOVE, "drifts": MOVE, "drift": MOVE, "sliding": MOVE, "slides": MOVE, "slide": MOVE,
    "gliding": MOVE, "glides": MOVE, "glide": MOVE, "going": MOVE, "goes": MOVE, "go": MOVE,
    "heading": MOVE, "heads": MOVE, "travelling": MOVE, "traveling": MOVE, "travels": MOVE,
    "floating": MOVE, "floats": MOVE, "rolling": MOVE, "rolls": MOVE, "flying": MOVE, "flies": MOVE,
    "sailing": MOVE, "cruising": MOVE, "wandering": MOVE, "shifting": MOVE, "running": MOVE,
    "move": MOVE, "moves": MOVE, "moving": MOVE, "coasting": MOVE, "passing": MOVE, "scooting": MOVE,
}


# Words that carry no attribute and that the parser does not know either; ignored, not reported.
STOP_WORDS: frozenset[str] = frozenset("""
please make show me render generate create give draw want need would like could can should let us
i you we my your our animation movie picture image shot footage film sequence very really quite
pretty kind sort bit slightly somewhat nice cute lovely simple some for so shaped colored coloured
sized tinted toned looking ish
""".split()) - set(CURATED)

# Derivational endings tried on an unknown word: "reddish" -> "red", "star-shaped" -> "star".
_SUFFIXES = ("ish", "er", "est", "ly", "like", "y", "ed", "s", "es", "colored", "coloured", "shaped",
             "sized", "tinted", "toned")
_WORD_RE = re.compile(r"[a-z0-9]+")


def parser_words(text: str) -> list[str]:
    """Split text into words the way the caption parser does (lower case, hyphens split)."""
    return _WORD_RE.findall(text.lower().replace("n't", " not").replace("-", " ").replace("_", " "))


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


@dataclass
class WordMapping:
    word: str  # as the user typed it (lower-cased)
    term: str  # what it became
    how: str  # "curated" | "form" | "embedding"
    score: float = 1.0  # cosine similarity for "embedding"


@dataclass
class Normalized:
    """A prompt with every word either understood, mapped onto the vocabulary, ignored or reported."""

    prompt: str  # what the user typed
    text: str  # the normalised prompt
    parsed: ParsedScene  # parse(text): the attributes the user stated
    mapped: list[WordMapping] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)


class WordMapper:
    """Normalises user prompts onto the vocabulary (see the module docstring for the order of rules).

    encoder: a `TextEncoder` for the embedding nearest-neighbour step, or a zero-argument callable
        returning one (loaded on first need: most prompts never reach that step); None disables it.
    threshold: minimum cosine similarity of the nearest anchor for an embedding match.
    top_k: anchors that vote (weighted by similarity) for the term.
    free_margin: added to the threshold when the word's place in the sentence does not narrow down
        its category (see `slot_categories`).
    """

    def __init__(self, encoder=None, threshold: float = 0.45, top_k: int = 3,
                 curated: dict[str, str] | None = None, free_margin: float = 0.1):
        self.curated = dict(CURATED if curated is None else curated)
        self.encoder = encoder
        self.threshold = threshold
        self.free_margin = free_margin
        self.top_k = top_k
        self._anchor_terms: list[str] = []
        self._anchor_vecs: torch.Tensor | None = None
        self._memo: dict[str, tuple[str, float] | None] = {}

    # -- embedding nearest neighbour -------------------------------------------------------------
    def _embed(self, words: list[str]) -> torch.Tensor:
        if callable(self.encoder) and not hasattr(self.encoder, "encode"):
            self.encoder = self.encoder()  # the lazy factory, resolved once
        return self.encoder.encode(words).pooled  # (N,D), unit length

    def _anchors(self) -> torch.Tensor:
        if self._anchor_vecs is None:
            labelled = {t: t for t in TERM_CATEGORY}
            labelled.update({w: t for w, t in _parser_synonyms().items() if w not in labelled})
            labelled.update({w: t for w, t in self.curated.items() if t in TERM_CATEGORY and w not in labelled})
            words = list(labelled)
            self._anchor_terms = [labelled[w] for w in words]
            self._anchor_vecs = self._embed(words)  # (A,D)
        return self._anchor_vecs

    def nearest_term(self, word: str, categories: frozenset[str] | None = None) -> tuple[str, float] | None:
        """(vocabulary term, similarity of the nearest anchor), or None below the threshold.

        categories: when the word's place in the sentence says what it can be (an adjective before a
        shape noun is a colour, size or speed; a word after a motion verb is a direction or a speed),
        only anchors of those categories compete; MiniLM's word similarities are weak enough that
        ruling out impossible readings matters.
        """
        if self.encoder is None:
            return None
        key = (word, categories)
        if key not in self._memo:
            sims = self._anchors() @ self._embed([word])[0]  # (A,)
            if categories:
                allowed = torch.tensor([TERM_CATEGORY[t] in categories for t in self._anchor_terms])
                sims = sims.masked_fill(~allowed, -1.0)
            top = sims.topk(min(self.top_k, sims.numel()))
            # Without a sentence slot to narrow it down, a guess needs stronger evidence.
            needed = self.threshold if categories else self.threshold + self.free_margin
            if float(top.values[0]) < needed:
                self._memo[key] = None
            else:
                votes: dict[str, float] = {}
                for v, i in zip(top.values.tolist(), top.indices.tolist()):
                    if v > -1.0:
                        votes[self._anchor_terms[i]] = votes.get(self._anchor_terms[i], 0.0) + v
                term = max(votes, key=votes.get)
                self._memo[key] = (term, float(top.values[0]))
        return self._memo[key]

    # -- one word the parser does not know ----------------------------------------------------------
    def map_word(self, word: str, categories: frozenset[str] | None = None) -> tuple[str | None, str, float]:
        """(replacement or None, how, score); how is curated/form/stop/embedding/unmapped."""
        if word in self.curated:
            return self.curated[word], "curated", 1.0
        known = {**_PARSER_SYNONYMS, **{t: t for t in TERM_CATEGORY}, **self.curated}
        for suffix in _SUFFIXES:
            if word.endswith(suffix) and len(word) > len(suffix) + 2:
                stem = word[:-len(suffix)]
                undoubled = stem[:-1] if stem[-1:] == stem[-2:-1] else None  # "reddish" -> "red"
                y_form = stem[:-1] + "y" if stem.endswith("i") else None  # "tiniest" -> "tiny"
                for cand in (stem, stem + "e", undoubled, y_form):
                    if cand and cand in known:
                        return known[cand], "form", 1.0
        if word in STOP_WORDS or word.isdigit():
            return None, "stop", 1.0
        hit = self.nearest_term(word, categories)
        if hit is not None:
            return hit[0], "embedding", hit[1]
        return None, "unmapped", 0.0

    # -- a whole prompt ----------------------------------------------------------------------------
    def normalize(self, prompt: str) -> Normalized:
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"a prompt must be a non-empty string, got {prompt!r}")
        first = parse(prompt)
        unknown = {w for w in first.unknown_words if " " not in w}
        return self.normalize_with(prompt, parser_words(prompt), unknown, set())

    def normalize_with(self, prompt: str, words: list[str], unknown: set[str], rejected: set[str]) -> Normalized:
        """`normalize` for a prompt split into `words`, of which `unknown` need mapping; words in
        `rejected` are reported as unmapped without a search."""
        out: list[str] = []
        mapped: list[WordMapping] = []
        unmapped: list[str] = []
        for i, w in enumerate(words):
            if w not in unknown:
                out.append(w)
                continue
            if w in rejected:
                unmapped.append(w)
                continue
            term, how, score = self.map_word(w, slot_categories(words, i, unknown))
            if how in ("curated", "form", "embedding"):
                mapped.append(WordMapping(w, term, how, score))
            elif how == "unmapped":
                unmapped.append(w)
            if term is not None:
                out.append(term)
        # "scarlet red" -> "red red" -> "red": a doubled term would read as two objects.
        out = [w for i, w in enumerate(out) if not (i and w == out[i - 1] and w in TERM_CATEGORY)]
        text = " ".join(out)
        parsed = parse(text)
        colors = [o.color for o in parsed.objects if o.color]
        repeated = {c for c in colors if colors.count(c) > 1}
        guesses = [m for m in mapped if m.how == "embedding" and m.term in repeated]
        if len(parsed.objects) > V.MAX_OBJECTS or len(parsed.objects) != parsed.count:
            # a guessed shape word may have opened an object the prompt does not have
            guesses += [m for m in mapped if m.how == "embedding" and TERM_CATEGORY.get(m.term) == "shape"
                        and m not in guesses]
        if guesses:
            # An embedding guess that contradicts the prompt's other words (two objects of one
            # colour, more objects than it names) is the weaker evidence: report the word instead.
            for m in guesses:
                mapped.remove(m)
                unmapped.append(m.word)
            return self.normalize_with(prompt, words, unknown, {m.word for m in guesses})
        # What the parser still cannot place (e.g. "red background": not a background we have).
        for w in parsed.unknown_words:
            if w not in unmapped:
                unmapped.append(w)
        return Normalized(prompt, text, parsed, mapped, unmapped)


_PARSER_SYNONYMS = _parser_synonyms()


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
    term = TERM_CATEGORY.get(word) and word or _PARSER_SYNONYMS.get(word)
    if term and TERM_CATEGORY.get(term):
        return TERM_CATEGORY[term]
    return "other"


_ADJECTIVE = frozenset({"color", "size", "speed"})
_NOUN = frozenset({"shape"})
_ADVERBIAL = frozenset({"motion", "speed"})
_BACKGROUND = frozenset({"background", "color"})


def slot_categories(words: list[str], i: int, unknown: set[str]) -> frozenset[str] | None:
    """The attribute categories word `i` can belong to, judged from its known neighbours
    (None when the neighbours do not say)."""
    def neighbour(step: int) -> str:
        j = i + step
        while 0 <= j < len(words):
            if words[j] in unknown:
                return "unknown"  # two unknown words side by side: neither tells the other's role
            if words[j] not in ("and", "to", "toward", "towards"):
                return word_kind(words[j])
            j += step
        return "edge"

    before, after = neighbour(-1), neighbour(+1)
    if after == "bgnoun":
        return _BACKGROUND
    if after in ("shape", "noun"):
        return _ADJECTIVE  # "a ruby circle", "a teeny red star"
    if after in ("color", "size") and before in ("article", "edge", "size", "color", "speed"):
        return _ADJECTIVE  # "a teeny red ..."
    if before in ("article", "color", "size") and after in ("verb", "motion", "speed", "edge", "other"):
        return _NOUN  # "a red slab gliding left"
    if before in ("verb", "shape", "noun", "motion"):
        return _ADVERBIAL  # "gliding westbound", "a circle plummeting"
    return None
