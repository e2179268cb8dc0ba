"""How a prompt's lists are handed to its objects, after the parser has read them.

- `respectively(items, objects)`: "a circle and a square moving right and left respectively", and
  "..., coloured blue and orange respectively";
- `colors_for_plural(objects)`: "three squares: a red, a green and a blue";
- `joined_colors(words)`: "red, blue, and gold circles" (before the parser: a comma would part them);
- `fold_into_count(objects, count)`: "exactly one object - object is a blue square - object is large";
- `drop_words_read_as_objects(objects, loose, spoken_of)`: "my favourite colour is pink, a pink circle",
  "why does it keep giving me squares": words that made objects the prompt does not ask for;
- `merge_restated(objects, batch_of)`: "a square has four sides. Here is a large white square", "Bug:
  orange square moving down-right renders wrong. Please generate orange square, down-right": one
  object described twice.
"""

from __future__ import annotations

from minisora.world import vocabulary as V
from minisora.world.scene import ParsedObject


def respectively(items: list[tuple[str, object, str]], objects: list[ParsedObject]) -> None:
    """"a circle and a square moving right and left respectively": the motions (or colours) listed
    right before "respectively" go to the objects in order, when there are as many as objects. Listed
    colours first read as objects of their own ("coloured blue and orange"); those are taken back."""
    at = [j for j, (_, _, surface) in enumerate(items) if surface == "respectively"]
    if len(objects) < 2:
        return
    for stop, here in zip([-1] + at, at):  # "coloured red, green and blue respectively, moving left, up
        _hand_out(items, objects, stop, here)  # and down respectively": each list up to its own word


def _hand_out(items: list[tuple[str, object, str]], objects: list[ParsedObject], stop: int, here: int) -> None:
    """The motions or colours listed between item `stop` and the "respectively" at item `here`, to the
    objects in order."""
    j, motions, colors = here - 1, [], []
    while j > stop and items[j][0] in ("motion", "color", "speed", "filler", "verb", "unknown"):
        if items[j][0] == "motion":
            motions.insert(0, items[j][1])
        elif items[j][0] == "color":
            colors.insert(0, items[j][1])
        j -= 1
    if motions and len(motions) == len(objects):
        for o, m in zip(objects, motions):
            o.motion = m
    named = [o for o in objects if o.shape is not None]
    stray = [o for o in objects if o.shape is None]
    if colors and len(named) == len(colors) and all(o.color in colors and o.size is None for o in stray):
        for o in stray:
            if o.motion is not None:  # "..., red and blue respectively, moving up": the motion is everyone's
                for m in named:
                    m.motion = m.motion or o.motion
        objects[:] = named
        for o, c in zip(named, colors):
            o.color = c


def colors_for_plural(objects: list[ParsedObject]) -> None:
    """"three squares: a red, a green and a blue": objects of a colour alone, right after as many
    uncoloured objects of one shape, are those objects' colours."""
    for start in range(len(objects)):
        group = [o for o in objects[start:] if o.shape is not None and o.color is None]
        n = len(group)
        rest = objects[start + n:start + 2 * n]
        if n > 1 and objects[start:start + n] == group and len({o.shape for o in group}) == 1 and len(rest) == n \
                and all(o.shape is None and o.color is not None for o in rest):
            for o, c in zip(group, rest):
                o.color = c.color
                o.size = o.size or c.size
                o.motion = o.motion or c.motion
                o.speed = o.speed or c.speed
            del objects[start + n:start + 2 * n]
            return


def merge_restated(objects: list[ParsedObject], batch_of: dict[int, int]) -> list[ParsedObject]:
    """Objects described twice are one: a later object with the same shape (or none, both times) whose
    stated attributes agree with an earlier one's, when one of the two says nothing but its shape or
    both name the same colour, restates it, and its attributes join the earlier one's ("a green
    triangle ... and a small triangle" stay two). Objects made together ("three squares", "two circles, one red and one blue") are
    never merged: `batch_of` maps id(object) to the phrase that made it. The caller skips this when the
    prompt states a count."""
    def bare(o: ParsedObject) -> bool:
        return not (o.color or o.size or o.motion or o.speed)

    kept: list[ParsedObject] = []
    for o in objects:
        # agreeing, and one of the two says nothing but its shape ("a square has four sides"), or both
        # name the same colour (no two objects share one here): "a cyan square ... so a cyan square, large"
        same = next((k for k in kept if k.shape == o.shape and batch_of.get(id(k)) != batch_of.get(id(o))
                     and all(getattr(k, f) is None or getattr(o, f) is None or getattr(k, f) == getattr(o, f)
                             for f in ParsedObject.FIELDS)
                     and (bare(k) or bare(o) or k.color is not None and k.color == o.color)), None)
        if same is None:
            kept.append(o)
            continue
        for f in ParsedObject.FIELDS:
            if getattr(same, f) is None:
                setattr(same, f, getattr(o, f))
    return kept


def joined_colors(words: list[str], plural_shape, shape) -> list[str]:
    """"red, blue, and gold circles fall", "a red, a blue and a gold ball": colours listed with commas
    before one noun are that noun's colours, as in "red and blue circles" and "a red and a blue
    ball". The parser parts clauses at commas, so inside such a list each comma becomes "and" (a
    comma before "and"/"or" is dropped). The noun is plural, or singular when every colour has its
    article, the same each time. plural_shape(word) / shape(word): whether a word is a plural / any
    shape noun."""
    articles = ("a", "an", "the", "one")
    out = list(words)
    i = 0
    while i < len(out):
        led = out[i] in articles and i + 1 < len(out) and out[i + 1] in V.COLORS
        if out[i] not in V.COLORS and not led:
            i += 1
            continue
        j, commas = i + led, []  # the run: [art] colour (, | and | or | , and) [art] colour ...
        while j + 2 < len(out) and out[j + 1] in (",", "and", "or"):
            k = j + 1
            if out[k] == "," and out[k + 1] in ("and", "or"):
                k += 1
            nxt = k + 1 + (led and out[k + 1] == out[i])  # a list repeats its article
            if nxt >= len(out) or out[nxt] not in V.COLORS or (led and nxt == k + 1):
                break
            if out[j + 1] == ",":
                commas.append(j + 1)
            j = nxt
        noun = out[j + 1] if j + 1 < len(out) else ""
        if commas and (plural_shape(noun) or (led and shape(noun))):
            for c in reversed(commas):
                if out[c + 1] in ("and", "or"):
                    del out[c]
                else:
                    out[c] = "and"
            i = j - len(commas) + 1
        else:
            i = j + 1
    return out


def fold_into_count(objects: list[ParsedObject], count: int) -> list[ParsedObject]:
    """More objects than the prompt counts, where the extra ones name neither a shape nor a colour:
    they say more of the object before them ("exactly one object - object is a blue square - object
    is large - object remains stationary"), so their size, motion and speed join it."""
    out = list(objects)
    while len(out) > count:
        extra = [k for k in range(1, len(out)) if out[k].shape is None and out[k].color is None]
        if not extra:
            break
        k = extra[-1]
        for key in ("size", "motion", "speed"):
            if getattr(out[k - 1], key) is None:
                setattr(out[k - 1], key, getattr(out[k], key))
        del out[k]
    return out


def drop_words_read_as_objects(objects: list[ParsedObject], loose: dict[int, list[str]],
                               spoken_of: dict[int, str]) -> list[str]:
    """Remove from `objects` what the parser made of words that ask for no object, and return those
    words (to be reported):
    - adjectives that reached no noun, no article and no count (`loose`: id -> words), in a prompt that
      names its objects by nouns, are words misread as attributes ("minimal composition: a ... circle",
      "my favourite colour is pink, a pink circle");
    - a bare plural left with nothing said of it (`spoken_of`: id -> noun) beside objects that are
      described is talk about shapes ("triangles are better", "it keeps giving me squares")."""
    words: list[str] = []
    if any(o.shape is not None for o in objects):
        for o in [o for o in objects if o.shape is None and id(o) in loose]:
            objects.remove(o)
            words.extend(loose[id(o)])
    described = [o for o in objects if id(o) not in spoken_of and (o.color or o.size or o.motion or o.speed)]
    for o in [o for o in objects if id(o) in spoken_of and not (o.color or o.size or o.motion or o.speed)]:
        if described:
            objects.remove(o)
            words.append(spoken_of[id(o)])
    return words
