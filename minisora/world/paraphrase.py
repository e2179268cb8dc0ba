"""A paraphrase test set for the prompt rewriter, and its scoring.

The prompts are written here with word lists and sentence rules of their own, not drawn from the
caption writer's templates (`vocabulary.*_WRITE`) nor from the normaliser's tables (`lexicon.py`):
the way a user who never saw our captions would write. Each prompt carries what it states (the
ground truth: objects with the attributes it names, background, count) and the words outside the
world it uses, which the rewriter must report as unmapped.

What the rules exercise: number words inside compounds ("five-pointed star", "three-sided shape",
"two-tone"), multi-word nouns ("round dot", "square block"), shape nouns outside the four ("block",
"puck", "disc"), wrong and missing articles ("a orange", "orange triangle moves"), counts ("a pair
of", "three", "several"), negation ("not moving", "without a background"), British spellings
("colour", "grey", "travelling"), typos (one dropped or swapped letter), and word orders the
templates never use (motion first, colour after the noun, relative clauses).

`paraphrase_set(n, seed)` writes the set; `score(item, result)` checks one rewrite against it;
bench/paraphrase.py measures the shipped rewriter on the whole set, tests/test_paraphrase.py on a
slice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minisora.world.grammar import parse
from minisora.world.rules import check_caption
from minisora.world.scene import ParsedObject, ParsedScene

# Everyday words for each of the world's values (the keys are the world's names: ground truth).
COLOR_WORDS = {
    "red": ["red", "scarlet", "crimson", "cherry-red", "ruby", "bright red"],
    "orange": ["orange", "tangerine", "amber", "pumpkin-coloured", "dark orange"],
    "yellow": ["yellow", "lemon", "golden", "canary-yellow", "sunny yellow"],
    "green": ["green", "emerald", "lime-green", "grass-green", "leafy green"],
    "cyan": ["cyan", "turquoise", "aqua", "teal"],
    "blue": ["blue", "cobalt", "royal blue", "sapphire", "deep blue"],
    "purple": ["purple", "violet", "lavender", "plum-coloured"],
    "white": ["white", "snow-white", "ivory", "milky white"],
}
# (singular, plural) nouns; several are two words or compounds with a number inside.
SHAPE_NOUNS = {
    "circle": [("circle", "circles"), ("ball", "balls"), ("disc", "discs"), ("round dot", "round dots"),
               ("puck", "pucks"), ("sphere", "spheres"), ("round disk", "round disks")],
    "square": [("square", "squares"), ("block", "blocks"), ("box", "boxes"), ("square block", "square blocks"),
               ("cube", "cubes"), ("four-sided shape", "four-sided shapes")],
    "triangle": [("triangle", "triangles"), ("three-sided shape", "three-sided shapes"), ("wedge", "wedges"),
                 ("pyramid", "pyramids"), ("triangular shape", "triangular shapes")],
    "star": [("star", "stars"), ("five-pointed star", "five-pointed stars"), ("star shape", "star shapes"),
             ("starfish", "starfish"), ("five-pointed shape", "five-pointed shapes")],
}
SIZE_WORDS = {"small": ["small", "tiny", "little", "smallish"], "large": ["large", "big", "huge", "giant"]}
SPEED_WORDS = {"slow": ["slowly", "at a leisurely pace", "gently", "very slowly"],
               "fast": ["quickly", "fast", "rapidly", "at high speed", "speedily"]}
# Participle phrases (after the noun) and finite verb phrases (as a sentence's verb).
MOTION_PARTICIPLES = {
    "left": ["moving left", "heading to the left", "drifting leftward", "travelling west", "sliding to the left"],
    "right": ["moving right", "heading to the right", "gliding rightward", "travelling east", "rolling to the right"],
    "up": ["rising", "floating upward", "climbing", "going up", "moving towards the top"],
    "down": ["falling", "dropping downward", "sinking", "moving down", "descending"],
    "up-left": ["moving up and to the left", "heading toward the top left corner", "drifting diagonally up-left"],
    "up-right": ["moving up and to the right", "heading toward the top right corner", "rising to the upper right"],
    "down-left": ["moving down and to the left", "heading toward the bottom left corner", "sinking to the lower left"],
    "down-right": ["moving down and to the right", "heading toward the bottom right corner",
                   "falling toward the lower right"],
    "bouncing": ["bouncing around", "bouncing off the walls", "ricocheting around"],
    "still": ["not moving", "standing still", "staying in place", "resting motionless", "without moving"],
}
MOTION_FINITE = {
    "left": ["moves left", "drifts to the left", "heads west"], "right": ["moves right", "glides to the right",
                                                                          "heads east"],
    "up": ["rises", "floats up", "climbs upward"], "down": ["falls", "drops down", "sinks"],
    "up-left": ["moves up and left"], "up-right": ["moves up and right"], "down-left": ["moves down and left"],
    "down-right": ["moves down and right"], "bouncing": ["bounces around", "bounces off the edges"],
    "still": ["stays still", "does not move", "doesn't move", "never moves"],
}
BACKGROUND_PHRASES = {"black": ["on a black background", "against a black backdrop", "on black"],
                      "gray": ["on a grey background", "against a gray backdrop", "with a grey background"],
                      "navy": ["on a navy background", "against a navy blue backdrop"]}
NO_BACKGROUND = ["without a background", "with no background"]
# Words for what the world does not have; the rewriter must report each one.
OUT_OF_WORLD = ["two-tone", "one-eyed", "striped", "spinning", "glowing", "transparent", "metallic"]
NUMBER_WORDS = {2: "two", 3: "three"}


@dataclass(frozen=True)
class ParaphrasePrompt:
    text: str
    stated: ParsedScene  # what the prompt states (the world's names): the rewrite must keep all of it
    must_report: tuple[str, ...]  # out-of-world words the rewriter must report as unmapped
    rule: str  # the sentence rule that wrote it


def _pick(rng: np.random.Generator, options: list):
    return options[int(rng.integers(len(options)))]


def _typo(word: str, rng: np.random.Generator) -> str:
    """One slip in a word of 6+ letters: a dropped or doubled-up letter, or two neighbours swapped
    (never the first letter, which people rarely miss)."""
    i = int(rng.integers(1, len(word) - 1))
    if rng.random() < 0.5:
        return word[:i] + word[i + 1:]
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def _article(next_word: str, rng: np.random.Generator) -> str:
    """Mostly right, sometimes wrong ("a orange") or missing, as people type."""
    r = rng.random()
    if r < 0.15:
        return ""
    if r < 0.25:
        return "a"  # wrong before a vowel
    if r < 0.35:
        return "the"
    return "an" if next_word[:1] in "aeiou" else "a"


def _sample_object(rng: np.random.Generator, color: str) -> dict[str, str]:
    obj = {"color": color, "shape": _pick(rng, list(SHAPE_NOUNS)), "motion": _pick(rng, list(MOTION_PARTICIPLES))}
    if rng.random() < 0.4:
        obj["size"] = _pick(rng, list(SIZE_WORDS))
    if obj["motion"] != "still" and rng.random() < 0.35:
        obj["speed"] = _pick(rng, list(SPEED_WORDS))
    return obj


def _noun_phrase(obj: dict, rng: np.random.Generator, extras: list[str], with_article: bool = True) -> str:
    words = []
    if "size" in obj:
        words.append(_pick(rng, SIZE_WORDS[obj["size"]]))
    if extras:
        words.append(extras.pop())
    if "color" in obj:
        words.append(_pick(rng, COLOR_WORDS[obj["color"]]))
    words.append(_pick(rng, SHAPE_NOUNS[obj["shape"]])[0])
    text = " ".join(words)
    art = _article(text, rng) if with_article else ""
    return f"{art} {text}".strip()


def _motion(obj: dict, rng: np.random.Generator, finite: bool = False) -> str:
    phrase = _pick(rng, (MOTION_FINITE if finite else MOTION_PARTICIPLES)[obj["motion"]])
    if "speed" in obj:
        phrase += " " + _pick(rng, SPEED_WORDS[obj["speed"]])
    return phrase


def _one_object(obj: dict, rng: np.random.Generator, extras: list[str]) -> tuple[str, str]:
    """One object in one of several sentence shapes; returns (text, rule)."""
    rule = _pick(rng, ["plain", "finite", "motion first", "colour after noun", "relative", "request", "colour noun"])
    bare = {k: v for k, v in obj.items() if k != "color"}
    color = _pick(rng, COLOR_WORDS[obj["color"]])
    if rule == "plain":
        return f"{_noun_phrase(obj, rng, extras)} {_motion(obj, rng)}", rule
    if rule == "finite":
        return f"{_noun_phrase(obj, rng, extras, with_article=rng.random() < 0.5)} {_motion(obj, rng, True)}", rule
    if rule == "motion first":
        return f"{_motion(obj, rng).capitalize()}, {_noun_phrase(obj, rng, extras)}", rule
    if rule == "colour after noun":
        return f"{_noun_phrase(bare, rng, extras)}, {color}, {_motion(obj, rng)}", rule
    if rule == "relative":
        return f"there is {_noun_phrase(obj, rng, extras)} that is {_motion(obj, rng)}", rule
    if rule == "request":
        return f"please show me {_noun_phrase(obj, rng, extras)} {_motion(obj, rng)}", rule
    return f"{_noun_phrase(bare, rng, extras)} whose colour is {color}, {_motion(obj, rng)}", rule


def _group(objs: list[dict], rng: np.random.Generator, extras: list[str]) -> tuple[str, str, bool]:
    """Two or three objects; returns (text, rule, count stated)."""
    n = len(objs)
    same = all(o["shape"] == objs[0]["shape"] and o["motion"] == objs[0]["motion"] and
               o.get("speed") == objs[0].get("speed") and "size" not in o for o in objs)
    if same and rng.random() < 0.7:
        singular, plural = _pick(rng, SHAPE_NOUNS[objs[0]["shape"]])
        colors = [_pick(rng, COLOR_WORDS[o["color"]]) for o in objs]
        if n == 2 and rng.random() < 0.5:
            return (f"a pair of {plural}, one {colors[0]} and one {colors[1]}, both {_motion(objs[0], rng)}",
                    "pair", True)
        listed = ", ".join(colors[:-1]) + f" and {colors[-1]}"
        return f"{NUMBER_WORDS[n]} {plural} ({listed}) {_motion(objs[0], rng)}", "count + colours", True
    parts = [f"{_noun_phrase(o, rng, extras)} {_motion(o, rng)}" for o in objs]
    if rng.random() < 0.4:
        return f"{NUMBER_WORDS[n]} shapes: " + "; ".join(parts), "count + list", True
    joined = ", ".join(parts[:-1]) + f" and {parts[-1]}" if n == 3 else f"{parts[0]} while {parts[1]}"
    return joined, "list", False


def paraphrase_set(n: int = 300, seed: int = 0) -> list[ParaphrasePrompt]:
    """`n` prompts with their ground truth, deterministic in `seed`."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.choice([1, 2, 3], p=[0.55, 0.3, 0.15]))
        colors = [str(c) for c in rng.permutation(list(COLOR_WORDS))[:k]]
        objs = [_sample_object(rng, c) for c in colors]
        if k > 1 and rng.random() < 0.5:  # groups often share shape and motion ("three stars ... rising")
            for o in objs[1:]:
                o.update(shape=objs[0]["shape"], motion=objs[0]["motion"])
                o.pop("size", None), objs[0].pop("size", None)
                o.pop("speed", None), objs[0].pop("speed", None)
        extras = [_pick(rng, OUT_OF_WORLD)] if rng.random() < 0.15 else []
        must_report = tuple(extras)
        if k == 1:
            text, rule = _one_object(objs[0], rng, extras)
            count_stated = False
        else:
            text, rule, count_stated = _group(objs, rng, extras)
        if extras:  # the distractor found no place in this sentence shape
            must_report = ()
        background = None
        r = rng.random()
        if r < 0.3:
            background = _pick(rng, list(BACKGROUND_PHRASES))
            text += " " + _pick(rng, BACKGROUND_PHRASES[background])
        elif r < 0.4:
            text += " " + _pick(rng, NO_BACKGROUND)
        if rng.random() < 0.15:  # one typo in a long word
            words = text.split(" ")
            long = [i for i, w in enumerate(words) if len(w) >= 6 and w.isalpha() and w not in must_report]
            if long:
                i = _pick(rng, long)
                words[i] = _typo(words[i], rng)
                text, rule = " ".join(words), rule + " + typo"
        stated = ParsedScene(objects=[ParsedObject(**o) for o in objs], background=background,
                             count=k if count_stated else None)
        out.append(ParaphrasePrompt(text, stated, must_report, rule))
    return out


@dataclass
class Verdict:
    kept: bool  # every stated attribute is in the caption
    invented: int  # objects in the caption beyond those stated
    reported: bool  # every out-of-world word came back as unmapped
    lost: list[str]


def score(item: ParaphrasePrompt, caption: str, unmapped: list[str], scene: ParsedScene | None = None) -> Verdict:
    """Check one rewrite (its caption, unmapped words and parsed scene) against the item's truth."""
    scene = scene if scene is not None else parse(caption)
    check = check_caption(item.stated, scene)
    return Verdict(kept=not check.lost, invented=max(0, len(scene.objects) - len(item.stated.objects)),
                   reported=all(w in unmapped for w in item.must_report), lost=check.lost)
