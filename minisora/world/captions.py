"""Captions for MovingShapes scenes: a writer of dense captions and short prompts.

- `write_caption(spec, rng)`: a dense descriptive caption (Sora's "re-captioning" target), stating
  every attribute of every object, the background, whether an occluder is present, with varied
  sentence layouts and synonyms drawn from `rng`.
- `write_prompt(spec, rng)`: a short user-style prompt that sometimes omits size, speed,
  background or the occluder, as users do.

All phrasings come from the `*_WRITE` tables in `vocabulary.py`, which the parser (`grammar.py`)
reads too, so `parse(write_caption(spec))` recovers every attribute of `spec` exactly
(tests/test_captions.py).
"""

from __future__ import annotations

import numpy as np

from minisora.world import vocabulary as V
from minisora.world.scenes import crosses_occluder
from minisora.world.spec import ObjectSpec, SceneSpec

# ---------------------------------------------------------------------------------------------
# Writer
# ---------------------------------------------------------------------------------------------

_NUMBER_WORDS = {1: "one", 2: "two", 3: "three"}


def _pick(rng: np.random.Generator, options) -> str:
    options = list(options)
    return options[int(rng.integers(len(options)))]


def _occluded_objects(spec: SceneSpec) -> list[bool]:
    if spec.occluder is None:
        return [False] * len(spec.objects)
    return [crosses_occluder(o, spec.occluder) for o in spec.objects]


def _a(phrase: str) -> str:
    """Prefix the indefinite article: "an orange star", "a red circle"."""
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def _noun_phrase(obj: ObjectSpec, rng: np.random.Generator, with_size: bool = True,
                 speed_adjective: bool = False, article: bool = True) -> str:
    words = []
    if speed_adjective:
        words.append(_pick(rng, V.SPEED_ADJECTIVE_WRITE[obj.speed]))
    if with_size:
        words.append(_pick(rng, V.SIZE_WRITE[obj.size]))
    words += [obj.color, obj.shape]
    return _a(" ".join(words)) if article else " ".join(words)


def _motion_phrase(obj: ObjectSpec, rng: np.random.Generator, finite: bool, with_speed: bool = True) -> str:
    """Verb phrase for the object's motion (with speed unless said elsewhere)."""
    adverb = _pick(rng, V.SPEED_ADVERB_WRITE[obj.speed]) if with_speed else ""
    if obj.motion == "still":
        return _pick(rng, V.STILL_WRITE if finite else V.STILL_PARTICIPLES_WRITE)
    if obj.motion == "bouncing":
        base = _pick(rng, V.BOUNCING_WRITE if finite else V.BOUNCING_PARTICIPLES_WRITE)
        return f"{base} {adverb}".strip()
    verb = _pick(rng, V.MOTION_VERBS_WRITE if finite else V.MOTION_PARTICIPLES_WRITE)
    direction = _pick(rng, V.DIRECTION_WRITE[obj.motion])
    layout = int(rng.integers(3))
    if layout == 0:
        parts = [verb, adverb, direction]
    elif layout == 1:
        parts = [verb, direction, adverb]
    else:  # "glides slowly from the left edge toward the right"
        parts = [verb, adverb, _pick(rng, V.ORIGIN_WRITE[obj.motion]), direction]
    return " ".join(p for p in parts if p)


def _object_clause(obj: ObjectSpec, rng: np.random.Generator, occluded: bool, finite: bool = True) -> str:
    moving = obj.motion != "still"
    speed_adj = moving and rng.random() < 0.2
    clause = f"{_noun_phrase(obj, rng, speed_adjective=speed_adj)} " \
             f"{_motion_phrase(obj, rng, finite, with_speed=moving and not speed_adj)}"
    if occluded:
        clause += f", passing behind {_pick(rng, V.OCCLUDER_WRITE)}"
    return clause


def _sentence(text: str) -> str:
    text = text.strip()
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


def write_caption(spec: SceneSpec, rng: np.random.Generator) -> str:
    """A dense caption stating every attribute of every object, the background, the occluder (or
    its absence) and, for several objects, their number."""
    occluded = _occluded_objects(spec)
    # The occluder is named once: in the clause of one object that crosses it, or in a sentence.
    attach = -1
    if spec.occluder is not None and any(occluded) and rng.random() < 0.7:
        attach = int(rng.choice(np.flatnonzero(occluded)))
    clauses = [_object_clause(o, rng, i == attach) for i, o in enumerate(spec.objects)]
    bg = spec.background
    camera = f" {_pick(rng, V.CAMERA_WRITE)}" if rng.random() < 0.5 else ""
    n = len(spec.objects)
    layout = int(rng.integers(3))
    if n == 1:
        if layout == 0:
            sentences = [f"{clauses[0]} across a {bg} {_pick(rng, V.BACKGROUND_NOUNS[:2])}{camera}"]
        elif layout == 1:
            sentences = [f"on a {bg} {_pick(rng, V.BACKGROUND_NOUNS[:2])}, {clauses[0]}{camera}"]
        else:
            sentences = [f"{clauses[0]}{camera}", f"the background is {bg}"]
    else:
        joined = ", ".join(clauses[:-1]) + f", and {clauses[-1]}" if n > 2 else f"{clauses[0]} and {clauses[1]}"
        count = _NUMBER_WORDS[n]
        noun = _pick(rng, ("shapes", "objects"))
        if layout == 0:
            sentences = [f"{count} {noun} on {_a(bg)} background{camera}: {joined}"]
        elif layout == 1:
            sentences = [f"against a {bg} {_pick(rng, V.BACKGROUND_NOUNS[:2])}, {joined}{camera}"]
        else:
            sentences = [f"{count} {noun} share the frame", *clauses, f"the background is {bg}{camera}"]
    if spec.occluder is not None and attach < 0:
        sentences.append(f"{_pick(rng, V.OCCLUDER_WRITE)} stands in the foreground")
    elif spec.occluder is None:
        sentences.append(_pick(rng, V.NO_OCCLUDER_WRITE))
    return " ".join(_sentence(s) for s in sentences)


def _short_object(obj: ObjectSpec, rng: np.random.Generator, occluded: bool) -> str:
    moving = obj.motion != "still"
    words = [_pick(rng, V.SIZE_WRITE[obj.size])] if rng.random() < 0.5 else []
    words += [obj.color, obj.shape]
    if rng.random() < 0.1:  # users sometimes leave the motion to the model
        return " ".join(words)
    speed = moving and rng.random() < 0.4
    if obj.motion == "still":
        words.append(_pick(rng, V.STILL_PARTICIPLES_WRITE))
    elif obj.motion == "bouncing":
        words.append("bouncing")
    else:
        words.append(_pick(rng, V.MOTION_PARTICIPLES_WRITE))
        words.append(_pick(rng, (obj.motion, *V.DIRECTION_WRITE[obj.motion][:2])))
    if speed:
        words.append(_pick(rng, V.SPEED_ADVERB_WRITE[obj.speed][:2]))
    if occluded and rng.random() < 0.6:
        words.append(f"behind {_pick(rng, V.OCCLUDER_WRITE)}")
    return " ".join(words)


def write_prompt(spec: SceneSpec, rng: np.random.Generator) -> str:
    """A short user-style prompt ("red circle moving right", "two shapes: a blue square going up
    and a small green star bouncing"); size, speed, background and occluder are sometimes left out."""
    occluded = _occluded_objects(spec)
    parts = [_short_object(o, rng, occluded[i]) for i, o in enumerate(spec.objects)]
    n = len(parts)
    # "a red dot and a blue square drifting right" reads as both drifting (`motions.plural_subject`): when
    # the object before "and" has no motion said, a comma parts it ("a red dot, and a blue square ...")
    last_and = ", and " if n > 1 and parts[-2].split()[-1] in V.SHAPES else " and "
    if n == 1:
        text = parts[0] if rng.random() < 0.6 else _a(parts[0])
    else:
        body = _a(parts[0]) + last_and + _a(parts[1]) if n == 2 else \
            ", ".join(_a(p) for p in parts[:-1]) + f"{last_and}{_a(parts[-1])}"
        text = f"{_NUMBER_WORDS[n]} shapes: {body}" if rng.random() < 0.5 else body
    if rng.random() < 0.4:
        text += _pick(rng, (f" on {spec.background}", f" on a {spec.background} background",
                            f", {spec.background} background"))
    return text
