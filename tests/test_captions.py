"""Caption writer, prompt writer and parser."""

from __future__ import annotations

import numpy as np
import pytest

from minisora.world import scenes as S
from minisora.world import vocabulary as V
from minisora.world.scene import ParsedObject, ParsedScene, parsed_from_spec
from minisora.world.grammar import parse
from minisora.world.captions import write_caption, write_prompt
from minisora.world.spec import ObjectSpec, OccluderSpec, SceneSpec


def _specs(n, seed=0):
    rng = np.random.default_rng(seed)
    return [S.sample_scene(rng, ("train", "heldout", "any")[i % 3], occluder_prob=0.35) for i in range(n)]


def test_caption_round_trip_recovers_every_attribute():
    rng = np.random.default_rng(1)
    specs = _specs(500)
    assert any(s.is_heldout for s in specs) and any(s.occluder for s in specs)
    for spec in specs:
        caption = write_caption(spec, rng)
        got = parse(caption)
        assert got.attributes() == parsed_from_spec(spec).attributes(), caption
        assert got.unknown_words == [], caption
        assert got.count == len(spec.objects) and got.occluder == (spec.occluder is not None)


def test_prompt_parse_recovers_what_it_states():
    rng = np.random.default_rng(2)
    omitted = {"size": 0, "speed": 0, "background": 0}
    for spec in _specs(500, seed=3):
        prompt = write_prompt(spec, rng)
        got = parse(prompt)
        truth = parsed_from_spec(spec).attributes()
        assert got.attributes() <= truth, prompt
        assert got.unknown_words == [], prompt
        assert len(got.objects) == len(spec.objects)
        for i, o in enumerate(spec.objects):
            assert (got.objects[i].color, got.objects[i].shape) == (o.color, o.shape), prompt
            omitted["size"] += got.objects[i].size is None
            omitted["speed"] += got.objects[i].speed is None and o.motion != "still"
        omitted["background"] += got.background is None
        assert len(prompt) < len(write_caption(spec, rng))
    assert all(v > 50 for v in omitted.values()), omitted  # prompts do leave things out


def test_writer_is_deterministic_and_varied():
    spec = _specs(1, seed=5)[0]
    assert write_caption(spec, np.random.default_rng(0)) == write_caption(spec, np.random.default_rng(0))
    captions = {write_caption(spec, np.random.default_rng(i)) for i in range(60)}
    prompts = {write_prompt(spec, np.random.default_rng(i)) for i in range(60)}
    assert len(captions) > 20 and len(prompts) > 10


def test_every_written_phrase_is_in_the_parse_tables():
    def norm(p):
        return p.replace("-", " ")

    for m in V.DIRECTIONAL_MOTIONS:
        assert {norm(p) for p in V.DIRECTION_WRITE[m]} <= set(V.DIRECTION_PARSE[m])
        assert set(V.ORIGIN_WRITE[m]) <= set(V.ORIGIN_PARSE[m])
    for speed in V.SPEEDS:
        written = set(V.SPEED_ADVERB_WRITE[speed]) | {norm(p) for p in V.SPEED_ADJECTIVE_WRITE[speed]}
        assert written <= set(V.SPEED_PARSE[speed])
    assert set(V.STILL_WRITE) | set(V.STILL_PARTICIPLES_WRITE) <= set(V.MOTION_WORDS_PARSE["still"])
    assert set(V.BOUNCING_WRITE) | set(V.BOUNCING_PARTICIPLES_WRITE) <= set(V.MOTION_WORDS_PARSE["bouncing"])
    for size in V.SIZES:
        assert set(V.SIZE_WRITE[size]) <= set(V.SIZE_PARSE[size])


def _objs(scene):
    return [(o.color, o.shape, o.size, o.motion, o.speed) for o in scene.objects]


@pytest.mark.parametrize("text,objects,background,occluder,count", [
    ("red circle moving right", [("red", "circle", None, "right", None)], None, None, 1),
    ("two shapes: a blue square going up and a small green star bouncing",
     [("blue", "square", None, "up", None), ("green", "star", "small", "bouncing", None)], None, None, 2),
    ("A large red circle glides slowly from the left edge toward the right across a black background "
     "while the camera stays still.", [("red", "circle", "large", "right", "slow")], "black", None, 1),
    ("a big purple ball drifting up and to the left on grey", [("purple", "circle", "large", "up-left", None)],
     "gray", None, 1),
    ("a tiny white triangle heading toward the upper left quickly",
     [("white", "triangle", "small", "up-left", "fast")], None, None, 1),
    ("an orange star moving up-left", [("orange", "star", None, "up-left", None)], None, None, 1),
    ("a yellow square moving down and to the right", [("yellow", "square", None, "down-right", None)], None, None, 1),
    ("a stationary green star", [("green", "star", None, "still", None)], None, None, 1),
    ("motionless cyan square against a black backdrop", [("cyan", "square", None, "still", None)], "black", None, 1),
    ("The red circle doesn't move.", [("red", "circle", None, "still", None)], None, None, 1),
    ("a red circle bounces; a yellow star stays still, nothing in the way",
     [("red", "circle", None, "bouncing", None), ("yellow", "star", None, "still", None)], None, False, 2),
    ("a red circle moves from left to right behind a pillar", [("red", "circle", None, "right", None)],
     None, True, 1),
    ("a slow red square and a fast blue circle going down-right",
     [("red", "square", None, None, "slow"), ("blue", "circle", None, "down-right", "fast")], None, None, 2),
    ("one white triangle moving from the top edge", [("white", "triangle", None, "down", None)], None, None, 1),
    ("three stars", [(None, "star", None, None, None)] * 3, None, None, 3),
    ("three shapes on navy", [], "navy", None, 3),
])
def test_parse_phrasings(text, objects, background, occluder, count):
    got = parse(text)
    assert _objs(got) == objects
    assert (got.background, got.occluder, got.count) == (background, occluder, count)
    assert got.unknown_words == []


def test_parse_reports_unknown_words_and_invalid_colours():
    got = parse("a dog running on the beach")
    assert got.objects == [] and got.count is None and got.unknown_words == ["dog", "beach"]
    got = parse("a black circle moving left on a white background")
    assert got.objects[0].color is None and got.background is None
    assert "black" in got.unknown_words and "white background" in got.unknown_words
    with pytest.raises(TypeError):
        parse(None)


def test_attributes_keys():
    scene = ParsedScene(objects=[ParsedObject(color="red", shape="circle")], background="navy", count=1)
    assert scene.attributes() == {("obj0.color", "red"), ("obj0.shape", "circle"), ("background", "navy"),
                                  ("count", 1)}
    spec = SceneSpec((ObjectSpec("red", "star", "small", "still", "slow", 0.5, 0.5),), "gray", OccluderSpec(0.4))
    assert ("obj0.speed", "slow") not in parsed_from_spec(spec).attributes()  # speed means nothing when still
    assert ("occluder", True) in parsed_from_spec(spec).attributes()


def test_occluder_is_named_when_present():
    rng = np.random.default_rng(4)
    for spec in _specs(200, seed=6):
        caption = write_caption(spec, rng).lower()
        assert ("brown" in caption) == (spec.occluder is not None)


def test_colour_after_on_names_the_ground_not_another_object():
    """"a red circle on white": white is where the circle is (a background the world lacks, so it is
    reported), not a second, shapeless white object."""
    for text in ("a red circle on white", "red circle on a white moving left", "against white, a red circle"):
        got = parse(text)
        assert [(o.color, o.shape) for o in got.objects] == [("red", "circle")], text
        assert got.unknown_words == ["white background"] and got.background is None, text
    assert parse("a red circle on black").background == "black"
    # a colour that a noun follows is still an object: "on a blue square"
    got = parse("a red circle on a blue square")
    assert [(o.color, o.shape) for o in got.objects] == [("red", "circle"), ("blue", "square")]
