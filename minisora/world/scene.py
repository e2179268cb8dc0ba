"""The parsed form of a MovingShapes prompt or caption: what it states, object by object.

`ParsedScene` is the structure the rest of the system passes on: the parser (`grammar.parse`)
returns it, the rewriter hands it over with its caption, the object slots of the text encoder are
built from it (`slots.py`), and the judge scores a clip against it. Attributes a text does not
state are None.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from minisora.world.spec import SceneSpec

# ---------------------------------------------------------------------------------------------
# Parsed form
# ---------------------------------------------------------------------------------------------


@dataclass
class ParsedObject:
    color: str | None = None
    shape: str | None = None
    size: str | None = None
    motion: str | None = None
    speed: str | None = None

    FIELDS = ("color", "shape", "size", "motion", "speed")


@dataclass
class ParsedScene:
    objects: list[ParsedObject] = field(default_factory=list)
    background: str | None = None
    occluder: bool | None = None
    count: int | None = None
    unknown_words: list[str] = field(default_factory=list)

    def attributes(self) -> set[tuple[str, object]]:
        """The stated attributes as (key, value) pairs, keys like "obj0.color", "background",
        "occluder", "count" (the judge uses the same keys)."""
        out: set[tuple[str, object]] = set()
        for i, o in enumerate(self.objects):
            for f in ParsedObject.FIELDS:
                v = getattr(o, f)
                if v is not None:
                    out.add((f"obj{i}.{f}", v))
        for key in ("background", "occluder", "count"):
            v = getattr(self, key)
            if v is not None:
                out.add((key, v))
        return out

    def to_dict(self) -> dict:
        return asdict(self)


def parsed_from_spec(spec: SceneSpec) -> ParsedScene:
    """The ParsedScene that states everything about `spec` (what a perfect parse of its caption
    gives). Still objects carry no speed: speed means nothing for them."""
    objs = [ParsedObject(o.color, o.shape, o.size, o.motion, None if o.motion == "still" else o.speed)
            for o in spec.objects]
    return ParsedScene(objects=objs, background=spec.background, occluder=spec.occluder is not None,
                       count=len(spec.objects))
