"""The MovingShapes side of object slots (`text/object_slots.py`): which attributes a slot holds, the
words each value is encoded as, and each object's attributes, taken from a parsed scene.

The text encoder knows no world: it gets an `ObjectSlots` built here. The pipeline builds it from
the scene its rewriter parsed (`scene_slots`); training builds it from its captions (`text_slots`),
which parses them exactly as the rewriter's caption check does, so a caption gets the same slots in
training and in sampling.
"""

from __future__ import annotations

from minisora.text.object_slots import ObjectSlots, SlotVocabulary
from minisora.world import vocabulary as V
from minisora.world.grammar import parse
from minisora.world.scene import ParsedObject, ParsedScene

_MOTION_WORDS = {"still": "standing still", "bouncing": "bouncing around"}
# Motion and shape weigh more in the sum: MiniLM places "moving left" and "moving right" (and the four
# shape nouns) close together, and they are what the model bound worst without slots.
FIELD_WEIGHTS = {"size": 1.0, "color": 1.0, "shape": 1.5, "motion": 2.0, "speed": 1.0}


def field_words(field: str, value: str) -> str:
    """The words an attribute value is encoded as."""
    if field == "motion":
        return _MOTION_WORDS.get(value, "moving " + value.replace("-", " and "))
    return value


def _vocabulary() -> SlotVocabulary:
    values = {"size": list(V.SIZES), "color": list(V.COLORS), "shape": list(V.SHAPES), "motion": list(V.MOTIONS),
              "speed": list(V.SPEEDS)}
    return SlotVocabulary(tuple((f, FIELD_WEIGHTS[f], tuple((x, field_words(f, x)) for x in xs))
                                for f, xs in values.items()))


SLOT_VOCABULARY = _vocabulary()


def object_fields(scene: ParsedScene) -> tuple[dict[str, str], ...]:
    """The stated attributes of each object of `scene`, in order (an object stating none gets no slot
    but keeps its place: the encoder fills the first S objects)."""
    return tuple({f: getattr(o, f) for f in ParsedObject.FIELDS if getattr(o, f) is not None} for o in scene.objects)


def scene_slots(scenes: list[ParsedScene]) -> ObjectSlots:
    """Object slots for a batch of parsed scenes (one per text)."""
    return ObjectSlots(SLOT_VOCABULARY, tuple(object_fields(s) for s in scenes))


def text_slots(texts: list[str]) -> ObjectSlots:
    """Object slots for a batch of captions or prompts, each parsed by the world's grammar."""
    return scene_slots([parse(t) for t in texts])


def slots_for(encoder, texts: list[str]) -> ObjectSlots | None:
    """What `encoder.encode(texts, slots=...)` needs: the texts' object slots when the encoder appends
    slots (`config.object_slots` > 0), else None."""
    return text_slots(texts) if encoder.config.object_slots else None
