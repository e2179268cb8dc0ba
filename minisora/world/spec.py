"""Scene specifications: the exact ground truth behind every MovingShapes clip.

A `SceneSpec` is JSON-serialisable (`to_dict` / `from_dict`) and fully determines a clip together
with (height, width, num_frames, fps). Positions are normalised to the frame: x in [0, 1] from the
left edge, y in [0, 1] from the top edge, so one spec renders at any resolution and aspect ratio.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from minisora.world import vocabulary as V


@dataclass(frozen=True)
class ObjectSpec:
    color: str  # key of V.COLORS
    shape: str  # one of V.SHAPES
    size: str  # key of V.SIZES
    motion: str  # key of V.MOTIONS
    speed: str  # key of V.SPEEDS (ignored for "still")
    x0: float  # centre at t = 0, normalised
    y0: float
    heading: tuple[float, float] = (0.0, 0.0)  # unit velocity direction actually used (bouncing: random)

    def __post_init__(self) -> None:
        _check("color", self.color, V.COLORS)
        _check("shape", self.shape, V.SHAPES)
        _check("size", self.size, V.SIZES)
        _check("motion", self.motion, V.MOTIONS)
        _check("speed", self.speed, V.SPEEDS)


@dataclass(frozen=True)
class OccluderSpec:
    x: float  # centre of the vertical bar, normalised
    width: float = V.OCCLUDER_WIDTH


@dataclass(frozen=True)
class SceneSpec:
    objects: tuple[ObjectSpec, ...]
    background: str
    occluder: OccluderSpec | None = None
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        _check("background", self.background, V.BACKGROUNDS)
        if not 1 <= len(self.objects) <= V.MAX_OBJECTS:
            raise ValueError(f"a scene holds 1 to {V.MAX_OBJECTS} objects, got {len(self.objects)}")
        colors = [o.color for o in self.objects]
        if len(set(colors)) != len(colors):
            raise ValueError(f"objects in a scene must have distinct colors, got {colors}")

    @property
    def is_heldout(self) -> bool:
        return any(V.is_heldout_object(o.color, o.shape, o.motion) for o in self.objects)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["objects"] = [dict(o, heading=list(o["heading"])) for o in d["objects"]]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SceneSpec":
        objects = tuple(ObjectSpec(**{**o, "heading": tuple(o.get("heading", (0.0, 0.0)))}) for o in d["objects"])
        occ = d.get("occluder")
        return cls(objects=objects, background=d["background"],
                   occluder=OccluderSpec(**occ) if occ else None, meta=dict(d.get("meta", {})))


def _check(name: str, value: str, valid) -> None:
    if value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(valid)}")
