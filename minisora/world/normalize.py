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

from minisora.world.corrections import FIX, apply_corrections, marker_at
from minisora.world.edits import edited
from minisora.world.film import lights_colour
from minisora.world.homophones import homophone
from minisora.world.grammar import parse
from minisora.world.guesses import GUESSES, agrees, made_of_guesses, opened_by_guess, said_without_guess
from minisora.world.lists import joined_colors
from minisora.world.lexicon import (COLOR_MODIFIERS, CURATED, NOUN_READINGS, OUTSIDE_SHAPES, OUTSIDE_WORLD,
                                    PHRASE_WORDS, PLACE_TERM, TERM_CATEGORY, VERB_READINGS, is_adjectival,
                                    move_shape_modifiers, slot_categories, word_kind)
from minisora.world.comparisons import compared_opposites, settle_comparisons
from minisora.world.phrases import NUMBER_PREFIXES, PHRASES, clause_breaks, tokenize
from minisora.world.word_roles import simile_positions, single_letter
from minisora.world.scene import ParsedScene
from minisora.world.word_lookup import WordLookup


@dataclass
class WordMapping:
    word: str  # as the user typed it (lower-cased)
    term: str  # what it became
    how: str  # "curated" | "form" | "color name" | "thesaurus" | "embedding" | "shade" (a modifier of the colour
    # named next) | "place" (where a heading points: "toward the floor") | "letter" ("n" for "and" or north) | "homophone" ("read" for red)
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


class WordMapper(WordLookup):
    """Normalises user prompts onto the vocabulary (see the module docstring for the order of rules);
    the arguments are `WordLookup`'s."""

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
        return edited(prompt, self.normalize_plain) or self.normalize_plain(prompt)  # "... Scrap the square."

    def normalize_plain(self, prompt: str) -> Normalized:
        """`normalize` without edits said inside the prompt (`edits.py`)."""
        first = parse(prompt)
        words = tokenize(prompt)
        # words the parser knows but reported (a stray adjective's, grammar.parse) need no mapping
        unknown = {w for w in first.unknown_words if " " not in w and (w,) not in PHRASES}
        # Phrase words ("upper", "lower") are left for last: mapping their neighbours may complete a
        # phrase the parser knows ("toward the upper westbound" -> "toward the upper left").
        deferred = unknown & PHRASE_WORDS
        if deferred:
            trial = self.normalize_with(prompt, words, unknown - deferred, set())
            unknown = (unknown - deferred) | (deferred & set(trial.parsed.unknown_words))
        return made_of_guesses(self, prompt, words, unknown, self.normalize_with(prompt, words, unknown, set()))

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
        fix_until = -1  # the words of a correction marker
        compared = simile_positions(words, breaks)

        def counts_the_scene(i: int) -> bool:
            """Word i is an unknown noun after a number that opens its clause, with more to come: "two
            travellers: a ...", "3 objs: ...", "Three runners: red square up, ...": what is counted is
            the scene's objects (read as "shapes")."""
            then = i + 1 + (i + 1 < len(words) and words[i + 1] in ("please", "pls", "plz"))  # "three elements please:"
            return bool(out) and out[-1] in NUMBER_PREFIXES and i >= 1 and words[i - 1] == out[-1] and \
                (i == 1 or i - 2 in breaks) and then < len(words) and (then - 1 in breaks or words[then] in ("a", "an"))

        def names_nothing(i: int) -> bool:  # "STEP ONE put a ...", "Scene one:": "one" heads no noun phrase
            return i in breaks or i + 1 == len(words) or word_kind(words[i + 1]) in ("other", "verb")

        named_by_number = {k for i, w in enumerate(words) if w in NUMBER_PREFIXES and i
                           and (w not in ("one", "single")
                                or names_nothing(i) and not self.speller.correct(words[i - 1]))
                           and words[i - 1] in unknown and i - 1 not in breaks and words[i - 1] not in CURATED
                           and words[i - 1] not in _BEFORE_A_COUNT and not self.word_form(words[i - 1])
                           for k in (i - 1, i)}
        opposite_at = compared_opposites(words, word_kind)
        for i, w in enumerate(words):
            if i in opposite_at:
                out.append(opposite_at[i])  # "larger than the cyan square (small)"
            if i - 1 in breaks and out and out[-1] != ",":
                out.append(",")  # the prompt's punctuation still parts its clauses in the mapped text
            if i == skip or i < fix_until:
                continue
            if w == "right" and i in breaks and (i == 0 or i - 1 in breaks and i + 2 < len(words) and
                                                 words[i + 1] in ("and", "so") and
                                                 words[i + 2] in ("it", "i", "then", "you", "we", "they")):
                continue  # "Right, I'd like ...", "a big blue square, right, and it zooms off": no heading
            letter = single_letter(words, i, breaks)  # before the known words: "s" is one
            if letter is not None:  # "red n blue" is "and"; "red square N," is north
                mapped.append(WordMapping(w, letter, "letter"))
                out.append(letter)
                continue
            if w in _LIGHT and i + 1 < len(words) and words[i + 1] == "blue" and i not in breaks:
                mapped.append(WordMapping(f"{w} blue", "cyan", "curated"))  # "light blue", "sky blue": the
                out.append("cyan")  # world's light blue is cyan (its blue is a deep one)
                skip = i + 1
                continue
            if (w in ("a", "b", "c", "d") or w.isdigit()) and i and (i in breaks or i + 1 == len(words)) and \
                    word_kind(words[i - 1]) in ("shape", "noun"):
                continue  # "Square A:", "Object 2:": a label, neither an article nor a count
            if lights_colour(words, i, word_kind):  # "moody blue lighting": the light's colour (`film.py`)
                unmapped.append(w)
                continue
            meant = homophone(words, i)
            if meant is not None:  # "a read circle moving to the write" (`homophones.py`)
                mapped.append(WordMapping(w, meant, "homophone"))
                out.append(meant)
                continue
            said = marker_at(words, i) or \
                int(w in ("no", "nope", "nah") and i in breaks and 0 < i < len(words) - 1)  # "large-no, small"
            if said:  # "scratch that", "no wait": applied to the words before (`corrections.py`)
                out.append(FIX)
                fix_until = i + said
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
                if counts_the_scene(i):
                    out.append("shapes")
                continue
            j = i - 1
            while j >= 0 and words[j] in ("the", "a"):
                j -= 1
            if w in PLACE_TERM and j >= 0 and words[j] in ("toward", "towards", "to", "into", "onto"):
                # "sinking toward the floor", "up into the sky": a place names the heading, never an object
                mapped.append(WordMapping(w, PLACE_TERM[w], "place"))
                out.append(PLACE_TERM[w])
                continue
            side = {"up": "top", "down": "bottom"}.get(PLACE_TERM.get(w, ""), PLACE_TERM.get(w))
            if side in ("top", "bottom", "left", "right") and j >= 0 and words[j] == "from":
                mapped.append(WordMapping(w, side, "place"))  # "falls from the sky": starts at the top
                out.append(side)
                continue
            nxt = word_kind(words[i + 1]) if i + 1 < len(words) else "edge"
            if w in VERB_READINGS and i and (word_kind(words[i - 1]) in ("shape", "noun") or words[i - 1] == "it"
                                             or words[i - 1].endswith("ly")) and nxt not in ("shape", "noun"):
                mapped.append(WordMapping(w, VERB_READINGS[w], "form"))
                out.append(VERB_READINGS[w])
                continue
            if w in NOUN_READINGS and out and self.color_of(words[i - 1]) and i - 1 not in breaks \
                    and words[i - 1] not in NOUN_READINGS:
                # "an orange sun", "the navy night": the thing's colour is the one stated, and the
                # noun only its outline ("sun" is round) or nothing at all (night, sky)
                mapped.append(WordMapping(w, NOUN_READINGS[w] or out[-1], "curated"))
                ahead = [x for x in words[i + 1:i + 3] if x not in ("like", "shaped", "looking", "style")][:1]
                if NOUN_READINGS[w] and not (ahead and word_kind(ahead[0]) == "shape"):
                    out.append(NOUN_READINGS[w])  # "a yellow sun-like star" is a star
                elif w in ("sky", "night"):
                    out.append("background")  # "in a midnight-blue sky": the ground's colour, no object
                continue
            pair = self.two_word_color(words, i, unknown - rejected, resolved)
            if pair is not None:
                mapped.append(WordMapping(f"{w} {words[i + 1]}", pair.term, "color name", pair.share))
                out.append(pair.term)
                skip = i + 1
                continue
            term, how, score = self.map_word(w, slot_categories(words, i, unknown, resolved))
            # a shade of the colour named next, unless punctuation parts them ("ruby, violet")
            shade_of = self.color_of(words[i + 1]) if i + 1 < len(words) and i not in breaks \
                and (words[i + 1] not in NOUN_READINGS or w in NOUN_READINGS) else None  # "crimson sun": red
            if shade_of and (w in COLOR_MODIFIERS or TERM_CATEGORY.get(term) in ("color", "background")
                             or f"{w} {words[i + 1]}" in self.color_names):
                # "light blue", "cherry red", "burnt sienna" (a dictionary colour name): a shade of
                # the colour named next, not a colour of its own (two colours in a row would open a
                # second object)
                mapped.append(WordMapping(w, shade_of, "shade"))
                continue
            said = [k for k, x in enumerate(out) if _shape_noun(x)]
            if TERM_CATEGORY.get(term) == "shape" and is_adjectival(w) and (i in breaks or i + 1 == len(words)) \
                    and said and PHRASES[(out[said[-1]],)][1][0] == term \
                    and not {"a", "an", "one", "another", "the"} & set(out[said[-1]:]):  # no new noun phrase since
                # "a crimson sun, small and round,": the adjective says again what the noun said
                mapped.append(WordMapping(w, term, how, score))
                continue
            if how in ("curated", "form", "compound", "typo", "color name", "thesaurus", "embedding", "hex"):
                mapped.append(WordMapping(w, term, how, score))
                if TERM_CATEGORY.get(term) == "shape" and (how == "compound" or is_adjectival(w) or shaped):
                    modifiers.add(len(out))  # "a three-sided green shape": the shape is said by an adjective
            elif how in ("unmapped", "outside"):
                unmapped.append(w)
            if term is not None:
                out.append(term)
            elif w in OUTSIDE_SHAPES:  # reported above, and still the noun of its object
                out.append("shapes" if w.endswith("s") else "shape")
            elif counts_the_scene(i):
                out.append("shapes")
        out += [opposite_at[len(words)]] if len(words) in opposite_at else []
        # "scarlet red" -> "red red" -> "red": a doubled term would read as two objects.
        out = apply_corrections(move_shape_modifiers(out, modifiers))
        out = [w for i, w in enumerate(out) if not (i and w == out[i - 1] and w in TERM_CATEGORY)]
        collapsed: list[str] = []  # "bigger and bigger", "faster and faster": one attribute, not two objects
        for w in out:
            if len(collapsed) >= 2 and collapsed[-1] == "and" and collapsed[-2] == w and \
                    PHRASES.get((w,), ("",))[0] in ("size", "speed"):
                collapsed.pop()
                continue
            collapsed.append(w)
        out = joined_colors(collapsed, _plural_noun, _shape_noun)
        text = " ".join(out)
        parsed = parse(text)
        colors = [o.color for o in parsed.objects if o.color]
        repeated = {c for c in colors if colors.count(c) > 1}
        guesses = [m for m in mapped if m.how in GUESSES and m.term in repeated]
        if not agrees(parsed):
            # a guessed word may have opened an object the prompt does not have: shapes are the
            # likeliest culprits ("a red slab" read as two nouns); failing that, any guess. The
            # weakest guess goes first, alone, if that alone makes the prompt agree with itself
            # (a misspelt "sqaure" is better evidence than an embedding's "shapse" -> circle).
            guessed = [m for m in mapped if m.how in GUESSES and m not in guesses]
            suspects = [m for m in guessed if TERM_CATEGORY.get(m.term) == "shape"] or guessed
            if not rejected and not guesses and len(suspects) > 1:
                for m in sorted(suspects, key=lambda m: ("embedding", "thesaurus", "typo").index(m.how)):
                    trial = self.normalize_with(prompt, words, unknown, {m.word})
                    if agrees(trial.parsed):
                        return trial
            guesses += suspects
        opened = opened_by_guess(self, prompt, words, unknown, rejected, mapped, parsed) if not guesses else None
        if opened is None and not guesses:
            opened = said_without_guess(self, prompt, words, unknown, rejected, mapped, parsed)
        if opened is not None:
            return opened
        bare_shapes = [o for o in parsed.objects if o.shape and not (o.color or o.size or o.motion or o.speed)]
        if not guesses and bare_shapes and len(parsed.objects) > 1 and len(rejected) < len(words):
            # A noun mapped onto a shape that then stands alone, with nothing said of it, beside
            # objects the prompt describes: "Player token is a green circle", "a coral hexagon with a
            # soft drop shadow" (MiniLM: soft -> circle). Report the word instead, when that leaves
            # the other objects as they were; after an article, only a guess is withdrawn.
            kept = [o for o in parsed.objects if o not in bare_shapes]
            for m in [m for m in mapped if TERM_CATEGORY.get(m.term) == "shape" and m.how != "shade"]:
                at = words.index(m.word) if m.word in words else -1
                if at > 0 and words[at - 1] in ("a", "an", "one") and m.how not in ("embedding", "thesaurus"):
                    continue  # "a ball and a star": a table's noun after an article is an object
                trial = self.normalize_with(prompt, words, unknown, rejected | {m.word})
                if len(trial.parsed.objects) < len(parsed.objects) and all(o in trial.parsed.objects for o in kept):
                    return trial
        if guesses:
            # A thesaurus or embedding guess that contradicts the prompt's other words (two objects of one
            # colour, more objects than it names) is the weaker evidence: report the word instead.
            for m in guesses:
                mapped.remove(m)
                unmapped.append(m.word)
            return self.normalize_with(prompt, words, unknown, rejected | {m.word for m in guesses})
        # What the parser still cannot place (e.g. "red background": not a background we have).
        for w in parsed.unknown_words:
            w = next((m.word for m in mapped if m.term == w), w)  # the user's word, not the term it became
            if w not in unmapped:
                unmapped.append(w)
        understood = settle_comparisons(words, parsed)  # "smaller and faster": the other is large and slow
        unmapped = [w for w in unmapped if w not in understood]  # "... the opposite way", "follows it"
        return Normalized(prompt, text, parsed, mapped, unmapped)


def _shape_noun(word: str) -> bool:
    return PHRASES.get((word,), ("",))[0] == "shape"


def _plural_noun(word: str) -> bool:
    """A plural shape noun ("circles", "balls") or the generic "shapes"."""
    kind, value = PHRASES.get((word,), ("", None))
    return (kind == "shape" and value[1]) or (kind == "generic" and value is True)


# Before "blue", a light blue: the world's cyan.
_LIGHT = frozenset("light pale baby sky powder ice icy".split())

# Words after which a number counts objects even though the word is unknown: "um two squares", "I want
# two circles" (elsewhere "Level 2 boss", "player 1", "shot 4" name things by number).
_BEFORE_A_COUNT = frozenset("""um uh uhh er erm hmm want need make give gimme show draw render generate create place
put add spawn insert include lived were was are had have has saw see sees picture imagine envision depict
animate do does doing get got try""".split())
