"""Language that does not break (issue 33), continued: phrasings from outside sets w and x, each
rule written as a case phrased differently from the prompt that showed it was missing."""

from __future__ import annotations

import pytest

from tests.test_world_language import mapper, objects  # noqa: F401 (mapper is the module-scoped fixture)


CASES = [
    # hurry and strolls: speed said as a state of mind
    ("a green dot in a big hurry heading up", [{"shape": "circle", "color": "green", "motion": "up", "speed": "fast"}], []),
    ("a purple box, in no rush, sinking", [{"shape": "square", "color": "purple", "motion": "down", "speed": "slow"}], []),
    ("a white star takes its time crossing to the left",
     [{"shape": "star", "color": "white", "motion": "left", "speed": "slow"}], []),
    # a heading told as a clock time
    ("a blue ball drifting toward 7:30", [{"shape": "circle", "color": "blue", "motion": "down-left"}], []),
    ("an orange box aimed at 1:30 on the clock face", [{"shape": "square", "color": "orange", "motion": "up-right"}], []),
    # the bar left out after its noun, or by another verb
    ("a yellow star falling; leave the post out", [{"shape": "star", "color": "yellow", "motion": "down"}], []),
    # a colour after its noun, with "in"
    ("one star in lime and one box in snow", [{"shape": "star", "color": "green"}, {"shape": "square", "color": "white"}],
     []),
    ("a dot in a deep-purple tone rising", [{"shape": "circle", "color": "purple", "motion": "up"}], []),
    # "red one" opening a clause names the red object, as "the red one" does
    ("teal and scarlet discs; teal one falls, scarlet one climbs",
     [{"shape": "circle", "color": "cyan", "motion": "down"}, {"shape": "circle", "color": "red", "motion": "up"}], []),
    ("two triangles going different ways: a white one left and a green one right",
     [{"shape": "triangle", "color": "white", "motion": "left"}, {"shape": "triangle", "color": "green", "motion": "right"}],
     []),
    # where a motion starts and ends, with words or an arrow
    ("a lime box that begins at the bottom edge and finishes at the top", [{"shape": "square", "color": "green",
                                                                          "motion": "up"}], []),
    ("white dot: starts right, ends left", [{"shape": "circle", "color": "white", "motion": "left"}], []),
    ("blue star, path top-left -> bottom-right", [{"shape": "star", "color": "blue", "motion": "down-right"}], []),
    # labels saying where an object is placed are no headings
    ("Upper one: a red dot drifting down. Lower one: a white star rising.",
     [{"shape": "circle", "color": "red", "motion": "down"}, {"shape": "star", "color": "white", "motion": "up"}], []),
    ("The left shape is an orange box going up", [{"shape": "square", "color": "orange", "motion": "up"}], []),
    # "the middle one", "the rest", "the others"
    ("a red dot, a blue dot and a green dot. the middle one falls; the rest sit still",
     [{"shape": "circle", "color": "red", "motion": "still"}, {"shape": "circle", "color": "blue", "motion": "down"},
      {"shape": "circle", "color": "green", "motion": "still"}], []),
    ("sorted smallest to largest: a small cyan star and a big white box; the larger one climbs",
     [{"shape": "star", "color": "cyan", "size": "small"},
      {"shape": "square", "color": "white", "size": "large", "motion": "up"}], []),
    # changes of mind: the last word said wins
    ("a cyan box drifting down, slow... ugh, let's say fast", [{"shape": "square", "color": "cyan", "motion": "down",
                                                               "speed": "fast"}], []),
    ("a white dot, sorry, a green one, rising", [{"shape": "circle", "color": "green", "motion": "up"}], []),
    ("not a star, let's say a box, in purple", [{"shape": "square", "color": "purple"}], []),
    ("an orange box and a blue star. strike the box.", [{"shape": "star", "color": "blue"}], []),
    # things known for their speed
    ("a lemon star sinking like a tortoise", [{"shape": "star", "color": "yellow", "motion": "down", "speed": "slow"}],
     []),
    ("a purple box flying left like a bullet", [{"shape": "square", "color": "purple", "motion": "left",
                                                 "speed": "fast"}], []),
    ("a teal dot moving up, quick - ugh, slow", [{"shape": "circle", "color": "cyan", "motion": "up", "speed": "slow"}],
     []),
    # what everything does, said before the list; a denied wish; literal headings; holds
    ("Both sliding right: an amber dot and a snow box", [{"shape": "circle", "color": "orange", "motion": "right"},
                                                         {"shape": "square", "color": "white", "motion": "right"}], []),
    ("we don't need it to bounce, the purple box should just sit there",
     [{"shape": "square", "color": "purple", "motion": "still"}], []),
    ("the red ball makes a journey to the up", [{"shape": "circle", "color": "red", "motion": "up"}], []),
    ("hold frame on a blue box", [{"shape": "square", "color": "blue", "motion": "still"}], []),
    # fields of a form, and a path said before its object
    ("Bouncing, that is the motion. The shape is a square, white.",
     [{"shape": "square", "color": "white", "motion": "bouncing"}], []),
    ("Path: top-left to bottom-right. Object: a lime dot.", [{"shape": "circle", "color": "green",
                                                             "motion": "down-right"}], []),
    ("the scarlet box slides top to bottom", [{"shape": "square", "color": "red", "motion": "down"}],
     []),
    ("set up a scene with a blue star drifting left", [{"shape": "star", "color": "blue", "motion": "left"}], []),
    # a typo between a world word and another is the world's; "or wait"; "actually also" adds
    ("a grean dot rising", [{"shape": "circle", "color": "green", "motion": "up"}], []),
    ("a white box going down, or wait, going up", [{"shape": "square", "color": "white", "motion": "up"}], []),
    ("a red dot falling. actually also a blue box climbing", [{"shape": "circle", "color": "red", "motion": "down"},
                                                              {"shape": "square", "color": "blue", "motion": "up"}], []),
    ("a yellow ball that rebounds off the borders", [{"shape": "circle", "color": "yellow", "motion": "bouncing"}], []),
    ("a little violet square which stays on the place", [{"shape": "square", "color": "purple", "size": "small",
                                                          "motion": "still"}], []),
    ("a white dot sliding left, charcoal backplate", [{"shape": "circle", "color": "white", "motion": "left"}], []),
    # a comparative names one of two objects: "the smaller one", "the faster of two dots"
    ("a red box and a white box; the smaller one sits still, the larger one climbs",
     [{"shape": "square", "color": "red", "size": "small", "motion": "still"},
      {"shape": "square", "color": "white", "size": "large", "motion": "up"}], []),
    ("The faster of two dots is green and heads left; the slower is yellow and heads right",
     [{"shape": "circle", "color": "green", "motion": "left", "speed": "fast"},
      {"shape": "circle", "color": "yellow", "motion": "right", "speed": "slow"}], []),
    ("two stars; the bigger one is navy blue, the other is white",
     [{"shape": "star", "color": "blue", "size": "large"}, {"shape": "star", "color": "white", "size": "small"}], []),
    # an English word one letter from a colour or a shape, where only that fits, is a slip
    ("a whit box rising", [{"shape": "square", "color": "white", "motion": "up"}], []),
    ("a green bawl sliding left", [{"shape": "circle", "color": "green", "motion": "left"}], []),
    # "a blue one" after a star named alone is one more star
    ("an orange box going up, and a purple one going down",
     [{"shape": "square", "color": "orange", "motion": "up"}, {"shape": "square", "color": "purple", "motion": "down"}],
     []),
    # colours named as references, each followed by its speed
    ("a white dot and a red dot both falling, white slow red fast",
     [{"shape": "circle", "color": "white", "motion": "down", "speed": "slow"},
      {"shape": "circle", "color": "red", "motion": "down", "speed": "fast"}], []),
    # the frame's or the screen's side, and a side without its article
    ("a lime box gliding in from screen right", [{"shape": "square", "color": "green", "motion": "left"}], []),
    ("a red star from left, moving along", [{"shape": "star", "color": "red", "motion": "right"}], []),
    # a gun's verb is a speed, not the colour of fire; waiting is staying
    ("a cyan dot firing upward", [{"shape": "circle", "color": "cyan", "motion": "up", "speed": "fast"}], []),
    ("a white box that just waits", [{"shape": "square", "color": "white", "motion": "still"}], []),
    ("a blue star which stays in the place", [{"shape": "star", "color": "blue", "motion": "still"}], []),
    # "so a large one" says the noun again; "in white" after a break is the noun's colour
    ("a dot bigger than usual, so a large one, going left", [{"shape": "circle", "size": "large", "motion": "left"}],
     []),
    ("a small box, in purple, going down", [{"shape": "square", "color": "purple", "size": "small", "motion": "down"}],
     []),
    # edits with "have" and "let", and "instead of" what it was
    ("a red dot and a blue box, both rising. have the box fall instead",
     [{"shape": "circle", "color": "red", "motion": "up"}, {"shape": "square", "color": "blue", "motion": "down"}], []),
    ("a yellow star and a white dot. let the dot drop slowly",
     [{"shape": "star", "color": "yellow"}, {"shape": "circle", "color": "white", "motion": "down", "speed": "slow"}], []),
    ("a green box going left. make the box red instead of green", [{"shape": "square", "color": "red", "motion": "left"}],
     []),
    # motions shared or divided between two objects
    ("A lime dot and an amber box. One climbs, the other sinks.",
     [{"shape": "circle", "color": "green", "motion": "up"}, {"shape": "square", "color": "orange", "motion": "down"}], []),
    ("a white box drifts down, and so does a cyan ball",
     [{"shape": "square", "color": "white", "motion": "down"}, {"shape": "circle", "color": "cyan", "motion": "down"}], []),
    ("a red star bounces; a green dot does the same",
     [{"shape": "star", "color": "red", "motion": "bouncing"}, {"shape": "circle", "color": "green",
                                                                "motion": "bouncing"}], []),
    ("a purple dot goes up and a yellow box goes the other way",
     [{"shape": "circle", "color": "purple", "motion": "up"}, {"shape": "square", "color": "yellow", "motion": "down"}],
     []),
    ("two boxes, one white and one blue, heading in opposite directions: the white heads up",
     [{"shape": "square", "color": "white", "motion": "up"}, {"shape": "square", "color": "blue", "motion": "down"}], []),
    ("Both a cyan box and a red star are rising.",
     [{"shape": "square", "color": "cyan", "motion": "up"}, {"shape": "star", "color": "red", "motion": "up"}], []),
    ("Neither the white dot nor the green box moves.",
     [{"shape": "circle", "color": "white", "motion": "still"}, {"shape": "square", "color": "green", "motion": "still"}],
     []),
    ("an orange dot and a blue star, neither one moving",
     [{"shape": "circle", "color": "orange", "motion": "still"}, {"shape": "star", "color": "blue", "motion": "still"}],
     []),
    ("a yellow box sliding left and below it a white dot sliding right",
     [{"shape": "square", "color": "yellow", "motion": "left"}, {"shape": "circle", "color": "white", "motion": "right"}],
     []),
    # "neither ... nor ... but", a denied verb of going, a shade of a colour, a shape's facing
    ("a white dot heading neither left nor right but straight down", [{"shape": "circle", "color": "white",
                                                                       "motion": "down"}], []),
    ("a red box that does not move left but moves up", [{"shape": "square", "color": "red", "motion": "up"}], []),
    ("a star in a pale shade of green", [{"shape": "star", "color": "green"}], []),
    ("a blue triangle facing left, drifting down", [{"shape": "triangle", "color": "blue", "motion": "down"}], []),
    # references to several objects: "the circles", "the small ones", "the latter two"; a plural verb's subject
    ("Two dots and a box: the dots (lime and white) rise, the box (cyan) falls.",
     [{"shape": "circle", "color": "green", "motion": "up"}, {"shape": "circle", "color": "white", "motion": "up"},
      {"shape": "square", "color": "cyan", "motion": "down"}], []),
    ("a small red box, a large white box and a small blue box; the large one rises and the small ones sink",
     [{"shape": "square", "color": "red", "size": "small", "motion": "down"},
      {"shape": "square", "color": "white", "size": "large", "motion": "up"},
      {"shape": "square", "color": "blue", "size": "small", "motion": "down"}], []),
    ("a yellow dot, a red box and a white star; the latter two drift left, the first drifts right",
     [{"shape": "circle", "color": "yellow", "motion": "right"}, {"shape": "square", "color": "red", "motion": "left"},
      {"shape": "star", "color": "white", "motion": "left"}], []),
    ("a cyan box bounces while a red dot and a white star stay still",
     [{"shape": "square", "color": "cyan", "motion": "bouncing"}, {"shape": "circle", "color": "red", "motion": "still"},
      {"shape": "star", "color": "white", "motion": "still"}], []),
    ("a purple star sliding left, for the little ones", [{"shape": "star", "color": "purple", "motion": "left"}], []),
    # the motion said before what does it, as a sentence or as labels
    ("Sinking slowly is a white box; rising fast is a green dot.",
     [{"shape": "square", "color": "white", "motion": "down", "speed": "slow"},
      {"shape": "circle", "color": "green", "motion": "up", "speed": "fast"}], []),
    ("Rising: orange dot. Falling: blue star.", [{"shape": "circle", "color": "orange", "motion": "up"},
                                                 {"shape": "star", "color": "blue", "motion": "down"}], []),
    ("white box: down / red dot: up", [{"shape": "square", "color": "white", "motion": "down"},
                                       {"shape": "circle", "color": "red", "motion": "up"}], []),
    ("a lime ball ping-ponging around", [{"shape": "circle", "color": "green", "motion": "bouncing"}], []),
    # sizes by denial and by measure; speeds by verb and simile; a navy object is blue
    ("a white box that is not big, rising", [{"shape": "square", "color": "white", "size": "small", "motion": "up"}], []),
    ("a red dot no bigger than a coin", [{"shape": "circle", "color": "red", "size": "small"}], []),
    ("a green star that fills most of the frame", [{"shape": "star", "color": "green", "size": "large"}], []),
    ("an orange box careening left", [{"shape": "square", "color": "orange", "motion": "left", "speed": "fast"}], []),
    ("a white dot dawdling down", [{"shape": "circle", "color": "white", "motion": "down", "speed": "slow"}], []),
    ("a cyan star sliding up like molasses", [{"shape": "star", "color": "cyan", "motion": "up", "speed": "slow"}], []),
    ("a navy dot drifting right", [{"shape": "circle", "color": "blue", "motion": "right"}], []),
    ("two hexagons: a red one and a white one", [{"color": "red"}, {"color": "white"}], ["hexagons"]),
    # "one of them", references by outline, item labels, numbered items, a list of motions, "to its right"
    ("a white dot and a green box; one of them rises, the other sinks",
     [{"shape": "circle", "color": "white", "motion": "up"}, {"shape": "square", "color": "green", "motion": "down"}], []),
    ("a cyan ball and an orange box. The square one climbs, the round one drops.",
     [{"shape": "circle", "color": "cyan", "motion": "down"}, {"shape": "square", "color": "orange", "motion": "up"}], []),
    ("Object 1: white star, drifting left. Object 2: red box, drifting right.",
     [{"shape": "star", "color": "white", "motion": "left"}, {"shape": "square", "color": "red", "motion": "right"}], []),
    ("Two things. Thing one: a red dot. Object two: a white star. Object one sinks; object two climbs.",
     [{"shape": "circle", "color": "red", "motion": "down"}, {"shape": "star", "color": "white", "motion": "up"}], []),
    ("1. lime dot - sinking 2. purple star - climbing",
     [{"shape": "circle", "color": "green", "motion": "down"}, {"shape": "star", "color": "purple", "motion": "up"}], []),
    ("Shapes: a yellow box, a white dot. Motions: left, down.",
     [{"shape": "square", "color": "yellow", "motion": "left"}, {"shape": "circle", "color": "white", "motion": "down"}],
     []),
    ("a green dot rising while a red star, to its left, sinks",
     [{"shape": "circle", "color": "green", "motion": "up"}, {"shape": "star", "color": "red", "motion": "down"}], []),
    # a count after "do" counts objects ("can u do 2 ...", not a name like "Level 2")
    ("can u do 2 stars, 1 white 1 cyan, white goes left cyan goes right",
     [{"shape": "star", "color": "white", "motion": "left"}, {"shape": "star", "color": "cyan", "motion": "right"}], []),
    # a coloured sky or night is the ground, no object
    ("a white dot drifting left in a deep-blue sky", [{"shape": "circle", "color": "white", "motion": "left"}], []),
    # "quick one" asks for a quick answer, not a fast object
    ("hi quick one, a red dot sliding right", [{"shape": "circle", "color": "red", "motion": "right"}], []),
]


@pytest.mark.parametrize("prompt,want,reported", CASES, ids=[c[0] for c in CASES])
def test_prompt_maps_onto_the_world_or_is_reported(mapper, prompt, want, reported):
    got, norm = objects(mapper, prompt)
    assert got == want, norm.text
    assert [w for w in reported if w not in norm.unmapped] == [], norm.unmapped


def test_the_bar_left_out_says_there_is_none(mapper):
    assert mapper.normalize("a red dot going up, keep the pillar thing out of it").parsed.occluder is False
    assert mapper.normalize("red dot, up | pole=0 | bg=navy").parsed.occluder is False
    assert mapper.normalize("red dot, up | occ: 1").parsed.occluder is True
    assert mapper.normalize("a red dot going up, please omit the pole").parsed.occluder is False


def test_a_markdown_table_is_one_object_per_row(mapper):
    prompt = ("| id | shape | color | motion |\n|----|-------|-------|--------|\n| a | box | lime | up |\n"
              "| b | dot | snow | still |")
    got, norm = objects(mapper, prompt)
    assert got == [{"shape": "square", "color": "green", "motion": "up"},
                   {"shape": "circle", "color": "white", "motion": "still"}], norm.text


def test_a_coloured_sky_is_the_background(mapper):
    assert mapper.normalize("a white dot drifting left in a deep-blue sky").parsed.background == "navy"


def test_more_objects_than_the_world_holds_are_counted_not_cut_to_one(mapper):
    assert mapper.normalize("seven little triangles").parsed.count == 7
    assert mapper.normalize("a dozen white dots").parsed.count == 12
