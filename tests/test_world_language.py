"""Language that does not break (issue 33): each phrasing either maps onto the world or is reported
as unmapped, never a crash, never an invented object."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from minisora.world.grammar import parse
from minisora.world.phrases import tokenize
from minisora.world.normalize import WordMapper
from minisora.world.spelling import Speller, compound_shape, edit_distance


@pytest.fixture(scope="module")
def mapper():
    return WordMapper(encoder=None)


def objects(mapper, prompt):
    norm = mapper.normalize(prompt)
    return [{k: v for k, v in vars(o).items() if v is not None} for o in norm.parsed.objects], norm


CASES = [
    # number words inside compounds
    ("a five-pointed star moving left", [{"shape": "star", "motion": "left"}], []),
    ("a five pointed red star", [{"shape": "star", "color": "red"}], []),
    ("a three-sided green shape drifting right", [{"shape": "triangle", "color": "green", "motion": "right"}], []),
    ("a two-tone red square going up", [{"shape": "square", "color": "red", "motion": "up"}], ["two-tone"]),
    ("a one-eyed blue circle bouncing", [{"shape": "circle", "color": "blue", "motion": "bouncing"}], ["one-eyed"]),
    # multi-word noun phrases
    ("a turquoise round dot dropping downward", [{"shape": "circle", "color": "cyan", "motion": "down"}], []),
    ("a red square block sliding left", [{"shape": "square", "color": "red", "motion": "left"}], []),
    ("a yellow ball of light rising", [{"shape": "circle", "color": "yellow", "motion": "up"}], []),
    # shape nouns outside the four
    ("a tangerine block moving right", [{"shape": "square", "color": "orange", "motion": "right"}], []),
    ("a white puck sliding left", [{"shape": "circle", "color": "white", "motion": "left"}], []),
    ("a purple disc moving down", [{"shape": "circle", "color": "purple", "motion": "down"}], []),
    ("a green rhombus moving up", [{"shape": "square", "color": "green", "motion": "up"}], []),
    ("an orange hexagon drifting left", [{"color": "orange", "motion": "left"}], ["hexagon"]),
    # wrong or missing articles
    ("a orange triangle moves right", [{"shape": "triangle", "color": "orange", "motion": "right"}], []),
    ("orange triangle moves left", [{"shape": "triangle", "color": "orange", "motion": "left"}], []),
    # counts
    ("two circles, one red and one blue, moving left",
     [{"shape": "circle", "color": "red", "motion": "left"}, {"shape": "circle", "color": "blue", "motion": "left"}], []),
    ("a pair of stars, one yellow and one green", [{"shape": "star", "color": "yellow"},
                                                   {"shape": "star", "color": "green"}], []),
    ("three squares rising", [{"shape": "square", "motion": "up"}] * 3, []),
    ("several circles bouncing", [{"shape": "circle", "motion": "bouncing"}] * 3, []),
    ("red and blue circles moving left", [{"shape": "circle", "color": "red", "motion": "left"},
                                          {"shape": "circle", "color": "blue", "motion": "left"}], []),
    # negation
    ("a red circle not moving", [{"shape": "circle", "color": "red", "motion": "still"}], []),
    ("a blue star that doesn't move", [{"shape": "star", "color": "blue", "motion": "still"}], []),
    ("a blue star without moving", [{"shape": "star", "color": "blue", "motion": "still"}], []),
    ("a blue star without a background", [{"shape": "star", "color": "blue"}], []),
    # British spellings
    ("a circle whose colour is red moving left", [{"shape": "circle", "color": "red", "motion": "left"}], []),
    ("a grey circle", [{"shape": "circle"}], ["grey"]),  # no grey objects in this world: reported as typed
    ("a red-coloured star travelling left", [{"shape": "star", "color": "red", "motion": "left"}], []),
    # typos within one or two edits
    ("a red cirlce moving left", [{"shape": "circle", "color": "red", "motion": "left"}], []),
    ("a gren sqaure moving rihgt", [{"shape": "square", "color": "green", "motion": "right"}], []),
    ("a yelow trinagle movng dwon", [{"shape": "triangle", "color": "yellow", "motion": "down"}], []),
    ("two circlse staying in place", [{"shape": "circle", "motion": "still"}] * 2, []),
    # word orders the templates never use
    ("moving left, a red circle", [{"shape": "circle", "color": "red", "motion": "left"}], []),
    ("a star, red, going up", [{"shape": "star", "color": "red", "motion": "up"}], []),
    ("rising to the upper right, a crimson triangle", [{"shape": "triangle", "color": "red", "motion": "up-right"}], []),
    ("a cube falling toward the lower left at a leisurely pace, and a lemon ball",
     [{"shape": "square", "motion": "down-left", "speed": "slow"}, {"shape": "circle", "color": "yellow"}], []),
    # free phrasings a user probe of 2026-12-07 broke on (each used to invent an object or lose a motion)
    ("a square shaped red object moving left", [{"shape": "square", "color": "red", "motion": "left"}], []),
    ("a star-shaped blue thing going up", [{"shape": "star", "color": "blue", "motion": "up"}], []),
    ("a yellow sun moving across the sky", [{"shape": "circle", "color": "yellow"}], ["sky"]),
    ("a circle moving in a circle", [{"shape": "circle"}], ["in a circle"]),
    ("a cyan and a blue circle moving up", [{"shape": "circle", "color": "cyan", "motion": "up"},
                                            {"shape": "circle", "color": "blue", "motion": "up"}], []),
    ("a navy blue square sliding left", [{"shape": "square", "color": "blue", "motion": "left"}], []),
    ("a sky blue circle", [{"shape": "circle", "color": "cyan"}], []),
    ("a red ball, a yellow box and a purple triangle, all heading left",
     [{"shape": "circle", "color": "red", "motion": "left"}, {"shape": "square", "color": "yellow", "motion": "left"},
      {"shape": "triangle", "color": "purple", "motion": "left"}], []),
    ("small red square, big blue circle, both moving right",
     [{"shape": "square", "color": "red", "size": "small", "motion": "right"},
      {"shape": "circle", "color": "blue", "size": "large", "motion": "right"}], []),
    ("a ruby star sinking toward the floor", [{"shape": "star", "color": "red", "motion": "down"}], []),
    ("a blue ball rising up into the sky", [{"shape": "circle", "color": "blue", "motion": "up"}], []),
    ("a fast white triangle heading southwest",
     [{"shape": "triangle", "color": "white", "motion": "down-left", "speed": "fast"}], []),
    ("a giant purple square that just sits there", [{"shape": "square", "color": "purple", "size": "large",
                                                      "motion": "still"}], []),
    ("an olive triangle spinning in place", [{"shape": "triangle", "color": "green", "motion": "still"}], ["spinning"]),
    ("a large crimson square and a small teal star, the square moving left and the star moving right",
     [{"shape": "square", "color": "red", "size": "large", "motion": "left"},
      {"shape": "star", "color": "cyan", "size": "small", "motion": "right"}], []),
    ("a red circle and a blue circle, the red one moving left",
     [{"shape": "circle", "color": "red", "motion": "left"}, {"shape": "circle", "color": "blue"}], []),
    # ... and a third round, 100 prompts written by someone shown only what the world draws
    ("yo gimme a big yellow star zooming up fast",
     [{"shape": "star", "color": "yellow", "size": "large", "motion": "up", "speed": "fast"}], []),
    ("small orange circle, fast, diagonal down-right, gray bg",
     [{"shape": "circle", "color": "orange", "size": "small", "motion": "down-right", "speed": "fast"}], []),
    ("a tiny cyan triangle heading towards 3 o'clock", [{"shape": "triangle", "color": "cyan", "size": "small",
                                                          "motion": "right"}], []),
    ("a red triangle moving in the 6 o'clock direction", [{"shape": "triangle", "color": "red", "motion": "down"}], []),
    ("a heart shape floating up", [{"motion": "up"}], ["heart"]),
    ("an object moving right", [{"motion": "right"}], []),
    ("a blue triangle rotating clockwise", [{"shape": "triangle", "color": "blue"}], ["rotating", "clockwise"]),
    ("2 triangles: orange going up, cyan going down", [{"shape": "triangle", "color": "orange", "motion": "up"},
                                                        {"shape": "triangle", "color": "cyan", "motion": "down"}], []),
    ("three blocks (ruby, violet and amber) climbing", [{"shape": "square", "color": c, "motion": "up"}
                                                        for c in ("red", "purple", "orange")], []),
    ("three shapes each moving down: a cyan circle, a purple triangle and a white star",
     [{"shape": s, "color": c, "motion": "down"} for s, c in (("circle", "cyan"), ("triangle", "purple"),
                                                              ("star", "white"))], []),
    ("a square which is bouncing and a star which is moving right, the square is red and the star is blue",
     [{"shape": "square", "color": "red", "motion": "bouncing"}, {"shape": "star", "color": "blue", "motion": "right"}],
     []),
    ("a sapphire orb and an amber box moving right and left respectively",
     [{"shape": "circle", "color": "blue", "motion": "right"}, {"shape": "square", "color": "orange", "motion": "left"}],
     []),
    ("a square moving left and a circle moving right, coloured blue and orange respectively",
     [{"shape": "square", "color": "blue", "motion": "left"}, {"shape": "circle", "color": "orange", "motion": "right"}],
     []),
    ("an orange circle moving right behind a vertical pole", [{"shape": "circle", "color": "orange", "motion": "right"}],
     []),
    ("a circle zig-zagging across the screen", [{"shape": "circle"}], ["zig zagging"]),
    ("lol just a green box doing nothing", [{"shape": "square", "color": "green", "motion": "still"}], []),
    ("the circle doesnt move", [{"shape": "circle", "motion": "still"}], []),
    # ... and a fourth, 120 prompts with their own truth, measured before these rules were written
    ("can u do like a yelow ball just chillin not movin", [{"shape": "circle", "color": "yellow", "motion": "still"}],
     []),
    ("huge orange circle bouncin slowww on black",
     [{"shape": "circle", "color": "orange", "size": "large", "motion": "bouncing", "speed": "slow"}], []),
    ("2 dots red n blue, red goes left blue goes right", [{"shape": "circle", "color": "red", "motion": "left"},
                                                         {"shape": "circle", "color": "blue", "motion": "right"}], []),
    ("A ruby-coloured circle gliding slowly towards the right-hand side of the screen",
     [{"shape": "circle", "color": "red", "motion": "right", "speed": "slow"}], []),
    ("Sapphire triangle travelling to the left, behind a tall grey pillar",
     [{"shape": "triangle", "color": "blue", "motion": "left"}], []),
    ("Object: blue square. Motion: north. Speed: slow.",
     [{"shape": "square", "color": "blue", "motion": "up", "speed": "slow"}], []),
    ("white triangle, static, size large, bg gray, occluder: vertical bar",
     [{"shape": "triangle", "color": "white", "size": "large", "motion": "still"}], []),
    ("yellow star, direction SW, background navy", [{"shape": "star", "color": "yellow", "motion": "down-left"}], []),
    ("large purple triangle, trajectory: top-left corner to bottom-right corner, fast",
     [{"shape": "triangle", "color": "purple", "size": "large", "motion": "down-right", "speed": "fast"}], []),
    ("orange triangle from right edge to left edge, quick",
     [{"shape": "triangle", "color": "orange", "motion": "left", "speed": "fast"}], []),
    ("a short animation of three shapes: a red star, a green circle, and a blue triangle, all moving upward",
     [{"shape": s, "color": c, "motion": "up"} for s, c in (("star", "red"), ("circle", "green"),
                                                            ("triangle", "blue"))], []),
    ("A red square that grows bigger and bigger as it moves up",
     [{"shape": "square", "color": "red", "size": "large", "motion": "up"}], ["grows"]),
    ("A yellow square and a blue circle, neither of which moves",
     [{"shape": "square", "color": "yellow", "motion": "still"}, {"shape": "circle", "color": "blue", "motion": "still"}],
     []),
    ("sick purple triangle flyin left super fast", [{"shape": "triangle", "color": "purple", "motion": "left",
                                                     "speed": "fast"}], ["sick"]),
    ("Not a circle, a triangle: red, heading up to the left", [{"shape": "triangle", "color": "red",
                                                               "motion": "up-left"}], []),
    ("a circle that isn't red but blue, moving down", [{"shape": "circle", "color": "blue", "motion": "down"}], []),
    ("a blue star, not fast", [{"shape": "star", "color": "blue", "speed": "slow"}], []),
    # ... and a fifth, 120 prompts in six voices, scored before any rule was written for it
    ("Minimal composition: a single large crimson circle drifting slowly to the right",
     [{"shape": "circle", "color": "red", "size": "large", "motion": "right", "speed": "slow"}], ["composition"]),
    ("green circle small up-right slow + purple star large still, bg=gray",
     [{"shape": "circle", "color": "green", "size": "small", "motion": "up-right", "speed": "slow"},
      {"shape": "star", "color": "purple", "size": "large", "motion": "still"}], []),
    ("My favourite colour is pink so could you do a pink circle", [{"shape": "circle", "color": "red"}], []),
    ("Two travelers: a white disc falling, a cyan square rising", [{"shape": "circle", "color": "white", "motion": "down"},
                                                                  {"shape": "square", "color": "cyan", "motion": "up"}],
     ["travelers"]),
    ("The world turns slowly around a small yellow square", [{"shape": "square", "color": "yellow", "size": "small",
                                                               "speed": "slow"}], ["world"]),
    ("Hi! Could you make me a little clip of a red circle just slowly floating up?",
     [{"shape": "circle", "color": "red", "motion": "up", "speed": "slow"}], []),
    ("Alright, one more: a big purple circle on the left moving right, and a small orange circle moving left",
     [{"shape": "circle", "color": "purple", "size": "large", "motion": "right"},
      {"shape": "circle", "color": "orange", "size": "small", "motion": "left"}], []),
    ("Red star, green circle, blue square: the first climbs, the second falls, the third is still",
     [{"shape": "star", "color": "red", "motion": "up"}, {"shape": "circle", "color": "green", "motion": "down"},
      {"shape": "square", "color": "blue", "motion": "still"}], []),
    ("Emerald circle and sapphire triangle bouncing in sync",
     [{"shape": "circle", "color": "green", "motion": "bouncing"}, {"shape": "triangle", "color": "blue",
                                                                    "motion": "bouncing"}], []),
    ("3 objs: {orange star up}, {cyan circle down}, {white square still}; bg navy",
     [{"shape": "star", "color": "orange", "motion": "up"}, {"shape": "circle", "color": "cyan", "motion": "down"},
      {"shape": "square", "color": "white", "motion": "still"}], []),
    ("make a tiny orange star jump jump jump", [{"shape": "star", "color": "orange", "size": "small",
                                                "motion": "bouncing"}], []),
    ("A yellow circle, would look cool, zipping up and to the right",
     [{"shape": "circle", "color": "yellow", "motion": "up-right", "speed": "fast"}], []),
    ("red tri sm left slow; yellow circ lg right fast",
     [{"shape": "triangle", "color": "red", "size": "small", "motion": "left", "speed": "slow"},
      {"shape": "circle", "color": "yellow", "size": "large", "motion": "right", "speed": "fast"}], []),
    # ... and a sixth, 150 prompts in ten voices, its held-out figure taken before these rules
    ("a red square n a yellow circle, square goes up circle goes down, slow mo",
     [{"shape": "square", "color": "red", "motion": "up", "speed": "slow"},
      {"shape": "circle", "color": "yellow", "motion": "down", "speed": "slow"}], []),  # ", slow mo": everyone's
    ("One red circle and one blue circle. The red is big, the blue is small.",
     [{"shape": "circle", "color": "red", "size": "large"}, {"shape": "circle", "color": "blue", "size": "small"}], []),
    ("Collision test: red circle moving right, blue circle moving left, both small",
     [{"shape": "circle", "color": "red", "size": "small", "motion": "right"},
      {"shape": "circle", "color": "blue", "size": "small", "motion": "left"}], []),
    ("Three little shapes: a red star, a green square and a blue triangle, moving up quite fast.",
     [{"shape": s, "color": c, "size": "small", "motion": "up", "speed": "fast"}
      for s, c in (("star", "red"), ("square", "green"), ("triangle", "blue"))], []),
    ("spec: {color: cyan, shape: circle, size: small, motion: bouncing, speed: fast}",
     [{"shape": "circle", "color": "cyan", "size": "small", "motion": "bouncing", "speed": "fast"}], []),
    ('{"objects":[{"shape":"square","color":"#FFA500","motion":"down"}]}',
     [{"shape": "square", "color": "orange", "motion": "down"}], []),
    ("Level 2 boss: a huge purple star that just sits there, idle.",
     [{"shape": "star", "color": "purple", "size": "large", "motion": "still"}], ["level 2"]),
    ("A small orange circle tumbled down and to the right, quick as a fox.",
     [{"shape": "circle", "color": "orange", "size": "small", "motion": "down-right", "speed": "fast"}], ["as a fox"]),
    ("A white square bouncing up and down like a rubber ball, quickly.",
     [{"shape": "square", "color": "white", "motion": "bouncing", "speed": "fast"}], ["like a rubber ball"]),
    ("I would like a red circle", [{"shape": "circle", "color": "red"}], []),
    ("Projectile: tiny orange circle, moves up-right", [{"shape": "circle", "color": "orange", "size": "small",
                                                         "motion": "up-right"}], []),
    ("A green square shall move leftward", [{"shape": "square", "color": "green", "motion": "left"}], []),
    ("yo just spawn a red circle and have it strafe left", [{"shape": "circle", "color": "red", "motion": "left"}], []),
    ("Three squares: a red, a green and a blue. The red goes left, the green goes right",
     [{"shape": "square", "color": "red", "motion": "left"}, {"shape": "square", "color": "green", "motion": "right"},
      {"shape": "square", "color": "blue"}], []),
    ("Two circles: one orange that goes to the left, and one purple that goes up",
     [{"shape": "circle", "color": "orange", "motion": "left"}, {"shape": "circle", "color": "purple", "motion": "up"}],
     []),
    ("a rde cirlce moving to the rihgt", [{"shape": "circle", "color": "red", "motion": "right"}], []),
    ("a magenta star", [{"shape": "star", "color": "purple"}], []),
    ("glowing milky white cube heading to the left", [{"shape": "square", "color": "white", "motion": "left"}],
     ["glowing"]),  # the first parse's stray "white" is no unknown word to map
    ("Three runners: red square up, blue square up, green square up, and they're all sprinting fast",
     [{"shape": "square", "color": c, "motion": "up", "speed": "fast"} for c in ("red", "blue", "green")], []),
    ("A green square shall move leftward. A vertical pillar shall be situated in front of said square's path.",
     [{"shape": "square", "color": "green", "motion": "left"}], []),
    ("Three forms: square red, triangle blue, circle white. All go up.",
     [{"shape": s, "color": c, "motion": "up"} for s, c in (("square", "red"), ("triangle", "blue"),
                                                            ("circle", "white"))], ["forms"]),
    ("2 circles, 1 pink 1 green, both goin up", [{"shape": "circle", "color": "red", "motion": "up"},
                                                  {"shape": "circle", "color": "green", "motion": "up"}], []),
    ("One red circle and one blue circle. The red is big, the blue is small. Both are staying.",
     [{"shape": "circle", "color": "red", "size": "large", "motion": "still"},
      {"shape": "circle", "color": "blue", "size": "small", "motion": "still"}], []),
    ("Three triangles - one red, one blue, one green - and each of them moves right fast.",
     [{"shape": "triangle", "color": c, "motion": "right", "speed": "fast"} for c in ("red", "blue", "green")], []),
    ("the green circle that never quits, bouncing behind a vertical pillar",
     [{"shape": "circle", "color": "green", "motion": "bouncing"}], []),
    ("a teeny tiny red triangle going down and right", [{"shape": "triangle", "color": "red", "size": "small",
                                                         "motion": "down-right"}], []),
    ("a big big cyan circle that moves sloooowly to the right", [{"shape": "circle", "color": "cyan", "size": "large",
                                                                  "motion": "right", "speed": "slow"}], []),
    ("navy background like the ocean and a green square bouncing fast",
     [{"shape": "square", "color": "green", "motion": "bouncing", "speed": "fast"}], ["like the ocean"]),
    # a seventh set's one crash (withdrawn guesses went back and forth without end) and its typos
    ("two shapse a wite star and a red sqaure, the star goes up rigth the square goes down left",
     [{"shape": "star", "color": "white", "motion": "up-right"},
      {"shape": "square", "color": "red", "motion": "down-left"}], []),
    ("Player token is a green circle bouncing off the walls", [{"shape": "circle", "color": "green",
                                                                "motion": "bouncing"}], ["token"]),
    ("a red star moving up and a blue circle, both fast",
     [{"shape": "star", "color": "red", "motion": "up", "speed": "fast"},
      {"shape": "circle", "color": "blue", "speed": "fast"}], []),
    # an eighth set: chat shorthand with the vowels dropped, arrows and emoji for words
    ("blu sq + ylw tri, sq goes up tri goes dwn, bg blk pls",
     [{"shape": "square", "color": "blue", "motion": "up"}, {"shape": "triangle", "color": "yellow", "motion": "down"}],
     []),
    ("orng circ \u2198 slow", [{"shape": "circle", "color": "orange", "motion": "down-right", "speed": "slow"}], []),
    ("wht box chillin not moving, gry bg", [{"shape": "square", "color": "white", "motion": "still"}], []),
    ("\U0001f534 moving \u27a1\ufe0f", [{"shape": "circle", "color": "red", "motion": "right"}], []),
    ("idk smth like a green sq n a blue sq both going up",
     [{"shape": "square", "color": "green", "motion": "up"}, {"shape": "square", "color": "blue", "motion": "up"}], []),
    # list markers, dictated punctuation, hesitations before a count, "won't stop", nouns outside the world
    ("Acceptance criteria: (1) one object (2) white star (3) stationary (4) gray bg",
     [{"shape": "star", "color": "white", "motion": "still"}], []),
    ("1) red circle going up 2) blue square going down",
     [{"shape": "circle", "color": "red", "motion": "up"}, {"shape": "square", "color": "blue", "motion": "down"}], []),
    ("cyan star moving left comma magenta hexagon moving right",
     [{"shape": "star", "color": "cyan", "motion": "left"}, {"color": "purple", "motion": "right"}], ["hexagon"]),
    ("um two squares one green one blue the green one moving left and the blue one moving right",
     [{"shape": "square", "color": "green", "motion": "left"}, {"shape": "square", "color": "blue", "motion": "right"}],
     []),
    ("Direction for shot 4: tiny red triangle, descending rapidly",
     [{"shape": "triangle", "color": "red", "size": "small", "motion": "down", "speed": "fast"}], []),
    ("that little purple ball, it just won't stop bouncing",
     [{"shape": "circle", "color": "purple", "size": "small", "motion": "bouncing"}], []),
    # a plural verb after objects joined by "and" is every one's
    ("A blue triangle and a green circle bounce around the frame; a brown post stands in the middle",
     [{"shape": "triangle", "color": "blue", "motion": "bouncing"}, {"shape": "circle", "color": "green",
                                                                     "motion": "bouncing"}], []),
    ("I want a yellow triangle and an orange circle. The triangle should go down and the circle should stay put.",
     [{"shape": "triangle", "color": "yellow", "motion": "down"}, {"shape": "circle", "color": "orange",
                                                                   "motion": "still"}], []),
    # labels, a count before "please", counted members named one by one, more lexicon
    ("Composition: two squares. Square A: scarlet, large, static. Square B: cobalt, small, drifting down-right slowly.",
     [{"shape": "square", "color": "red", "size": "large", "motion": "still"},
      {"shape": "square", "color": "blue", "size": "small", "motion": "down-right", "speed": "slow"}], []),
    ("Three elements please: crimson star (small, rising), forest green circle (large, sinking slowly), "
     "teal triangle (bouncing, fast).",
     [{"shape": "star", "color": "red", "size": "small", "motion": "up"},
      {"shape": "circle", "color": "green", "size": "large", "motion": "down", "speed": "slow"},
      {"shape": "triangle", "color": "cyan", "motion": "bouncing", "speed": "fast"}], []),
    ("A cyan square shall descend at a deliberate pace", [{"shape": "square", "color": "cyan", "motion": "down",
                                                          "speed": "slow"}], []),
    ("a violet triangle along the top edge, moving right", [{"shape": "triangle", "color": "purple",
                                                             "motion": "right"}], []),
    # a shot list's entrances and exits, a static frame, "rose" as a verb, a shape that names a place,
    # a blue ground (navy is the world's blue background)
    ("Shot list: wide static frame. Charcoal background. Large blue square enters bottom, exits top. Fast tempo.",
     [{"shape": "square", "color": "blue", "size": "large", "motion": "up", "speed": "fast"}], []),
    ("The blue star rose slowly", [{"shape": "star", "color": "blue", "motion": "up", "speed": "slow"}], []),
    ("a rose circle moving left", [{"shape": "circle", "color": "red", "motion": "left"}], []),
    ("Example: a small purple circle bounces off the walls of the box. Background: navy.",
     [{"shape": "circle", "color": "purple", "size": "small", "motion": "bouncing"}], ["box"]),
    ("Three circles in a row: red moving up, white moving down, both slow; blue staying put. All small.",
     [{"shape": "circle", "color": c, "size": "small", "motion": m, "speed": "slow"}
      for c, m in (("red", "up"), ("white", "down"), ("blue", "still"))], []),
    # a ninth set, ordinary first-time users: light blue is the world's cyan, a participle after objects joined
    # by "and" is theirs, staying somewhere is still
    ("a light blue star going toward the top right corner and a purple ball going toward the bottom left corner",
     [{"shape": "star", "color": "cyan", "motion": "up-right"}, {"shape": "circle", "color": "purple",
                                                                 "motion": "down-left"}], []),
    ("a purple triangle and a cyan square bounce around the screen",
     [{"shape": "triangle", "color": "purple", "motion": "bouncing"}, {"shape": "square", "color": "cyan",
                                                                        "motion": "bouncing"}], []),
    ("an orange sparkle bouncing around with a dark green pyramid sitting in the middle",
     [{"shape": "star", "color": "orange", "motion": "bouncing"}, {"shape": "triangle", "color": "green",
                                                                    "motion": "still"}], []),
    ("a small gold block staying in one place", [{"shape": "square", "color": "yellow", "size": "small",
                                                  "motion": "still"}], []),
    # "right" as a word of talk, not a heading; "S" after a noun is south
    ("Right, I'd like a tangerine orb moving downwards against a navy backdrop.",
     [{"shape": "circle", "color": "orange", "motion": "down"}], []),
    ("a big blue square, right, and it just zooms off to the left really fast",
     [{"shape": "square", "color": "blue", "size": "large", "motion": "left", "speed": "fast"}], []),
    ("cyan star, right, fast", [{"shape": "star", "color": "cyan", "motion": "right", "speed": "fast"}], []),
    ("3 objects - red square N, green circle S, blue star E",
     [{"shape": "square", "color": "red", "motion": "up"}, {"shape": "circle", "color": "green", "motion": "down"},
      {"shape": "star", "color": "blue", "motion": "right"}], []),
    # a tenth set: where an object is, then where it goes
    ("a blue square in the top left drifting to the bottom right", [{"shape": "square", "color": "blue",
                                                                     "motion": "down-right"}], []),
    ("white square starting at the top right moving to the top left", [{"shape": "square", "color": "white",
                                                                        "motion": "left"}], []),
    ("it starts with a yellow star in the top right corner, and then it goes all the way down to the bottom left corner",
     [{"shape": "star", "color": "yellow", "motion": "down-left"}], []),
    ("a white dot in the top left corner, a green dot in the top right corner, both falling down",
     [{"shape": "circle", "color": "white", "motion": "down"}, {"shape": "circle", "color": "green",
                                                                 "motion": "down"}], []),
    ("a lilac triangle bottom centre going straight up, slow",
     [{"shape": "triangle", "color": "purple", "motion": "up", "speed": "slow"}], []),
    ("downward yellow trianlge + upward blue triangle", [{"shape": "triangle", "color": "yellow", "motion": "down"},
                                                          {"shape": "triangle", "color": "blue", "motion": "up"}], []),
    ("a red circle moving left blue square", [{"shape": "circle", "color": "red", "motion": "left"},
                                              {"shape": "square", "color": "blue"}], []),
    ("square, blue, large, slow, direction: down-right; circle, white, small, fast, direction: up",
     [{"shape": "square", "color": "blue", "size": "large", "motion": "down-right", "speed": "slow"},
      {"shape": "circle", "color": "white", "size": "small", "motion": "up", "speed": "fast"}], []),
    ("a golden star falls from the sky super fast, and a blue ball rolls away to the left",
     [{"shape": "star", "color": "yellow", "motion": "down", "speed": "fast"},
      {"shape": "circle", "color": "blue", "motion": "left"}], []),
    ("cyan circle (fast, right) and purple circle (slow, left)",
     [{"shape": "circle", "color": "cyan", "motion": "right", "speed": "fast"},
      {"shape": "circle", "color": "purple", "motion": "left", "speed": "slow"}], []),
    ("a red star instead of a blue one, moving up", [{"shape": "star", "color": "red", "motion": "up"}], []),
    # lengths are no counts; colour codes as hex or rgb triples; "loop" is the clip
    ("Cinematic, moody lighting, static camera, 2 seconds: a red circle slides to the right across a black background.",
     [{"shape": "circle", "color": "red", "motion": "right"}], []),
    ("Soft focus, 3 seconds long - a purple square slowly moves down on a black background.",
     [{"shape": "square", "color": "purple", "motion": "down", "speed": "slow"}], []),
    ("Shape 1: square, color #0000FF, moving up. Shape 2: star, color #FFFF00, still.",
     [{"shape": "square", "color": "blue", "motion": "up"}, {"shape": "star", "color": "yellow", "motion": "still"}],
     []),
    ("Two shapes: circle rgb(0,0,255) going down, star rgb(0,200,0) going up.",
     [{"shape": "circle", "color": "blue", "motion": "down"}, {"shape": "star", "color": "green", "motion": "up"}], []),
    ("slowww w/ a red_circle", [{"shape": "circle", "color": "red", "speed": "slow"}], []),
    ("small yellow triangle, bigger cyan circle, the bigger one sits still and the little one shoots right fast",
     [{"shape": "triangle", "color": "yellow", "size": "small", "motion": "right", "speed": "fast"},
      {"shape": "circle", "color": "cyan", "size": "large", "motion": "still"}], []),
    ("Camera: static. Lighting: flat. Content: an orange circle moving right, a cyan triangle moving left",
     [{"shape": "circle", "color": "orange", "motion": "right"}, {"shape": "triangle", "color": "cyan",
                                                                  "motion": "left"}], []),
    ("There is a white star and a red square. The star goes right fast. The square stays where it is.",
     [{"shape": "star", "color": "white", "motion": "right", "speed": "fast"},
      {"shape": "square", "color": "red", "motion": "still"}], []),
    # a guess joined to a stated heading by "and" combines with it; differing objects of one shape stay apart
    ("a small yellow circle drifting plummeting and to the right", [{"shape": "circle", "color": "yellow",
                                                                     "size": "small", "motion": "down-right"}], []),
    ("a green triangle gliding down-right fast, a large white triangle gliding right and a small ruby triangle",
     [{"shape": "triangle", "color": "green", "motion": "down-right", "speed": "fast"},
      {"shape": "triangle", "color": "white", "size": "large", "motion": "right"},
      {"shape": "triangle", "color": "red", "size": "small"}], []),
    # corrections said inside the prompt
    ("a yellow square and a uh scratch that a yellow circle moving down fast",
     [{"shape": "circle", "color": "yellow", "motion": "down", "speed": "fast"}], []),
    ("a square that is red, no wait, blue, moving left", [{"shape": "square", "color": "blue", "motion": "left"}], []),
    ("a red circle, I mean square, going up", [{"shape": "square", "color": "red", "motion": "up"}], []),
    # a guess never bends or replaces what the prompt's own words state
    ("AND HERE COMES THE RED BALL, charging to the left at blistering speed",
     [{"shape": "circle", "color": "red", "motion": "left", "speed": "fast"}], ["charging"]),
    ("green triangle cuts left", [{"shape": "triangle", "color": "green", "motion": "left"}], ["cuts"]),
    ("a red circle moving right so that I can verify horizontal motion",
     [{"shape": "circle", "color": "red", "motion": "right"}], ["horizontal"]),
    ("a purple circle moves diagonally to right below, slowly",
     [{"shape": "circle", "color": "purple", "motion": "down-right", "speed": "slow"}], []),
    # a dictionary colour that opens an object the prompt's nouns do not name is withdrawn
    ("Squash and stretch test - a blue ball bouncing quickly on navy.",
     [{"shape": "circle", "color": "blue", "motion": "bouncing", "speed": "fast"}], ["squash"]),
    # one object described twice is one object; a number before a shape's parts counts no objects
    ("Shapes lesson: a square has four sides. Here is a large white square that does not move",
     [{"shape": "square", "color": "white", "size": "large", "motion": "still"}], []),
    ("Bug: orange square moving down-right fast renders wrong. Please generate orange square, down-right, fast",
     [{"shape": "square", "color": "orange", "motion": "down-right", "speed": "fast"}], []),
    ("a yellow star with five points moving left", [{"shape": "star", "color": "yellow", "motion": "left"}], []),
    ("a circle and a square and a circle", [{"shape": "circle"}, {"shape": "square"}], []),
    ("Green star big, from left go to right, slowly. Have a brown pole in middle, star pass behind it.",
     [{"shape": "star", "color": "green", "size": "large", "motion": "right", "speed": "slow"}], []),
    # an object made of guesses alone goes, however many guesses made it
    ("I want something that feels like a rainy Sunday afternoon, a cup of tea going cold on the desk, and "
     "there's just a single large orange circle drifting slowly to the right across a navy background",
     [{"shape": "circle", "color": "orange", "size": "large", "motion": "right", "speed": "slow"}], ["rainy", "cold"]),
    # ... but an object whose noun the prompt says keeps its guessed colour and size
    ("a green triangle gliding down-right fast, a large white triangle gliding to the right fast and a bantam "
     "ruby triangle", [{"shape": "triangle", "color": "green", "motion": "down-right", "speed": "fast"},
                       {"shape": "triangle", "color": "white", "size": "large", "motion": "right", "speed": "fast"},
                       {"shape": "triangle", "color": "red", "size": "small"}], []),
    # a shape noun made a verb names no shape; function words are no misspellings
    ("a red ball, no pole or anything blocking it", [{"shape": "circle", "color": "red"}], ["blocking"]),
    ("a boxed in green star moving left", [{"shape": "star", "color": "green", "motion": "left"}], ["boxed"]),
    # a decimal is a label or a measure, never a count; a verb of placing counts
    ("Manual, section 4.2: the golden triangle shall travel toward the bottom at high speed",
     [{"shape": "triangle", "color": "yellow", "motion": "down", "speed": "fast"}], []),
    ("Step 1: Place two stars, one blue and one red.", [{"shape": "star", "color": "blue"},
                                                        {"shape": "star", "color": "red"}], []),
    # staying put, said as an idiom
    ("Crimson Star Refuses To Move", [{"shape": "star", "color": "red", "motion": "still"}], []),
    ("green star sits tight", [{"shape": "star", "color": "green", "motion": "still"}], []),
    # colours listed with commas before one noun are that noun's colours
    ("red, blue, and gold circles fall quickly", [{"shape": "circle", "color": c, "motion": "down", "speed": "fast"}
                                                  for c in ("red", "blue", "yellow")], []),
    ("a red, a blue and a gold ball", [{"shape": "circle", "color": c} for c in ("red", "blue", "yellow")], []),
    # a noun with a colour of its own (sun, night) takes the stated colour; an adjective restating the
    # noun's shape opens nothing
    ("The big orange sun-circle rose slowly", [{"shape": "circle", "color": "orange", "size": "large",
                                               "motion": "up", "speed": "slow"}], []),
    ("A crimson sun, small and round, sinks slowly", [{"shape": "circle", "color": "red", "size": "small",
                                                      "motion": "down", "speed": "slow"}], []),
    ("an orange circle drifting up-right and a purple circular",
     [{"shape": "circle", "color": "orange", "motion": "up-right"}, {"shape": "circle", "color": "purple"}], []),
    # a typo is the user's own word: its object stays, even when a bare restatement merges away
    ("a yelow circle and a white circle, the yelow one goes down",
     [{"shape": "circle", "color": "yellow", "motion": "down"}, {"shape": "circle", "color": "white"}], []),
    # animators' and note-takers' paths: letters around an arrow, places without their article
    ("Layer 1: red circle, large, linear tween L->R across frame, fast",
     [{"shape": "circle", "color": "red", "size": "large", "motion": "right", "speed": "fast"}], []),
    ("blue disc, small, tween from top-right corner down to bottom-left, slow",
     [{"shape": "circle", "color": "blue", "size": "small", "motion": "down-left", "speed": "slow"}], []),
    ("a yellow star with position keyframes from bottom of frame to top",
     [{"shape": "star", "color": "yellow", "motion": "up"}], []),
    ("crimson square upper left to lower right, fast",
     [{"shape": "square", "color": "red", "motion": "down-right", "speed": "fast"}], []),
    ("Violet Square Heads Right, Golden Star Heads Left, Both at Top Speed",
     [{"shape": "square", "color": "purple", "motion": "right", "speed": "fast"},
      {"shape": "star", "color": "yellow", "motion": "left", "speed": "fast"}], []),
    ("a huge red triangle that dosent move", [{"shape": "triangle", "color": "red", "size": "large",
                                              "motion": "still"}], []),
    # lines that say more of the counted object are that object
    ("Acceptance criteria: - exactly one object - object is a blue square - object is large - object remains "
     "stationary for all 17 frames", [{"shape": "square", "color": "blue", "size": "large", "motion": "still"}], []),
    ("a yellow sun-like star, large, drifting slowly upward",
     [{"shape": "star", "color": "yellow", "size": "large", "motion": "up", "speed": "slow"}], []),
    # a comparison gives the compared object the other size or speed, unless it states its own
    ("a purple star larger than the cyan square", [{"shape": "star", "color": "purple", "size": "large"},
                                                   {"shape": "square", "color": "cyan", "size": "small"}], []),
    ("a blue star and a red triangle; the red triangle moves faster than the blue star",
     [{"shape": "star", "color": "blue", "speed": "slow"}, {"shape": "triangle", "color": "red", "speed": "fast"}], []),
    ("a red ball bigger than a large blue ball", [{"shape": "circle", "color": "red", "size": "large"},
                                                 {"shape": "circle", "color": "blue", "size": "large"}], []),
    ("a red ball, faster than ever", [{"shape": "circle", "color": "red", "speed": "fast"}], []),
    # ordinals name groups too
    ("a red circle, a blue square and a green star; the first two move left, the last one is still",
     [{"shape": "circle", "color": "red", "motion": "left"}, {"shape": "square", "color": "blue", "motion": "left"},
      {"shape": "star", "color": "green", "motion": "still"}], []),
    ("a red circle, a blue square and a green star; the first and the second move up",
     [{"shape": "circle", "color": "red", "motion": "up"}, {"shape": "square", "color": "blue", "motion": "up"},
      {"shape": "star", "color": "green"}], []),
    # names of attributes ("sizes", "topic") are no values
    ("Two squares side by side, both moving down, for comparing sizes - a small red one and a large blue one.",
     [{"shape": "square", "color": "red", "size": "small", "motion": "down"},
      {"shape": "square", "color": "blue", "size": "large", "motion": "down"}], []),
    # zooming is fast; a camera's zoom is nobody's speed
    ("a green ball zooming to the left", [{"shape": "circle", "color": "green", "motion": "left", "speed": "fast"}], []),
    ("the camera zooms in on a white star moving up", [{"shape": "star", "color": "white", "motion": "up"}], []),
    # a spec's spawn or start is where the object comes from, not where it goes
    ("enemy: blue square, spawn: top-right corner, velocity: toward bottom-left",
     [{"shape": "square", "color": "blue", "motion": "down-left"}], []),
    ("purple star, starts bottom edge, heading straight up", [{"shape": "star", "color": "purple", "motion": "up"}], []),
    ("a red circle starts right away moving left", [{"shape": "circle", "color": "red", "motion": "left"}], []),
    # words run together, a misspelt noun after a typo'd heading, joined compass words
    ("redtriangle sliding down", [{"shape": "triangle", "color": "red", "motion": "down"}], []),
    ("white sqaure going rite and blue trianlge going left",
     [{"shape": "square", "color": "white", "motion": "right"}, {"shape": "triangle", "color": "blue", "motion": "left"}],
     []),
    ("orange dot drifting upleft", [{"shape": "circle", "color": "orange", "motion": "up-left"}], []),
    # a ground colour that ends its clause; side by side; stayed where it was; objects refused
    ("a cyan star bouncing on charcoal!", [{"shape": "star", "color": "cyan", "motion": "bouncing"}], []),
    ("a red star and a blue square drifting down side by side",
     [{"shape": "star", "color": "red", "motion": "down"}, {"shape": "square", "color": "blue", "motion": "down"}], []),
    ("a yellow ball rolled left. A green box stayed right where it was.",
     [{"shape": "circle", "color": "yellow", "motion": "left"}, {"shape": "square", "color": "green", "motion": "still"}],
     []),
    ("a white circle, please don't make it move", [{"shape": "circle", "color": "white", "motion": "still"}], []),
    ("a purple triangle going right, and don't add another object",
     [{"shape": "triangle", "color": "purple", "motion": "right"}], []),
    ("two entities: an orange star moving up and a green circle moving down",
     [{"shape": "star", "color": "orange", "motion": "up"}, {"shape": "circle", "color": "green", "motion": "down"}], []),
    # the same way as the object before
    ("a red ball and a blue ball moving in the same direction, to the left",
     [{"shape": "circle", "color": "red", "motion": "left"}, {"shape": "circle", "color": "blue", "motion": "left"}], []),
    ("A big red star drifted down-left. Then a tiny blue circle went the same way.",
     [{"shape": "star", "color": "red", "size": "large", "motion": "down-left"},
      {"shape": "circle", "color": "blue", "size": "small", "motion": "down-left"}], []),
    ("a triangle sliding right, avoid blue, make it white please",
     [{"shape": "triangle", "color": "white", "motion": "right"}], []),
    # a denied bounce or speed
    ("a cyan box that does not bounce; it glides down", [{"shape": "square", "color": "cyan", "motion": "down"}], []),
    ("an orange star, never bouncing, heading left", [{"shape": "star", "color": "orange", "motion": "left"}], []),
    ("a purple dot moving right, don't make it fast",
     [{"shape": "circle", "color": "purple", "motion": "right", "speed": "slow"}], []),
    ("a pint-sized blue box barely moving right, at a crawl",
     [{"shape": "square", "color": "blue", "size": "small", "motion": "right", "speed": "slow"}], []),
    # one participle after objects joined by "and" is all of theirs; not after a place, nor after a comma
    ("an orange box and a cyan star sliding up to the left",
     [{"shape": "square", "color": "orange", "motion": "up-left"}, {"shape": "star", "color": "cyan", "motion": "up-left"}], []),
    ("a white dot, a green box and a red star floating quickly down",
     [{"shape": "circle", "color": "white", "motion": "down", "speed": "fast"},
      {"shape": "square", "color": "green", "motion": "down", "speed": "fast"},
      {"shape": "star", "color": "red", "motion": "down", "speed": "fast"}], []),
    ("a blue square at the top and a red dot falling", [{"shape": "square", "color": "blue"},
                                                        {"shape": "circle", "color": "red", "motion": "down"}], []),
    ("a blue square, and a red dot falling", [{"shape": "square", "color": "blue"},
                                              {"shape": "circle", "color": "red", "motion": "down"}], []),
    ("three dots one white one green one red drifting left",
     [{"shape": "circle", "color": c, "motion": "left"} for c in ("white", "green", "red")], []),
    # comparisons settle the other object of two
    ("a green disc and a white box, the box is larger and slower",
     [{"shape": "circle", "color": "green", "size": "small", "speed": "fast"},
      {"shape": "square", "color": "white", "size": "large", "speed": "slow"}], []),
    ("a red ball going up and a blue ball three times as big going the opposite way",
     [{"shape": "circle", "color": "red", "size": "small", "motion": "up"},
      {"shape": "circle", "color": "blue", "size": "large", "motion": "down"}], []),
    ("two stars going left, the purple one a tad quicker than the yellow one",
     [{"shape": "star", "color": "purple", "motion": "left", "speed": "fast"},
      {"shape": "star", "color": "yellow", "motion": "left", "speed": "slow"}], []),
    # colours named by things
    ("a box the exact colour of fresh grass rising", [{"shape": "square", "color": "green", "motion": "up"}], []),
    ("a triangle in the colour of a pumpkin, still", [{"shape": "triangle", "color": "orange", "motion": "still"}], []),
    # dictation's homophones
    ("a read star and a blew box moving write", [{"shape": "star", "color": "red", "motion": "right"},
                                                {"shape": "square", "color": "blue", "motion": "right"}], []),
    ("to squares going down behind the poll", [{"shape": "square", "motion": "down"},
                                               {"shape": "square", "motion": "down"}], []),
    ("I read about a green circle going up", [{"shape": "circle", "color": "green", "motion": "up"}], ["read"]),
    # corrections said with "actually" and "sorry", denials of stillness, refused plurals
    ("a large cyan dot moving down, sorry, up", [{"shape": "circle", "color": "cyan", "size": "large", "motion": "up"}], []),
    ("a white star going right, actually a purple star going left",
     [{"shape": "star", "color": "purple", "motion": "left"}], []),
    ("a green box that never stays still, it bounces", [{"shape": "square", "color": "green", "motion": "bouncing"}], []),
    ("no triangles please, only a red circle", [{"shape": "circle", "color": "red"}], []),
    ("style doesn't matter, just the red dot moving left", [{"shape": "circle", "color": "red", "motion": "left"}], []),
    # an animator's words: holds, entrances and exits; a film's light and music make no object
    ("white box holds while a cyan ball exits screen left",
     [{"shape": "square", "color": "white", "motion": "still"}, {"shape": "circle", "color": "cyan", "motion": "left"}], []),
    ("yellow dot enters bottom and leaves top", [{"shape": "circle", "color": "yellow", "motion": "up"}], []),
    ("warm amber glow, lens flare, synth swell: a blue square moving right",
     [{"shape": "square", "color": "blue", "motion": "right"}], ["glow", "lens", "flare", "swell"]),
    ("chill lofi beats, a green star drifting up", [{"shape": "star", "color": "green", "motion": "up"}], []),
    # "they", "both are", a count heading a list, the other of two
    ("a white dot and a cyan box, and they both fall", [{"shape": "circle", "color": "white", "motion": "down"},
                                                       {"shape": "square", "color": "cyan", "motion": "down"}], []),
    ("red star left, blue dot right; both should be large",
     [{"shape": "star", "color": "red", "size": "large", "motion": "left"},
      {"shape": "circle", "color": "blue", "size": "large", "motion": "right"}], []),
    ("these two: amber dot, violet box", [{"shape": "circle", "color": "orange"}, {"shape": "square", "color": "purple"}],
     []),
    ("two circles, a green one and a white one; the green one rises and the other one stays put",
     [{"shape": "circle", "color": "green", "motion": "up"}, {"shape": "circle", "color": "white", "motion": "still"}], []),
    # a denial covers its noun phrase; a shape named again after a denial is the one already named
    ("rather than a big red box, a small red dot", [{"shape": "circle", "color": "red", "size": "small"}], []),
    ("a blue triangle (not a star, a triangle) sinking", [{"shape": "triangle", "color": "blue", "motion": "down"}], []),
    ("a box that is not white but yellow", [{"shape": "square", "color": "yellow"}], []),
    ("a small -- no, a large -- purple star", [{"shape": "star", "color": "purple", "size": "large"}], []),
    ("an orange dot, not still, moving up", [{"shape": "circle", "color": "orange", "motion": "up"}], []),
    ("a green star that won't budge, occluder off", [{"shape": "star", "color": "green", "motion": "still"}], []),
    # idioms that use the world's words in other senses
    ("quick question, up to you really: a white box falling", [{"shape": "square", "color": "white", "motion": "down"}], []),
    ("out of the blue, a red star rises, I still want it small",
     [{"shape": "star", "color": "red", "motion": "up", "size": "small"}], []),
    ("take 3: a violet disc gliding left over a navy background",
     [{"shape": "circle", "color": "purple", "motion": "left"}], []),
    # an elliptical denial, exclusions, ordinals said with "one", relative speeds
    ("two squares, a blue one and a white one: the white one slides up, the blue one won't.",
     [{"shape": "square", "color": "blue", "motion": "still"}, {"shape": "square", "color": "white", "motion": "up"}], []),
    ("any shape except a star - a green triangle, say", [{"shape": "triangle", "color": "green"}], []),
    ("a navy background rather than a gray one, with a red dot", [{"shape": "circle", "color": "red"}], []),
    ("three dots: red, cyan, white. The first one rises and the third one sinks",
     [{"shape": "circle", "color": "red", "motion": "up"}, {"shape": "circle", "color": "cyan"},
      {"shape": "circle", "color": "white", "motion": "down"}], []),
    # more homophones; a bare plural beside described objects is talk about shapes; a count after "were"
    ("too stars, a sigh an one and a read one, drifting down",
     [{"shape": "star", "color": "cyan", "motion": "down"}, {"shape": "star", "color": "red", "motion": "down"}], []),
    ("stars always look wrong, so a purple dot rising", [{"shape": "circle", "color": "purple", "motion": "up"}],
     ["stars"]),
    ("once there were two boxes, a white one going up and a green one going down",
     [{"shape": "square", "color": "white", "motion": "up"}, {"shape": "square", "color": "green", "motion": "down"}], []),
    # sizes named by things; a bar taken away; "stays" alone; dictation's "know", "start", "won"; a shape corrected
    ("a white box the size of a coin and a purple dot the size of a house",
     [{"shape": "square", "color": "white", "size": "small"}, {"shape": "circle", "color": "purple", "size": "large"}], []),
    ("a green star drifting down, get rid of the pillar", [{"shape": "star", "color": "green", "motion": "down"}], []),
    ("a big red box and a small blue dot; the dot zooms left, the box stays",
     [{"shape": "square", "color": "red", "size": "large", "motion": "still"},
      {"shape": "circle", "color": "blue", "size": "small", "motion": "left", "speed": "fast"}], []),
    ("won white start going down know pole", [{"shape": "star", "color": "white", "motion": "down"}], []),
    ("a cyan circle rising quickly, no wait, make it a square", [{"shape": "square", "color": "cyan", "motion": "up",
                                                                   "speed": "fast"}], []),
    ("a purple triangle moving left with big speed", [{"shape": "triangle", "color": "purple", "motion": "left",
                                                       "speed": "fast"}], []),
    ("three: white star, red box, cyan dot. The star and the box sink, the dot climbs",
     [{"shape": "star", "color": "white", "motion": "down"}, {"shape": "square", "color": "red", "motion": "down"},
      {"shape": "circle", "color": "cyan", "motion": "up"}], []),
    ("a violet box rising and an orange dot sinking, both at the same brisk speed",
     [{"shape": "square", "color": "purple", "motion": "up", "speed": "fast"},
      {"shape": "circle", "color": "orange", "motion": "down", "speed": "fast"}], []),
    # an evaluator's sentences: "as" for "while", two lists each handed out, a follower, the frame's walls
    ("a lemon disc drifts left as a plum cube rises", [{"shape": "circle", "color": "yellow", "motion": "left"},
                                                       {"shape": "square", "color": "purple", "motion": "up"}], []),
    ("imagine two dots, ivory and scarlet, going left and right respectively",
     [{"shape": "circle", "color": "white", "motion": "left"}, {"shape": "circle", "color": "red", "motion": "right"}], []),
    ("two boxes, coloured lime and amber respectively, heading down and up respectively",
     [{"shape": "square", "color": "green", "motion": "down"}, {"shape": "square", "color": "orange", "motion": "up"}], []),
    ("a jade star climbs, and a pearl orb chases it", [{"shape": "star", "color": "green", "motion": "up"},
                                                       {"shape": "circle", "color": "white", "motion": "up"}], []),
    ("a small azure cube ricocheting off all four edges", [{"shape": "square", "color": "blue", "size": "small",
                                                           "motion": "bouncing"}], []),
    ("static locked-off camera. A teal dot sliding up", [{"shape": "circle", "color": "cyan", "motion": "up"}], []),
    ("the red dot sinks; the blue dot, unlike the red one, climbs", [{"shape": "circle", "color": "red", "motion": "down"},
                                                                    {"shape": "circle", "color": "blue", "motion": "up"}],
     []),
    ("shapes: white star, green box. motions: bouncing, still, in that order",
     [{"shape": "star", "color": "white", "motion": "bouncing"}, {"shape": "square", "color": "green", "motion": "still"}],
     []),
    ("can you block out a quick test: a purple dot falling", [{"shape": "circle", "color": "purple", "motion": "down"}], []),
    ("two stars: a cyan one sitting still and a white one sinking",
     [{"shape": "star", "color": "cyan", "motion": "still"}, {"shape": "star", "color": "white", "motion": "down"}], []),
    ("a red dot and a green box: the dot climbs, the box remains.",
     [{"shape": "circle", "color": "red", "motion": "up"}, {"shape": "square", "color": "green", "motion": "still"}], []),
    ("a white dot drifting right. Oh, and not white, cyan.", [{"shape": "circle", "color": "cyan", "motion": "right"}],
     []),
    ("sigh and dot going up and too the right on a gray back round",
     [{"shape": "circle", "color": "cyan", "motion": "up-right"}], []),
    ("both the lime box and the ivory star drift down", [{"shape": "square", "color": "green", "motion": "down"},
                                                        {"shape": "star", "color": "white", "motion": "down"}], []),
    ("a plum triangle stationery at the center, a gold dot crossing screen-left to screen-right at a snail's pace",
     [{"shape": "triangle", "color": "purple", "motion": "still"},
      {"shape": "circle", "color": "yellow", "motion": "right", "speed": "slow"}], []),
    ("a yellow box and a green box heading down; the yellow one trails behind",
     [{"shape": "square", "color": "yellow", "motion": "down", "speed": "slow"},
      {"shape": "square", "color": "green", "motion": "down", "speed": "fast"}], []),
]


@pytest.mark.parametrize("prompt,want,reported", CASES, ids=[c[0] for c in CASES])
def test_prompt_maps_onto_the_world_or_is_reported(mapper, prompt, want, reported):
    got, norm = objects(mapper, prompt)
    assert got == want, norm.text
    assert [w for w in reported if w not in norm.unmapped] == [], norm.unmapped


def test_number_compounds_stay_one_word_and_name_shapes_only_where_the_world_has_one():
    assert tokenize("a five-pointed star moving up-left") == ["a", "five-pointed", "star", "moving", "up", "left"]
    assert tokenize("three three-sided shapes") == ["three", "three-sided", "shapes"]
    assert parse("two stars").count == 2 and parse("a five-pointed star").count == 1
    assert [compound_shape(w) for w in ("three-sided", "4-sided", "five-pointed", "six-sided", "two-tone")] == \
        ["triangle", "square", "star", None, None]


def test_speller_edits_and_ambiguity():
    assert edit_distance("sqaure", "square", 2) == 1  # a swap is one edit
    assert edit_distance("cat", "circle", 2) == 3  # beyond the limit
    speller = Speller(["green", "grey", "left", "lift"], meaning=lambda w: w)
    assert speller.correct("gren") == "green"  # keeps every letter of "gren", "grey" does not
    assert speller.correct("leftt") == "left"
    assert speller.correct("lef") is None  # three letters: too short to correct
    english = Speller(["green"], meaning=lambda w: w, is_english=lambda w: w == "greet")
    assert english.correct("greet") is None  # a real word is no misspelling


def _module_imports(path: Path, package: str) -> set[str]:
    """minisora modules a file imports, at the top or inside functions (a lazy import still ties two
    modules together)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(package):
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith(package))
    return out


def test_sticks_are_bars_and_obstructions_are_denied(mapper):
    assert objects(mapper, "make a orange box go down slowley and hide behind the brown stick")[1].parsed.occluder
    assert objects(mapper, "a red square bouncing rapidly, with no obstructions")[1].parsed.occluder is False


def test_rooms_and_nights_are_backgrounds(mapper):
    assert objects(mapper, "a teal square bouncing off the walls of a black room")[1].parsed.background == "black"
    assert objects(mapper, "a purple ball floating down into the navy night")[1].parsed.background == "navy"
    # "the night sky" names no colour against a stated one
    norm = objects(mapper, "a white triangle on a navy background. My husband loved the night sky.")[1]
    assert norm.parsed.background == "navy", norm.text


def test_a_blue_ground_is_navy(mapper):
    for prompt in ("Emerald circle and sapphire triangle bouncing in sync over midnight blue.",
                   "a red circle on a dark blue background"):
        assert mapper.normalize(prompt).parsed.background == "navy", prompt


def test_a_guessed_background_does_not_replace_the_stated_one(mapper):
    norm = mapper.normalize("the white square, navy background tonight")
    assert norm.parsed.background == "navy" and "tonight" in norm.unmapped


def test_shortenings_keep_the_first_letter_and_name_one_meaning():
    from minisora.world.spelling import abbreviation_gap, skeleton
    assert skeleton("yellow") == "ylw" and skeleton("black") == "blck"
    assert [abbreviation_gap(s, w) for s, w in [("grn", "green"), ("wht", "white"), ("blk", "black"),
                                                ("purp", "purple"), ("dwn", "down")]] == [0, 0, 1, 0, 0]
    assert abbreviation_gap("rgn", "green") is None and abbreviation_gap("green", "green") is None
    speller = Speller(["green", "gray", "grey", "orange", "trng"], meaning=lambda w: "gray" if w == "grey" else w,
                      shortened=["green", "gray", "orange"])
    assert speller.correct("grn") == "green" and speller.correct("gry") in ("gray", "grey")
    assert speller.correct("orng") == "orange"  # a shortening before a typo that changes the first letter


def test_no_import_cycles_and_object_slots_know_no_world():
    root = Path(__file__).resolve().parent.parent / "minisora"
    modules = {}
    for f in root.rglob("*.py"):
        name = ".".join(("minisora", *f.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
        modules[name] = f
    graph = {m: {i for i in _module_imports(f, "minisora") if i in modules and i != m} for m, f in modules.items()}

    def reach(start):
        seen, todo = set(), [start]
        while todo:
            for n in graph[todo.pop()]:
                if n not in seen:
                    seen.add(n)
                    todo.append(n)
        return seen

    for pair in (("minisora.world.captions", "minisora.world.scenes"),
                 ("minisora.text.openai_backend", "minisora.text.rewriter")):
        a, b = pair
        assert not (b in reach(a) and a in reach(b)), pair
    assert not any(m.startswith("minisora.world") for m in reach("minisora.text.object_slots"))


def test_the_text_encoder_imports_nothing_of_the_world():
    import subprocess
    import sys

    code = ("import sys, minisora.text.encoder, minisora.text.object_slots\n"
            "print(sorted(m for m in sys.modules if m.startswith('minisora.world')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_bar_can_be_denied_and_its_own_words_make_no_object(mapper):
    for prompt in ("a small purple square that bounces quickly? No vertical bar, please.",
                   "blue circle moving toward the left edge of the frame, occluder: none",
                   "a cream-coloured square on a slate-grey background, with no post in front of it",
                   "I'd like a purple triangle drifting down. No pole or bar in the way, please.",
                   "gray background w/ an orange triangle bouncing around, no bar pls",
                   "Debug view: white square, large, bouncing, on black, with no foreground bar.",
                   "A large purple circle moves diagonally to right below, slowly, without pole or column.",
                   "Purple star bouncing, and background color is black, pole is not there."):
        got, norm = objects(mapper, prompt)
        assert norm.parsed.occluder is False and len(got) == 1, (prompt, norm.text, norm.parsed)
    got, norm = objects(mapper, "An aquamarine square whizzing upwards behind a lamp post")
    assert norm.parsed.occluder is True and got == [{"shape": "square", "color": "cyan", "motion": "up",
                                                     "speed": "fast"}], norm.text
    got, norm = objects(mapper, "white triangle, static, size large, bg gray, occluder: vertical bar")
    assert norm.parsed.occluder is True and norm.parsed.background == "gray", norm.parsed
    assert objects(mapper, "purple star bouncing, and background color is black")[1].parsed.background == "black"
    # a "no" that opens a clause of its own is not the bar's
    norm = objects(mapper, "B-roll: small lime triangle drifting up-right behind a brown vertical pole. No camera move.")[1]
    assert norm.parsed.occluder is True, norm.text
