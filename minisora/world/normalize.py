"""Map the words users type onto the MovingShapes vocabulary, and say what could not be mapped.

Users write "crimson ball drifting to the left" or "a box sliding upward"; the world's grammar
(`grammar.parse`) knows "red", "ball", "drifting", "left", "box", "upward". Only the words the
parser cannot place are mapped, each in this order (tables in `lexicon.py`):

1. the curated lexicon (`LEXICON`, inverted into `CURATED`): several hundred common English words
   for the colours, shapes, sizes, directions and speeds, checked first because it is exact;
2. words for things the world lacks ("hexagon", "spinning", `OUTSIDE_WORLD`) are reported at once;
   so are number compounds naming no shape ("two-tone", "one-eyed"), while "three-sided",
   "four-sided" and "five-pointed" name the triangle, square and star (`spelling.compound_shape`):
   their number is never a count;
3. stop-words ("please", "show", "me") are ignored;
4. word-form rules on a known word: endings ("reddish", "cubic", "starlike", "tinier"), "-ular"
   ("triangular") and headings ("northbound", "skyward", "earthward"); then misspellings of a known
   word within one or two edits ("cirlce", "rihgt"; `spelling.Speller`, never for an English word);
   then compounds ("snowball", "skyblue", "downhill", "starburst");
5. colour names: where the word's place in the sentence admits a colour (`slot_categories`), the xkcd
   and CSS colour dictionaries are consulted (`color_names.ColorNames`): "denim", "eggplant", and
   two-word names such as "pea soup", are placed on the palette by the colour they name; a colour
   name between two palette colours, or grey where an object needs a colour, is reported;
6. the thesaurus (WordNet 3.0, `wordnet.py`): the word's synonyms, the adjectives it is "similar
   to", its hypernyms and the words of its definitions vote for the vocabulary terms they name by
   table ("minuscule": "very small"; "nimble" shares a synset with "quick"; "languid" is similar to
   "lethargic"), each sense weighted by its frequency rank, restricted to the categories its place in
   the sentence allows; skipped when the database is not installed;
7. embedding nearest neighbour: the word is embedded with the text encoder (MiniLM) and compared with
   every word whose meaning is known (vocabulary, parser synonyms, lexicon), restricted to the
   categories its place in the sentence allows (`slot_categories`), accepted above a threshold;
8. anything else is reported as unmapped, never silently dropped.

A colour word right before another colour ("light blue", "cherry red") is a shade of the second,
not a colour of its own, unless punctuation parts them ("ruby, violet and amber"). A shape said by an
adjective ("round", "triangular", "three-sided") is moved next to the noun it describes
(`lexicon.move_shape_modifiers`): "a three-sided green shape" is one green triangle. The result is re-parsed; what the parser still cannot place ("on ivory":
white is no background the world has) is reported as unmapped too.

MiniLM knows little about colours: asked which palette colour a colour name is nearest, it is right
about a quarter of the time (chance: one in eight), against 75-90% for shapes, sizes, speeds and
directions. Colour names therefore come from the lexicon, a word form of one, or a colour dictionary
(step 5), and only what none of those knows ("carrot") is left to MiniLM.

Parser words that only mean something inside a phrase ("upper" in "toward the upper left") are
mapped last: in "toward the upper westbound" the parser reads "upper left" once "westbound" is
mapped, while "upper" mapped on its own ("up") would break the phrase.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from minisora.text.color_names import ColorNames
from minisora.text.wordnet import WordNet
from minisora.world import vocabulary as V
from minisora.world.grammar import NUMBER_PREFIXES, PHRASES, clause_breaks, number_compound, parse, tokenize
from minisora.world.lexicon import (COLOR_MODIFIERS, CURATED, HEADING_SUFFIXES, OUTSIDE_WORLD, PARSER_SYNONYMS,
                                    NOUN_READINGS, PHRASE_WORDS, PLACE_TERM, SLOPES, STOP_WORDS, SUFFIXES,
                                    TERM_CATEGORY, is_adjectival, move_shape_modifiers, slot_categories, word_kind)
from minisora.world.scene import ParsedScene
from minisora.world.spelling import Speller, compound_shape
from minisora.world.thesaurus import thesaurus_vote


@dataclass
class WordMapping:
    word: str  # as the user typed it (lower-cased)
    term: str  # what it became
    how: str  # "curated" | "form" | "color name" | "thesaurus" | "embedding" | "shade" (a modifier of the colour
    # named next) | "place" (where a heading points: "toward the floor") | "letter" ("n" for "and" or north)
    score: float = 1.0  # cosine similarity for "embedding", share of the neighbours' votes for "color name",
    # summed evidence weight for "thesaurus"


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
    top_k: how many of a term's nearest anchors are averaged into its score.
    free_margin: added to the threshold when the word's place in the sentence does not narrow down
        its category (see `slot_categories`).
    slot_margin: taken off the threshold when the word's place admits one category only. Measured:
        made-up words ("zorblax", "glorbish") score at most 0.37 against the shapes, real shape
        nouns outside the lexicon ("slab", "globule", "bauble") 0.40 to 0.70.
    """

    def __init__(self, encoder=None, threshold: float = 0.45, top_k: int = 2,
                 curated: dict[str, str] | None = None, free_margin: float = 0.1, slot_margin: float = 0.05,
                 wordnet: "WordNet | None | str" = "auto"):
        self.curated = dict(CURATED if curated is None else curated)
        self.encoder = encoder
        self.threshold = threshold
        self.free_margin = free_margin
        self.slot_margin = slot_margin
        self.top_k = top_k
        self._anchor_terms: list[str] = []
        self._anchor_index: dict[str, torch.Tensor] = {}
        self._anchor_vecs: torch.Tensor | None = None
        self._memo: dict[str, tuple[str, float] | None] = {}
        self.color_names = ColorNames(self.palette_term)
        self._wordnet = wordnet  # "auto": found on first need (None when not installed)
        self._thesaurus_memo: dict[tuple, tuple[str, float] | None] = {}
        self._speller: Speller | None = None

    # -- embedding nearest neighbour -------------------------------------------------------------
    def _embed(self, words: list[str]) -> torch.Tensor:
        if callable(self.encoder) and not hasattr(self.encoder, "encode"):
            self.encoder = self.encoder()  # the lazy factory, resolved once
        return self.encoder.encode(words).pooled  # (N,D), unit length

    def _anchors(self) -> torch.Tensor:
        if self._anchor_vecs is None:
            labelled = {t: t for t in TERM_CATEGORY}
            labelled.update({w: t for w, t in PARSER_SYNONYMS.items() if w not in labelled})
            labelled.update({w: t for w, t in self.curated.items() if t in TERM_CATEGORY and w not in labelled})
            words = list(labelled)
            self._anchor_terms = [labelled[w] for w in words]
            self._anchor_index = {}  # term -> positions of its anchors
            for i, t in enumerate(self._anchor_terms):
                self._anchor_index.setdefault(t, []).append(i)
            self._anchor_index = {t: torch.tensor(ix) for t, ix in self._anchor_index.items()}
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
            # Each term is scored by the mean similarity of its `top_k` nearest anchors: one stray
            # neighbour (MiniLM puts "ruby" next to "sapphire") then outvotes less than in a global
            # top-k vote. Measured leave-one-out on the lexicon: 63% vs 59% for a top-3 vote.
            best, best_score = None, -1.0
            for term, idx in self._anchor_index.items():
                if categories and TERM_CATEGORY[term] not in categories:
                    continue
                score = float(sims[idx].topk(min(self.top_k, len(idx))).values.mean())
                if score > best_score:
                    best, best_score = term, score
            # Without a sentence slot to narrow it down, a guess needs stronger evidence; a slot that
            # admits one category only ("a red ___ gliding left" is a shape) needs less.
            needed = self.threshold + (self.free_margin if not categories else
                                       -self.slot_margin if len(categories) == 1 else 0.0)
            self._memo[key] = (best, best_score) if best is not None and best_score >= needed else None
        return self._memo[key]

    # -- thesaurus ----------------------------------------------------------------------------------
    def word_meaning(self, word: str) -> object:
        """What a known word stands for, number aside ("circles" and "circle" mean one thing)."""
        if word in STOP_WORDS:
            return "stop"  # "colour" and "color" are one meaning: ignored
        kind, value = PHRASES.get((word,), (None, word))
        if word in self.curated or word[:-1] in self.curated:
            return self.curated.get(word) or self.curated[word[:-1]]
        return (kind, value[0] if isinstance(value, tuple) else value)

    @property
    def speller(self) -> Speller:
        """Typo correction onto every single word the parser or the tables know (`spelling.py`)."""
        if self._speller is None:
            # Function words too: "toard" is "toward", not "board".
            known = [k[0] for k in PHRASES if len(k) == 1] + list(self.curated) + list(TERM_CATEGORY)
            known += list(V.FILLER_WORDS) + list(STOP_WORDS) + list(PHRASE_WORDS)
            # plurals of the curated nouns ("sheres" is "spheres")
            known += [w + "s" for w, term in self.curated.items() if TERM_CATEGORY.get(term) == "shape"]
            wn = self.wordnet
            self._speller = Speller(known, meaning=self.word_meaning,
                                    is_english=(lambda w: bool(wn.senses(w))) if wn is not None else None)
        return self._speller

    @property
    def wordnet(self) -> WordNet | None:
        if self._wordnet == "auto":
            self._wordnet = WordNet.find()
        return self._wordnet

    def thesaurus_term(self, word: str, categories: frozenset[str] | None = None) -> tuple[str, float] | None:
        """(vocabulary term, evidence) from WordNet, or None when the evidence is too thin or split.

        Every sense of the word (rank r within its part of speech, weight 1 / (1 + r)) contributes the
        words it is linked to, each at its relation's weight (`thesaurus.THESAURUS_WEIGHTS`); a related word
        votes for the term the tables give it. Only terms of the categories the word's place admits
        compete. The winner needs THESAURUS_MIN evidence (twice that in a slot that says nothing, as
        for the embedding step) and THESAURUS_MARGIN times the runner-up's.
        """
        wn = self.wordnet
        if wn is None:
            return None
        key = (word, categories)
        if key in self._thesaurus_memo:
            return self._thesaurus_memo[key]
        hit = thesaurus_vote(wn, word, categories, self.known_term)
        self._thesaurus_memo[key] = hit
        return hit

    # -- one word the parser does not know ----------------------------------------------------------
    def known_term(self, word: str) -> str | None:
        """The term a word stands for by table alone (vocabulary, parser synonyms, curated), or None."""
        if word in TERM_CATEGORY:
            return word
        return self.curated.get(word) or PARSER_SYNONYMS.get(word)

    def word_form(self, word: str, compounds: bool = True) -> str | None:
        """The term a derived or compound form of a known word stands for ("reddish", "cubic",
        "triangular", "earthward", "westbound", "downhill", "starburst", "fireball"), or None."""
        for suffix in HEADING_SUFFIXES:  # a heading: "<place>ward", "<place>bound"
            stem = word[:-len(suffix)]
            if word.endswith(suffix) and len(stem) >= 2:
                term = PLACE_TERM.get(stem) or self.known_term(stem)
                if term in V.DIRECTIONAL_MOTIONS:
                    return term
        if word.endswith("ular"):  # "circular" -> "circle", "rectangular" -> "rectangle"
            term = self.known_term(word[:-4] + "le")
            if term:
                return term
        for suffix in SUFFIXES:
            if word.endswith(suffix) and len(word) >= len(suffix) + 2:  # "icy" -> "ice"
                stem = word[:-len(suffix)]
                undoubled = stem[:-1] if stem[-1:] == stem[-2:-1] else None  # "reddish" -> "red"
                y_form = stem[:-1] + "y" if stem.endswith("i") else None  # "tiniest" -> "tiny"
                for cand in (stem, stem + "e", undoubled, y_form):
                    term = self.known_term(cand) if cand else None
                    if term:
                        return term
        if not compounds:
            return None
        # Compounds. English puts the head last: a "fireball" is a ball, a "seagreen" thing is green.
        # A shape named first still gives the outline: a "starburst" is star-shaped. "up"/"down"
        # before a slope noun is a heading: "downhill", "upstream". Inflected words are no compounds
        # of this kind, and splitting them misleads: "soaring" does not end in a "ring".
        if word.endswith(("ing", "ed", "ly", "ness")):
            return None
        for cut in range(2, len(word) - 2):
            head, rest = word[cut:], word[:cut]
            if rest in ("up", "down") and head in SLOPES:
                return rest
            term = self.known_term(head)
            # both parts of 3+ letters, so that "spring" and "string" do not end in a "ring"
            if cut >= 3 and TERM_CATEGORY.get(term) in ("color", "shape"):
                return term
        for cut in range(len(word) - 3, 2, -1):
            term = self.known_term(word[:cut])
            if TERM_CATEGORY.get(term) == "shape":
                return term
        return None

    def palette_term(self, word: str) -> str | None:
        """The colour (object or background) a word names by table alone, or None."""
        term = self.known_term(word)
        return term if TERM_CATEGORY.get(term) in ("color", "background") else None

    def color_of(self, word: str) -> str | None:
        """The colour (object or background) a word names by table, word form or colour dictionary,
        or None."""
        term = self.known_term(word) or (self.word_form(word) if word not in OUTSIDE_WORLD else None)
        if term is None:
            verdict = self.color_names.lookup(word, TERM_CATEGORY)
            term = verdict.term if verdict else None
        return term if TERM_CATEGORY.get(term) in ("color", "background") else None

    def color_name(self, name: str, categories: frozenset[str] | None):
        """`ColorNames.lookup` for a word or two-word name whose place admits a colour, else None: only
        there is a dictionary name read as a colour ("sky", "ocean" and "sand" are xkcd colours too)."""
        if not {"color", "background"} & set(categories or ()):
            return None
        return self.color_names.lookup(name, [t for t, c in TERM_CATEGORY.items() if c in categories])

    def map_word(self, word: str, categories: frozenset[str] | None = None) -> tuple[str | None, str, float]:
        """(replacement or None, how, score); how is curated/form/stop/outside/color name/thesaurus/
        embedding/unmapped."""
        if word in self.curated:
            term = self.curated[word]
            if word in NOUN_READINGS and categories is not None and "shape" in categories \
                    and not {"color", "background"} & categories:
                # where only a noun can stand, "sun" names a thing: a yellow sun is round, the sky
                # in "across the sky" is no second (blue) object
                shape = NOUN_READINGS[word]
                return (shape, "curated", 1.0) if shape else (None, "unmapped", 0.0)
            return term, "curated", 1.0
        if word in OUTSIDE_WORLD:
            return None, "outside", 0.0
        if len(word) == 6 and all(c in "0123456789abcdef" for c in word):  # "#FFA500": the nearest colour
            rgb = [int(word[k:k + 2], 16) for k in (0, 2, 4)]
            table = {**V.COLORS, **V.BACKGROUNDS}
            return min(table, key=lambda c: sum((a - b) ** 2 for a, b in zip(rgb, table[c]))), "hex", 1.0
        if number_compound(word) is not None:  # "five-pointed": a star, never five objects
            shape = compound_shape(word)
            return (shape, "compound", 1.0) if shape else (None, "unmapped", 0.0)
        if word in STOP_WORDS or word.isdigit():
            return None, "stop", 1.0
        term = self.word_form(word, compounds=False)
        if term is not None:
            return term, "form", 1.0
        if word.endswith("in") and len(word) > 4:  # "movin", "chillin", "zippin": the g dropped
            full = word + "g"
            if (full,) in PHRASES or full in V.FILLER_WORDS or full in PHRASE_WORDS:
                return full, "form", 1.0
            term = self.known_term(full) or self.word_form(full, compounds=False)
            if term is not None:
                return term, "form", 1.0
        # A misspelling before compounds: "bckground" is no compound ending in "round"
        fix = self.speller.correct(word)
        for suffix in SUFFIXES if fix is None else ():  # a misspelt stem: "smalish" is "small" + "ish"
            stem = word[:-len(suffix)]
            if word.endswith(suffix) and len(stem) >= 4 and self.speller.correct(stem) in TERM_CATEGORY:
                fix = self.speller.correct(stem)
                break
        if fix in STOP_WORDS:
            return None, "stop", 1.0
        if fix is not None:  # "cirlce" -> "circle": the word itself, so it keeps its role in the sentence
            known = fix in V.FILLER_WORDS or (fix,) in PHRASES or fix in PHRASE_WORDS
            term = fix if known else self.curated.get(fix) or self.word_form(fix)
            if term is not None:
                return term, "typo", 1.0
        term = self.word_form(word)
        if term is not None:
            return term, "form", 1.0
        verdict = self.color_name(word, categories)
        if verdict is not None:  # a colour name: placed by its colour, or reported, never guessed
            return (verdict.term, "color name", verdict.share) if verdict.term else (None, "unmapped", 0.0)
        hit = self.thesaurus_term(word, categories)
        if hit is not None:
            return hit[0], "thesaurus", hit[1]
        hit = self.nearest_term(word, categories)
        if hit is not None:
            return hit[0], "embedding", hit[1]
        return None, "unmapped", 0.0

    @staticmethod
    def comparisons(words: list[str], breaks: set[int]) -> set[int]:
        """Positions of similes: "like a rubber ball", "quick as a fox", "slow as an autumn afternoon",
        from "like"/"as" to the clause's end, when an attribute or motion word comes right before
        ("as a red circle passes, ..." and "I'd like a red circle" are no comparisons)."""
        out: set[int] = set()
        for i, w in enumerate(words[:-1]):
            if w not in ("like", "as") or words[i + 1] not in ("a", "an", "the") or i == 0 or i - 1 in breaks:
                continue
            prev = words[i - 1]
            kind = word_kind(prev) if prev not in CURATED else TERM_CATEGORY.get(CURATED[prev], "verb")
            if kind not in ("speed", "size", "color", "motion", "verb"):
                continue  # "can u do like a yellow ball": "like" is no comparison here
            k = i
            while k < len(words):
                out.add(k)
                if k in breaks:
                    break
                k += 1
        return out

    @staticmethod
    def single_letter(words: list[str], i: int, breaks: set[int]) -> str | None:
        """A lone letter users type for a word: "n" between two attributes is "and" ("red n blue",
        "a dot n a square"); "n", "e", "w" after a noun or a heading word, at a clause's end, are
        compass points ("red square N,"; "S" is never read: it is the "'s" of "it's")."""
        w = words[i]
        if w not in ("n", "e", "w"):
            return None
        prev = word_kind(words[i - 1]) if i else "edge"
        nxt = word_kind(words[i + 1]) if i + 1 < len(words) else "edge"
        if w == "n" and prev in ("color", "shape", "noun", "size", "speed", "motion") and \
                nxt in ("color", "shape", "noun", "size", "article", "other"):
            if i not in breaks:
                return "and"
        at_end = i + 1 == len(words) or i in breaks
        heading = i and words[i - 1] in ("direction", "heading", "going", "moving", "towards", "toward", "to")
        if at_end and (prev in ("shape", "noun") or heading):
            return {"n": "up", "e": "right", "w": "left"}[w]
        return None

    def two_word_color(self, words: list[str], i: int, unknown: set[str], resolved: dict[str, str]):
        """The verdict for words i, i+1 as one colour name ("pea soup", "burnt sienna") when neither
        is a colour word of its own, both are unknown to the parser, and the pair stands where a
        colour may; else None. (A colour word second, as in "denim blue", makes the first a shade.)"""
        if i + 1 >= len(words) or words[i + 1] not in unknown or self.color_of(words[i + 1]):
            return None
        verdict = self.color_name(f"{words[i]} {words[i + 1]}", slot_categories(words, i + 1, unknown, resolved))
        return verdict if verdict is not None and verdict.term is not None else None

    # -- a whole prompt ----------------------------------------------------------------------------
    def normalize(self, prompt: str) -> Normalized:
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"a prompt must be a non-empty string, got {prompt!r}")
        first = parse(prompt)
        words = tokenize(prompt)
        unknown = {w for w in first.unknown_words if " " not in w}
        # Phrase words ("upper", "lower") are left for last: mapping their neighbours may complete a
        # phrase the parser knows ("toward the upper westbound" -> "toward the upper left").
        deferred = unknown & PHRASE_WORDS
        if deferred:
            trial = self.normalize_with(prompt, words, unknown - deferred, set())
            unknown = (unknown - deferred) | (deferred & set(trial.parsed.unknown_words))
        return self.normalize_with(prompt, words, unknown, set())

    def normalize_with(self, prompt: str, words: list[str], unknown: set[str], rejected: set[str]) -> Normalized:
        """`normalize` for a prompt split into `words`, of which `unknown` need mapping; words in
        `rejected` are reported as unmapped without a search."""
        out: list[str] = []
        mapped: list[WordMapping] = []
        unmapped: list[str] = []
        modifiers: set[int] = set()  # positions in `out` of shape words said as adjectives
        breaks = clause_breaks(prompt)
        # Words the tables resolve without a search first: they tell their neighbours' slots.
        resolved = {w: t for w in unknown if w not in rejected
                    for t in [self.curated.get(w) or (None if w in OUTSIDE_WORLD else self.word_form(w))] if t}
        # Colour names the dictionaries place tell their neighbours' roles too: in "a large cornflower
        # trigon" trigon is the noun once cornflower is known to be a colour.
        for i, w in enumerate(words):
            if w in unknown and w not in resolved and w not in rejected:
                verdict = self.color_name(w, slot_categories(words, i, unknown, resolved))
                if verdict is not None and verdict.term is not None:
                    resolved[w] = verdict.term
        skip = -1  # the second word of a two-word colour name, consumed with the first
        compared = self.comparisons(words, breaks)
        named_by_number = {k for i, w in enumerate(words) if w in NUMBER_PREFIXES and w not in ("one", "single") and i
                           and words[i - 1] in unknown and i - 1 not in breaks for k in (i - 1, i)}
        for i, w in enumerate(words):
            if i - 1 in breaks and out and out[-1] != ",":
                out.append(",")  # the prompt's punctuation still parts its clauses in the mapped text
            if i == skip:
                continue
            shaped = i + 1 < len(words) and words[i + 1] == "shaped"  # "a square shaped red object"
            if i in compared:  # "quick as a fox", "like a rubber ball": a comparison, never an object
                if i == min(k for k in compared if k <= i and k - 1 not in compared):
                    span = [k for k in range(i, len(words)) if all(m in compared for m in range(i, k + 1))]
                    unmapped.append(" ".join(words[k] for k in span))
                continue
            if i in named_by_number:  # "Level 2 boss", "player 1": a name, never a count
                if w not in NUMBER_PREFIXES:
                    unmapped.append(f"{w} {words[i + 1]}")
                continue
            if w not in unknown:
                if shaped and word_kind(w) == "shape":
                    modifiers.add(len(out))
                out.append(w)
                continue
            if w in rejected:
                unmapped.append(w)
                continue
            letter = self.single_letter(words, i, breaks)
            if letter is not None:  # "red n blue" is "and"; "red square N," is north
                mapped.append(WordMapping(w, letter, "letter"))
                out.append(letter)
                continue
            j = i - 1
            while j >= 0 and words[j] in ("the", "a"):
                j -= 1
            if w in PLACE_TERM and j >= 0 and words[j] in ("toward", "towards", "to", "into", "onto"):
                # "sinking toward the floor", "up into the sky": a place names the heading, never an object
                mapped.append(WordMapping(w, PLACE_TERM[w], "place"))
                out.append(PLACE_TERM[w])
                continue
            pair = self.two_word_color(words, i, unknown - rejected, resolved)
            if pair is not None:
                mapped.append(WordMapping(f"{w} {words[i + 1]}", pair.term, "color name", pair.share))
                out.append(pair.term)
                skip = i + 1
                continue
            term, how, score = self.map_word(w, slot_categories(words, i, unknown, resolved))
            # a shade of the colour named next, unless punctuation parts them ("ruby, violet")
            shade_of = self.color_of(words[i + 1]) if i + 1 < len(words) and i not in breaks else None
            if shade_of and (w in COLOR_MODIFIERS or TERM_CATEGORY.get(term) in ("color", "background")
                             or f"{w} {words[i + 1]}" in self.color_names):
                # "light blue", "cherry red", "burnt sienna" (a dictionary colour name): a shade of
                # the colour named next, not a colour of its own (two colours in a row would open a
                # second object)
                mapped.append(WordMapping(w, shade_of, "shade"))
                continue
            if how in ("curated", "form", "compound", "typo", "color name", "thesaurus", "embedding", "hex"):
                mapped.append(WordMapping(w, term, how, score))
                if TERM_CATEGORY.get(term) == "shape" and (how == "compound" or is_adjectival(w) or shaped):
                    modifiers.add(len(out))  # "a three-sided green shape": the shape is said by an adjective
            elif how in ("unmapped", "outside"):
                unmapped.append(w)
            if term is not None:
                out.append(term)
            elif out and out[-1] in NUMBER_PREFIXES and i >= 1 and words[i - 1] == out[-1] and \
                    (i == 1 or i - 2 in breaks) and i + 1 < len(words) and \
                    (i in breaks or words[i + 1] in ("a", "an")):
                out.append("shapes")  # "two travellers: a ...", "3 objs: ...": what is counted is the scene
        # "scarlet red" -> "red red" -> "red": a doubled term would read as two objects.
        out = move_shape_modifiers(out, modifiers)
        out = [w for i, w in enumerate(out) if not (i and w == out[i - 1] and w in TERM_CATEGORY)]
        collapsed: list[str] = []  # "bigger and bigger", "faster and faster": one attribute, not two objects
        for w in out:
            if len(collapsed) >= 2 and collapsed[-1] == "and" and collapsed[-2] == w and \
                    PHRASES.get((w,), ("",))[0] in ("size", "speed"):
                collapsed.pop()
                continue
            collapsed.append(w)
        out = collapsed
        text = " ".join(out)
        parsed = parse(text)
        colors = [o.color for o in parsed.objects if o.color]
        repeated = {c for c in colors if colors.count(c) > 1}
        guesses = [m for m in mapped if m.how in _GUESSES and m.term in repeated]
        if len(parsed.objects) > V.MAX_OBJECTS or len(parsed.objects) != parsed.count:
            # a guessed word may have opened an object the prompt does not have: shapes are the
            # likeliest culprits ("a red slab" read as two nouns); failing that, any guess
            guessed = [m for m in mapped if m.how in _GUESSES and m not in guesses]
            guesses += [m for m in guessed if TERM_CATEGORY.get(m.term) == "shape"] or guessed
        if guesses:
            # A thesaurus or embedding guess that contradicts the prompt's other words (two objects of one
            # colour, more objects than it names) is the weaker evidence: report the word instead.
            for m in guesses:
                mapped.remove(m)
                unmapped.append(m.word)
            return self.normalize_with(prompt, words, unknown, {m.word for m in guesses})
        # What the parser still cannot place (e.g. "red background": not a background we have).
        for w in parsed.unknown_words:
            w = next((m.word for m in mapped if m.term == w), w)  # the user's word, not the term it became
            if w not in unmapped:
                unmapped.append(w)
        return Normalized(prompt, text, parsed, mapped, unmapped)


# Mappings found by search rather than by table: the ones withdrawn when they contradict the prompt.
_GUESSES = ("thesaurus", "embedding", "typo")
