"""The thesaurus step of the prompt normaliser: what WordNet says an unknown word means, as votes for
the world's terms (see `normalize.py`, step 6)."""

from __future__ import annotations

import re
from typing import Callable

from minisora.text.wordnet import WordNet
from minisora.world.lexicon import TERM_CATEGORY

# How much a word linked to an unknown word in WordNet says about it: a synonym (same synset) or a
# definition word most; the head adjective it is "similar to" ("languid" -> "lethargic") and the
# adjective an adverb pertains to ("hurriedly" -> "hurried") nearly as much; a part of a multi-word
# synonym ("soar up") or a hypernym ("marble" is a kind of "ball") less; "see also" least.
THESAURUS_WEIGHTS = {"synonym": 1.0, "definition": 0.7, "similar": 0.8, "pertains": 0.8,
                     "synonym part": 0.5, "hypernym": 0.5, "see also": 0.3}
THESAURUS_MIN = 0.6
THESAURUS_MARGIN = 1.5
_POINTER_RELATION = {"&": "similar", "\\": "pertains", "@": "hypernym", "@i": "hypernym", "^": "see also"}


def _thesaurus_evidence(wn: WordNet, synset, word: str):
    """(related word, relation) pairs of one synset of `word`."""
    for lemma in synset.lemmas:
        if lemma == word:
            continue
        parts = re.split(r"[_\-]", lemma)
        if len(parts) == 1:
            yield lemma, "synonym"
        else:
            for part in parts:
                yield part, "synonym part"
    for w in synset.definition_words():
        yield w, "definition"
    for symbol, offset, pos in synset.pointers:
        relation = _POINTER_RELATION.get(symbol)
        if relation is None:
            continue
        for lemma in wn.synset(pos, offset).lemmas:
            if "_" not in lemma and "-" not in lemma:
                yield lemma, relation


def thesaurus_vote(wn: WordNet, word: str, categories: frozenset[str] | None,
                   known_term: Callable[[str], str | None]) -> tuple[str, float] | None:
    """(term, evidence) for `word`, or None when the evidence is too thin or split (the rule is in
    `WordMapper.thesaurus_term`'s docstring). known_term: the term a related word stands for by table."""
    votes: dict[str, float] = {}
    rank_in_pos: dict[str, int] = {}
    for synset in wn.senses(word):
        rank = rank_in_pos.get(synset.pos, 0)
        rank_in_pos[synset.pos] = rank + 1
        for related, relation in _thesaurus_evidence(wn, synset, word):
            term = known_term(related)
            category = TERM_CATEGORY.get(term)
            if category is None or (categories and category not in categories):
                continue
            if relation == "definition" and synset.pos == "n" and category not in ("color", "background"):
                # a noun's definition describes the thing: its colour is what "a honey circle"
                # means, its size or speed is not ("moss: tiny leafy plants" says nothing small)
                continue
            votes[term] = votes.get(term, 0.0) + THESAURUS_WEIGHTS[relation] / (1 + rank)
    ranked = sorted(votes.items(), key=lambda kv: -kv[1])
    hit = None
    if ranked:
        best, score = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        needed = THESAURUS_MIN * (1 if categories else 2)
        if score >= needed and score >= THESAURUS_MARGIN * runner_up:
            hit = (best, round(score, 3))
    return hit
