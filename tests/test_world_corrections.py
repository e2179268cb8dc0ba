"""Corrections said inside a prompt (`minisora/world/corrections.py`): markers said after what they
correct, denials of what was just said, clauses taken back, unfinished phrases and the bar. Each case
is phrased differently from the outside prompt that showed the rule was missing."""

from __future__ import annotations

import pytest

from tests.test_world_language import mapper, objects  # noqa: F401 (mapper is the module-scoped fixture)


CASES = [
    # a marker said after its correction
    ("a green box, purple I mean, sliding up", [{"shape": "square", "color": "purple", "motion": "up"}]),
    ("a white ball rising slowly - hm, quickly, sorry", [{"shape": "circle", "color": "white", "motion": "up",
                                                          "speed": "fast"}]),
    ("a red dot, a triangle I mean, going left", [{"shape": "triangle", "color": "red", "motion": "left"}]),
    # a denial of what was just said, then what is wanted
    ("a blue star sliding left, no, not left, down", [{"shape": "star", "color": "blue", "motion": "down"}]),
    ("a yellow box - nope, not yellow - white, falling", [{"shape": "square", "color": "white", "motion": "down"}]),
    # the clause just said is taken back, not the object before it
    ("a red dot and a green box. Both still - no wait, the dot climbs",
     [{"shape": "circle", "color": "red", "motion": "up"}, {"shape": "square", "color": "green"}]),
    # "err" as a marker; "the X should be Y" said of an object named before
    ("a white box sliding up... err, down", [{"shape": "square", "color": "white", "motion": "down"}]),
    ("a yellow dot and a red star, hmm, the star should be green",
     [{"shape": "circle", "color": "yellow"}, {"shape": "star", "color": "green"}]),
    # a noun phrase left unfinished before the marker is what the marker takes back
    ("a white star and a blue... scratch that, just the star, falling",
     [{"shape": "star", "color": "white", "motion": "down"}]),
]


@pytest.mark.parametrize("prompt,want", CASES, ids=[c[0] for c in CASES])
def test_a_correction_replaces_what_it_corrects(mapper, prompt, want):
    got, norm = objects(mapper, prompt)
    assert got == want, norm.text


def test_the_bar_said_after_a_marker_takes_back_its_denial(mapper):
    assert mapper.normalize("a red dot going up, no pillar. on second thought, put a pole in").parsed.occluder is True
    assert mapper.normalize("a red dot going up with a pole. actually no pole").parsed.occluder is False
