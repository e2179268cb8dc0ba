"""One word onto the MovingShapes vocabulary: `WordLookup.map_word` and the steps it runs in order
(curated lexicon, words outside the world, number compounds, stop-words, word forms, misspellings,
colour dictionaries, the WordNet thesaurus, MiniLM nearest neighbour; `normalize.py`'s docstring
gives the order and the reasons). `normalize.WordMapper` builds on it to read whole prompts.
"""

from __future__ import annotations

import torch

from minisora.text.color_names import ColorNames
from minisora.text.wordnet import WordNet
from minisora.world import vocabulary as V
from minisora.world.lexicon import (CURATED, FUNCTION_WORDS, HEADING_SUFFIXES, NOUN_READINGS, OUTSIDE_WORLD,
                                    PARSER_SYNONYMS, PHRASE_WORDS, PLACE_TERM, SLOPES, STOP_WORDS, SUFFIXES, TERM_CATEGORY)
from minisora.world.phrases import PHRASES, number_compound
from minisora.world.spelling import Speller, compound_shape, edit_distance
from minisora.world.thesaurus import thesaurus_vote


class WordLookup:
    """What one word means in the world: the tables, word forms, spelling, colour dictionaries, thesaurus
    and embedding steps of `map_word` (the order is the one `normalize.py` describes).

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
                                    is_english=(lambda w: w in FUNCTION_WORDS or bool(wn.senses(w))) if wn is not None else None,
                                    shortened=[*TERM_CATEGORY, "background", "please", "tiny", "big", "quick"],
                                    preferred=TERM_CATEGORY)
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

    def verbal_shape(self, word: str) -> bool:
        """A shape noun made a verb ("blocking", "boxed in", "starring", "dotted"): it names no shape,
        and no search should find one in it either."""
        for suffix in ("ing", "ed"):
            stem = word[:-len(suffix)]
            if word.endswith(suffix) and len(stem) >= 3:
                undoubled = stem[:-1] if stem[-1] == stem[-2] else stem
                if any(TERM_CATEGORY.get(self.known_term(c)) == "shape" for c in (stem, stem + "e", undoubled)):
                    return True
        return False

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
                        return None if self.verbal_shape(word) else term
        if not compounds:
            return None
        # Compounds. English puts the head last: a "fireball" is a ball, a "seagreen" thing is green.
        # A shape named first still gives the outline: a "starburst" is star-shaped. "up"/"down"
        # before a slope noun is a heading: "downhill", "upstream". Inflected words are no compounds
        # of this kind, and splitting them misleads: "soaring" does not end in a "ring".
        if word.endswith(("ing", "ed", "ly", "ness")):
            return None
        english = self.speller.is_english or (lambda w: True)  # without WordNet, as before
        for cut in range(2, len(word) - 2):
            head, rest = word[cut:], word[:cut]
            if rest in ("up", "down") and head in SLOPES:
                return rest
            term = self.known_term(head)
            # both parts of 3+ letters, so that "spring" and "string" do not end in a "ring"; the
            # other part a word, so that "projectile" does not end in a "tile"
            if cut >= 3 and TERM_CATEGORY.get(term) in ("color", "shape") and english(rest):
                return term
        for cut in range(len(word) - 3, 2, -1):
            term = self.known_term(word[:cut])
            if TERM_CATEGORY.get(term) == "shape" and english(word[cut:]):  # "disclaimer" is no disc
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
        if word in STOP_WORDS or word in FUNCTION_WORDS or word.isdigit():
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
        if self.verbal_shape(word):
            return None, "unmapped", 0.0
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
        term = self.slot_typo(word, categories)
        if term is not None:  # before the thesaurus and the embeddings, which would read "whit" as a word
            return term, "typo", 1.0
        hit = self.thesaurus_term(word, categories)
        if hit is not None:
            return hit[0], "thesaurus", hit[1]
        hit = self.nearest_term(word, categories)
        if hit is not None:
            return hit[0], "embedding", hit[1]
        return None, "unmapped", 0.0

    def slot_typo(self, word: str, categories: frozenset[str] | None) -> str | None:
        """An English word one edit from a colour or shape word, standing where only a colour or only a
        noun fits, and meaning nothing else there: "whit ball" is a white ball, "a white bawl bouncing" a
        ball (the speller leaves English words alone; here the sentence says it is a slip). The first
        letter must match, as it does in most slips."""
        if categories is None or not categories & {"color", "shape"} or len(word) < 4 or not word.isalpha():
            return None
        terms = set()
        for cand in self.speller.known:
            if cand[0] != word[0] or abs(len(cand) - len(word)) > 1 or cand == word:
                continue
            kind, value = PHRASES.get((cand,), (None, None))  # the parser's own words, not the curated
            if kind in ("color", "shape") and kind in categories and edit_distance(word, cand, 1) == 1:
                terms.add(value[0] if kind == "shape" else value)  # metaphors ("sand", "tent", "crate")
        return terms.pop() if len(terms) == 1 else None
