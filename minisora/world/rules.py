"""The glue between the world's caption language and the rewriters.

- `canonical_prompt(parsed)`: the order-preserving word form of a parsed prompt that the builtin
  language model reads ("obj red circle left obj large blue square background navy"). Whatever
  phrasing the user chose, every prompt the parser understands the same way reads the same here.
- `check_caption(stated, caption)`: did a rewrite keep every stated attribute, and is it a valid
  caption (parses fully and describes a complete scene)?
- `expand(stated, seed)`: the rule-based rewrite — complete the scene with `spec_from_parsed` and
  write it with `write_caption`; it keeps every stated attribute by construction.
- `make_pairs(n, seed, split)`: (short prompt, caption) pairs written from sampled scenes — the
  builtin rewriter's training data and the openai backend's few-shot examples.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

import numpy as np

from minisora.world import vocabulary as V
from minisora.world.captions import write_caption, write_prompt
from minisora.world.grammar import parse
from minisora.world.scene import ParsedObject, ParsedScene
from minisora.world.scenes import sample_scene, spec_from_parsed

OBJECT_FIELDS = ("size", "color", "shape", "motion", "speed")  # order of the canonical form


def canonical_prompt(parsed: ParsedScene) -> str:
    """Serialise the stated attributes, object by object, in a fixed word order.

    Attribute values are distinct words across fields (sizes, colours, shapes, motions and speeds
    share no word), so an unstated field is simply left out.
    """
    words: list[str] = []
    for o in parsed.objects:
        words.append("obj")
        words += [getattr(o, f) for f in OBJECT_FIELDS if getattr(o, f) is not None]
    if parsed.count is not None and parsed.count != len(parsed.objects):
        words += ["count", str(parsed.count)]
    if parsed.background is not None:
        words += ["background", parsed.background]
    if parsed.occluder is not None:
        words += ["occluder", "yes" if parsed.occluder else "no"]
    return " ".join(words)


@dataclass
class CaptionCheck:
    """Verdict on one rewrite. `kept`/`lost`/`filled` hold "key=value" strings (keys as in
    `ParsedScene.attributes()`, object indices those of the prompt for kept/lost, of the caption
    for filled)."""

    valid: bool  # parses fully into a complete, renderable scene
    kept: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    filled: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    scene: ParsedScene | None = None  # the caption as parsed: what the video must show

    @property
    def ok(self) -> bool:
        return self.valid and not self.lost


def validity_problems(parsed: ParsedScene) -> list[str]:
    """Why a parsed caption does not describe one complete scene ([] when it does)."""
    problems = []
    if parsed.unknown_words:
        problems.append(f"words the parser cannot place: {parsed.unknown_words}")
    n = len(parsed.objects)
    if not 1 <= n <= V.MAX_OBJECTS:
        problems.append(f"{n} objects (a scene holds 1 to {V.MAX_OBJECTS})")
    if parsed.count is not None and parsed.count != n:
        problems.append(f"says {parsed.count} objects but describes {n}")
    for i, o in enumerate(parsed.objects):
        missing = [f for f in OBJECT_FIELDS if getattr(o, f) is None and not (f == "speed" and o.motion == "still")]
        if missing:
            problems.append(f"object {i} lacks {', '.join(missing)}")
    colors = [o.color for o in parsed.objects if o.color]
    if len(set(colors)) != len(colors):
        problems.append(f"repeated colours {colors}")
    if parsed.background is None:
        problems.append("no background")
    if parsed.occluder is None:
        problems.append("occluder neither stated nor denied")
    return problems


@dataclass
class WorldFit:
    """A prompt's stated scene made drawable: the world holds 1 to MAX_OBJECTS objects of distinct
    colours. `dropped` holds the stated attributes given up ("obj3.color=yellow", keys as in
    `ParsedScene.attributes()`), `notes` says why in words; both empty when the scene fits as stated."""

    scene: ParsedScene
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def fit_to_world(stated: ParsedScene) -> WorldFit:
    """The nearest drawable scene to what a prompt states, and what had to go.

    Users ask for "two blue squares", "three red triangles", "a couple of green stars" or four objects;
    refusing them would give no video at all. Instead: a count below the objects described becomes
    the number described; objects beyond MAX_OBJECTS are left out (the first ones named are kept);
    an object whose colour an earlier one already has loses that colour (the rewriter gives it
    another). Everything given up is reported, never silently dropped."""
    objects = [replace(o) for o in stated.objects]
    count, dropped, notes = stated.count, [], []
    if count is not None and len(objects) > count:
        notes.append(f"says {count} objects but describes {len(objects)}: the {len(objects)} described are drawn")
        dropped.append(f"count={count}")
        count = len(objects)
    asked = max(len(objects), count or 0)
    if asked > V.MAX_OBJECTS:
        for i, o in enumerate(objects[V.MAX_OBJECTS:], start=V.MAX_OBJECTS):
            dropped += [f"obj{i}.{k}={v}" for k, v in _object_attrs(o).items()]
        if stated.count is not None and stated.count > V.MAX_OBJECTS:
            dropped.append(f"count={stated.count}")
        notes.append(f"asks for {asked} objects; MovingShapes scenes hold 1 to {V.MAX_OBJECTS}: "
                     f"{V.MAX_OBJECTS} are drawn" + (", the first ones named" if len(objects) > V.MAX_OBJECTS else ""))
        objects, count = objects[:V.MAX_OBJECTS], V.MAX_OBJECTS
    seen: set[str] = set()
    for i, o in enumerate(objects):
        if o.color is not None and o.color in seen:
            dropped.append(f"obj{i}.color={o.color}")
            notes.append(f"objects in a scene have distinct colours: object {i + 1} ({o.color}) gets another colour")
            o.color = None
        if o.color is not None:
            seen.add(o.color)
    scene = replace(stated, objects=objects, count=count, unknown_words=list(stated.unknown_words))
    return WorldFit(scene, dropped, notes)


def _object_attrs(o: ParsedObject) -> dict[str, str]:
    return {f: getattr(o, f) for f in ParsedObject.FIELDS if getattr(o, f) is not None}


def check_caption(stated: ParsedScene, caption: ParsedScene | str) -> CaptionCheck:
    """Compare a rewrite with the prompt's stated attributes.

    Objects are matched by the assignment (over all orderings, at most 3! = 6) that keeps the most
    stated attributes, so a rewrite may describe the objects in another order. A stated speed
    counts as kept for an object the caption keeps still (the world ignores speed there).
    """
    if isinstance(caption, str):
        caption = parse(caption)
    problems = validity_problems(caption)
    s_objs = [_object_attrs(o) for o in stated.objects]
    c_objs = [_object_attrs(o) for o in caption.objects]
    best: tuple[int, tuple[int, ...]] | None = None
    if len(c_objs) >= len(s_objs):
        for perm in itertools.permutations(range(len(c_objs)), len(s_objs)):
            score = sum(c_objs[j].get(k) == v for i, j in enumerate(perm) for k, v in s_objs[i].items())
            if best is None or score > best[0]:
                best = (score, perm)
    kept, lost, filled = [], [], []
    perm = best[1] if best else ()
    for i, attrs in enumerate(s_objs):
        got = c_objs[perm[i]] if i < len(perm) else {}
        for k, v in attrs.items():
            good = got.get(k) == v or (k == "speed" and got.get("motion") == "still")
            (kept if good else lost).append(f"obj{i}.{k}={v}")
    for j, attrs in enumerate(c_objs):
        i = perm.index(j) if j in perm else None
        for k, v in attrs.items():
            if i is None or k not in s_objs[i]:
                filled.append(f"obj{j}.{k}={v}")
    for key in ("background", "occluder", "count"):
        want, got = getattr(stated, key), getattr(caption, key)
        if key == "count" and got is None:
            got = len(caption.objects)
        if want is not None:
            (kept if want == got else lost).append(f"{key}={want}")
        elif got is not None:
            filled.append(f"{key}={got}")
    if len(c_objs) < len(s_objs):
        problems.append(f"describes {len(c_objs)} objects, the prompt states {len(s_objs)}")
    return CaptionCheck(valid=not problems, kept=kept, lost=lost, filled=filled, problems=problems,
                        scene=caption)


def expand(stated: ParsedScene, seed: int = 0) -> str:
    """Rule-based rewrite: complete the stated scene with plausible values and write its caption.

    Raises ValueError (from `spec_from_parsed`) when the prompt asks for a scene the world cannot
    hold, e.g. four objects or two red ones.
    """
    rng = np.random.default_rng(seed)
    spec = spec_from_parsed(stated, rng)
    return write_caption(spec, rng)


def make_pairs(n: int, seed: int = 0, split: str = "train") -> list[tuple[str, str]]:
    """`n` (short prompt, caption) pairs from scenes of `split`; deterministic in `seed`."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(n):
        spec = sample_scene(rng, split)
        pairs.append((write_prompt(spec, rng), write_caption(spec, rng)))
    return pairs
