"""Edits said inside a prompt (`world/edits.py`): each is applied to the objects named before it,
never read as one more object; a clause that names nothing before it stays a request."""

from __future__ import annotations

import pytest

from minisora.world.normalize import WordMapper


@pytest.fixture(scope="module")
def mapper():
    return WordMapper(encoder=None)


def scene(mapper, prompt):
    parsed = mapper.normalize(prompt).parsed
    return [{k: v for k, v in vars(o).items() if v is not None} for o in parsed.objects], parsed


CASES = [
    # removals, by shape, colour, place in the order named, and several at once
    ("a white dot going up and a purple box going down. ditch the box.", [{"color": "white", "shape": "circle",
                                                                          "motion": "up"}]),
    ("red dot left, green dot right, blue dot up; get rid of the third one",
     [{"color": "red", "shape": "circle", "motion": "left"}, {"color": "green", "shape": "circle", "motion": "right"}]),
    ("a cyan star, an orange box and a white dot, all sinking. only keep the orange one.",
     [{"color": "orange", "shape": "square", "motion": "down"}]),
    ("yellow star, blue dot, red box. keep the first and the last",
     [{"color": "yellow", "shape": "star"}, {"color": "red", "shape": "square"}]),
    # changes of one attribute, of a noun, of direction, with "and" joining two
    ("a green triangle sliding left. make it faster", [{"color": "green", "shape": "triangle", "motion": "left",
                                                       "speed": "fast"}]),
    ("a blue dot rising; turn the dot into a star", [{"color": "blue", "shape": "star", "motion": "up"}]),
    ("a purple box heading right, then reverse its direction", [{"color": "purple", "shape": "square",
                                                                 "motion": "left"}]),
    ("a red dot and a white star, both falling. make the dot small and the star large",
     [{"color": "red", "shape": "circle", "size": "small", "motion": "down"},
      {"color": "white", "shape": "star", "size": "large", "motion": "down"}]),
    ("a yellow box going left and a green dot going right; switch their colours",
     [{"color": "green", "shape": "square", "motion": "left"}, {"color": "yellow", "shape": "circle", "motion": "right"}]),
    ("orange star and cyan box, both bouncing. the cyan one should sit still instead",
     [{"color": "orange", "shape": "star", "motion": "bouncing"}, {"color": "cyan", "shape": "square", "motion": "still"}]),
    ("a white star drifting up. now slower.", [{"color": "white", "shape": "star", "motion": "up", "speed": "slow"}]),
    ("a cyan dot and an orange box, both rising; slow the box down",
     [{"color": "cyan", "shape": "circle", "motion": "up"}, {"color": "orange", "shape": "square", "motion": "up",
                                                             "speed": "slow"}]),
    ("a lime star going left. speed up the star", [{"color": "green", "shape": "star", "motion": "left",
                                                   "speed": "fast"}]),
    # no object before it: a request, not an edit
    ("make the star go left", [{"shape": "star", "motion": "left"}]),
]


@pytest.mark.parametrize("prompt,want", CASES, ids=[c[0] for c in CASES])
def test_an_edit_changes_what_was_named_before_it(mapper, prompt, want):
    got, _ = scene(mapper, prompt)
    assert got == want


def test_a_changed_background_and_a_forgotten_one(mapper):
    assert scene(mapper, "a red dot going up on black. change the background to navy")[1].background == "navy"
    assert scene(mapper, "a red dot going up on gray. hmm, drop the background")[1].background is None


def test_a_removal_lowers_the_stated_count(mapper):
    objects, parsed = scene(mapper, "three shapes: a red dot, a blue box, a green star. remove the box")
    assert [o["color"] for o in objects] == ["red", "green"] and parsed.count == 2


def test_a_reference_that_names_nothing_is_no_edit(mapper):
    # "the purple one" names no object: the clause is read as the rest of the prompt
    objects, _ = scene(mapper, "a red dot going up. delete the purple one")
    assert objects == [{"color": "red", "shape": "circle", "motion": "up"}]


def test_the_bar_is_left_to_its_own_words(mapper):
    objects, parsed = scene(mapper, "a red dot going up. remove the pole")
    assert objects == [{"color": "red", "shape": "circle", "motion": "up"}] and parsed.occluder is False
