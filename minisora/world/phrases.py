"""The words of MovingShapes prompts: tokens, the phrase table, clause breaks.

`tokenize(text)` lower-cases and splits a prompt the way every reader of it does (number compounds
such as "five-pointed" stay one word; "doesnt", "slowww" and "w/" are read as meant); `PHRASES` maps
each word sequence the world's vocabulary tables (`vocabulary.py`) name to its kind and value;
`match(tokens)` covers a token list with the longest phrases; `clause_breaks(text)` says where
punctuation parts a prompt's clauses. The parser (`grammar.parse`) and the word mapper
(`normalize.py`) both read prompts through these.
"""

from __future__ import annotations

import re

from minisora.world import vocabulary as V
from minisora.world.rewrites import (ALL_BEFORE_LIST, ARROW_BETWEEN, ATTRIBUTE_LIST, ITEM_LABEL, PLACE_LABEL,
                                     rewritten)
from minisora.world.tables import tables_as_sentences

ARTICLES = ("a", "an")


def _build_lexicon() -> dict[tuple[str, ...], tuple[str, object]]:
    lex: dict[tuple[str, ...], tuple[str, object]] = {}

    def add(phrase: str, kind: str, value: object = None) -> None:
        key = tuple(re.findall(r"[a-z0-9]+", phrase.lower().replace("-", " ")))
        lex[key] = (kind, value)

    for verb in V.MOTION_VERBS_PARSE:
        add(verb, "verb")
    for noun in V.BACKGROUND_NOUNS:
        add(noun, "bgnoun")
    for noun in V.GENERIC_NOUNS:
        add(noun, "generic", noun.endswith("s"))
    for shape, words in V.SHAPE_PARSE.items():
        for w in words:
            add(w, "shape", (shape, w != shape and w.endswith(("s", "es")) and not w.endswith("ss")))
    for word, n in V.COUNT_WORDS.items():
        add(word, "count", n)
    for c in V.COLORS:
        add(c, "color", c)
    for b in V.BACKGROUNDS:
        add(b, "bgcolor", b)
    for syn, c in V.COLOR_SYNONYMS.items():
        add(syn, "color" if c in V.COLORS else "bgcolor", c)
    for size, words in V.SIZE_PARSE.items():
        for w in words:
            add(w, "size", size)
    for speed, words in V.SPEED_PARSE.items():
        for w in words:
            add(w, "speed", speed)
        for w in words:  # "at a leisurely pace": the article belongs to the phrase, not to a next object
            if " " not in w:
                for noun in ("pace", "speed", "rate", "tempo"):
                    add(f"at a {w} {noun}", "speed", speed)
    for field, table in (("origin", V.ORIGIN_PARSE), ("motion", V.DIRECTION_PARSE), ("motion", V.MOTION_WORDS_PARSE)):
        for m, words in table.items():
            for w in words:
                add(w, field, m)
    for w in V.OCCLUDER_PARSE:
        add(w, "occluder", True)
    for w in V.NO_OCCLUDER_PARSE:
        add(w, "occluder", False)
    for w in V.OUTSIDE_PATHS_PARSE:
        add(w, "outside")
    for m, hours in V.CLOCK_PARSE.items():
        for h in hours:
            for hour in (str(h), V._HOUR_WORDS[h - 1]):
                add(f"{hour} o clock", "motion", m)
                add(f"{hour} oclock", "motion", m)
    for w in V.CAMERA_PARSE:
        add(w, "camera")
    for w in V.POSITION_PARSE:
        add(w, "camera")  # where an object is: skipped like camera phrases
    for w in V.NOTHING_STATED_PARSE:
        add(w, "camera")  # skipped like camera phrases
    return lex


PHRASES = _build_lexicon()
_MAX_PHRASE = max(len(k) for k in PHRASES)


# Number words that start English compounds: "five-pointed", "three-sided", "two-tone", "one-eyed".
NUMBER_PREFIXES: dict[str, int] = {"one": 1, "single": 1, "two": 2, "double": 2, "twin": 2, "three": 3, "triple": 3,
                                   "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
                                   **{str(n): n for n in range(1, 11)}}
_NUMBER_HYPHEN = re.compile(r"\b(" + "|".join(sorted(NUMBER_PREFIXES, key=len, reverse=True)) + r")-([a-z]+)")


# What a number before them counts is a part of one shape, never objects: "three-sided", "five points".
SIDE_WORDS = frozenset("sided sides cornered corners angled angles edged edges".split())
POINT_WORDS = frozenset("pointed points pointy armed arms pronged tipped rayed".split())

# Colour codes: "#00FFFF", "rgb(0, 255, 0)" (written as a code, which `WordLookup.map_word` places).
_HEX = re.compile(r"#[0-9a-f]{6}")
_HEX_SPLIT = re.compile(r"(#[0-9a-f]{6})")
_RGB = re.compile(r"\brgb\s*\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*\)", re.IGNORECASE)
_DECIMAL = re.compile(r"\b[a-z]?\d+[.,]\d+\w*")
_MEASURE = re.compile(r"\b\d+(?:\.\d+)?(?:\s+|-)?(?:seconds?|secs?|s|ms|minutes?|mins?|frames?|fps|hz|px|pixels?|"
                      r"percent|%|degrees?|deg|k|p)\b")
# "blue instead of amber", "avoid red": the colour after is not wanted ("avoid the pole" is left alone)
_INSTEAD = re.compile(r"\b(?:instead of|rather than|except(?: for)?|anything but|avoid(?:ing)?(?=\s+(?:the\s+)?(?:colou?r\s+)?(?:red|orange|yellow|"
                      r"green|cyan|blue|purple|white|black|gr[ae]y|navy|pink|brown)\b))\b")
_STRETCHED = re.compile(r"([a-z])\1{2,}")
_NT_WITHOUT_APOSTROPHE = re.compile(r"\b(does|do|did|is|are|was|were|has|have)nt\b")
_NT_MISSPELT = re.compile(r"\b(?:dosent|dosnt|doesent|dosen t|dose not)\b")  # "a triangle that dosent move"
# Letters on either side of an arrow, as animators write a path: "tween L->R", "T→B"
_LETTER_ARROW = re.compile(r"\b([lrtbud])\s*(?:->|=>|→|➡|>)\s*([lrtbud])\b", re.IGNORECASE)
_ARROW_LETTERS = {"l": "left", "r": "right", "t": "top", "b": "bottom", "u": "top", "d": "bottom"}
# A place after a preposition, said without its article, as notes and shot lists do; the grammar's
# places have it ("from the top right corner").
# ("frame left", "screen right" have lost their "frame" before: `rewrites._SCREEN_SIDE`)
_PLACE_WITHOUT_ARTICLE = re.compile(r"\b(from|to|toward|towards|into|at)\s+"
                                    r"(?=(?:top|bottom|upper|lower|centre|center|middle)\b(?!\s+speed))|"
                                    r"\b(from)\s+(?=(?:left|right)\b(?!\s+to\b))")


def _place_article(m: re.Match) -> str:
    """The article for a place after "from" or "at"; after "to", only when a "from the" came first in
    the clause ("upper left to lower right" is read whole as it is)."""
    before = m.string[:m.start()]
    clause = re.split(r"[,;:.!?]", before)[-1]
    word = m.group(1) or m.group(2)  # "from left, moving along": a side, only after "from"
    if word in ("from", "at") or re.search(r"\bfrom the\b", clause):
        return f"{word} the "
    return m.group(0)


# Arrows and the symbols people type for words: "red sq ←", "orange ➡️ purple ⬅️", "teal ball ↗️ &
# crimson block ↘️", "green square + white circle". (Emoji colour circles and squares are in SYMBOLS too.)
SYMBOLS = {"→": "right", "➡": "right", "⇒": "right", "⟶": "right", "←": "left", "⬅": "left", "⇐": "left",
           "⟵": "left", "↑": "up", "⬆": "up", "⇑": "up", "↓": "down", "⬇": "down", "⇓": "down",
           "↗": "up-right", "↘": "down-right", "↙": "down-left", "↖": "up-left", "&": "and", "+": "and",
           "🔴": "red circle", "🟠": "orange circle", "🟡": "yellow circle", "🟢": "green circle",
           "🔵": "blue circle", "🟣": "purple circle", "⚪": "white circle", "🟥": "red square",
           "🟧": "orange square", "🟨": "yellow square", "🟩": "green square", "🟦": "blue square",
           "🟪": "purple square", "⬜": "white square", "⭐": "star", "🌟": "star", "★": "star", "☆": "star",
           "🔺": "red triangle", "🔻": "red triangle", "▲": "triangle", "△": "triangle", "▶": "triangle",
           "◀": "triangle", "■": "square", "□": "square", "●": "circle", "○": "circle"}
_SYMBOL = re.compile("|".join(re.escape(k) for k in SYMBOLS))
# List markers count nothing: "(1) one object (2) white star", "1) red circle", "2. blue square".
_LIST_MARKER = re.compile(r"\(\s*\d{1,2}\s*\)|(?:^|(?<=[\s(]))\d{1,2}[.)](?=\s)")
# Dictated punctuation: "cyan star moving left comma magenta square moving right".
_SPOKEN_MARK = re.compile(r"\s+(comma|period|full stop|semicolon|new line)\b", re.IGNORECASE)
_SPOKEN = {"comma": ",", "period": ".", "full stop": ".", "semicolon": ";", "new line": "."}
# A heading told as a time on a clock face: "toward 10:30 on the clock" is up-left, as "10 o'clock" is.
_CLOCK_TIME = re.compile(r"\b(1[0-2]|0?[1-9]):(00|15|30|45)\b(?:\s*(?:on|of)\s+(?:a|the)\s+clock(?:\s*face)?)?", re.IGNORECASE)
_CLOCK_FACE = re.compile(r"\s+(?:on|of)\s+(?:a|the)\s+clock(?:\s*face)?\b|(?<=clock)\s+position\b", re.IGNORECASE)
_HOUR_OF_HEADING = (12, 1, 3, 4, 6, 7, 9, 10)  # up, up-right, right, ... each as an hour `CLOCK_PARSE` knows


def _clock_hour(m: re.Match) -> str:
    """The hour of `_HOUR_OF_HEADING` nearest the time's hand: 1:30 -> 1 (up-right), 4:30 -> 4 (down-right)."""
    hand = (int(m.group(1)) % 12 + int(m.group(2)) / 60) * 30  # degrees clockwise from 12
    return f" {_HOUR_OF_HEADING[round(hand / 45) % 8]} o'clock "


def _written(text: str) -> str:
    """The prompt with colour triples written as codes, list markers dropped and dictated punctuation
    written: what tokenize and clause_breaks both read, so that their word positions agree."""
    text = _RGB.sub(lambda m: " #" + "".join(f"{min(int(c), 255):02x}" for c in m.groups()) + " ", text)
    text = _LIST_MARKER.sub(" , ", tables_as_sentences(text))  # a numbered item starts a clause
    text = _CLOCK_FACE.sub("", _CLOCK_TIME.sub(_clock_hour, text))
    text = PLACE_LABEL.sub(" ", ARROW_BETWEEN.sub(" to ", ITEM_LABEL.sub(" ", text)))
    text = ATTRIBUTE_LIST.sub(" \\1 respectively", text)
    text = ALL_BEFORE_LIST.sub(lambda m: f"{m.group(2)}. All {m.group(1)}", text)
    return _SPOKEN_MARK.sub(lambda m: _SPOKEN[m.group(1).lower()], text)


def tokenize(text: str) -> list[str]:
    """Lower-case words, hyphens split ("up-left" -> "up", "left"), except that a number compound
    stays one word, hyphenated ("five-pointed"; "five pointed" too: a number before a word ending in
    -ed that the lexicon does not know, or before a shape's part, "four sides"), so that its number is
    never read as a count."""
    text = _LETTER_ARROW.sub(lambda m: f" from {_ARROW_LETTERS[m.group(1).lower()]} to "
                                       f"{_ARROW_LETTERS[m.group(2).lower()]} ", text)
    text = _SYMBOL.sub(lambda m: f" {SYMBOLS[m.group()]} ", _written(text))
    text = text.lower().replace("won't", "will not").replace("can't", "can not").replace("n't", " not")
    text = text.replace("_", " ").replace("w/", "with ")
    text = _INSTEAD.sub(" not ", text)  # "blue instead of amber": amber is not wanted
    text = _NT_WITHOUT_APOSTROPHE.sub("\\1 not", text)  # "doesnt move", "isnt red"
    text = _NT_MISSPELT.sub("does not", text)
    text = rewritten(text)  # phrasings said again as the grammar reads them (`rewrites.py`)
    text = _PLACE_WITHOUT_ARTICLE.sub(_place_article, text)  # "from top right corner down to bottom left"
    # "slowww", "sooo": no English word has a letter three times in a row (a colour code may: "#FFFF00")
    text = "".join(part if _HEX.fullmatch(part) else _STRETCHED.sub("\\1", part) for part in _HEX_SPLIT.split(text))
    text = _MEASURE.sub(" ", text)  # "2 seconds", "1-second loop", "30 fps": a length, not a count
    text = _DECIMAL.sub(" ", text)  # "section 4.2", "v1.5", "0.5x": a label or a measure, not a count
    text = _NUMBER_HYPHEN.sub("\\1\x00\\2", text)  # protect the compound's hyphen from the split
    out: list[str] = []
    for w in re.findall(r"[a-z0-9\x00]+", text.replace("-", " ")):
        w = w.replace("\x00", "-")
        if out and out[-1] in NUMBER_PREFIXES and w.isalpha() and (
                w.endswith("ed") and (w,) not in PHRASES or w in SIDE_WORDS | POINT_WORDS):
            out[-1] = f"{out[-1]}-{w}"  # "five pointed" -> "five-pointed", "has four sides" -> "four-sides"
        else:
            out.append(w)
    return out


def clause_breaks(text: str) -> set[int]:
    """Positions (in `tokenize(text)`) of the words a comma, semicolon, colon, bracket, full stop, dash,
    spaced slash or bar follows: "three blocks (ruby, violet and amber)" breaks after "blocks", "ruby" and "amber"."""
    breaks, n = set(), 0
    text = _written(text)
    segments = re.split(r"[,;:(){}\[\].!?|\u2013\u2014]|\s[-/]\s", text)  # dashes, slashes and bars too
    for seg in segments[:-1]:
        n += len(tokenize(seg))
        if n:
            breaks.add(n - 1)
    return breaks if n + len(tokenize(segments[-1])) == len(tokenize(text)) else set()


def number_compound(word: str) -> tuple[int, str] | None:
    """(number, rest) of a number compound ("five-pointed" -> (5, "pointed")), else None."""
    prefix, _, rest = word.partition("-")
    return (NUMBER_PREFIXES[prefix], rest) if rest and prefix in NUMBER_PREFIXES else None


def match(tokens: list[str]) -> list[tuple[str, object, str]]:
    """Greedy longest match: [(kind, value, surface text)]."""
    items = []
    i = 0
    while i < len(tokens):
        for k in range(min(_MAX_PHRASE, len(tokens) - i), 0, -1):
            hit = PHRASES.get(tuple(tokens[i:i + k]))
            if hit is not None:
                items.append((hit[0], hit[1], " ".join(tokens[i:i + k])))
                i += k
                break
        else:
            tok = tokens[i]
            kind = "article" if tok in ARTICLES else ("filler" if tok in V.FILLER_WORDS else "unknown")
            items.append((kind, None, tok))
            i += 1
    return items


