"""Film-making words: the lens, light, grade and score of a shot, none of which the world has.

Users who write prompts for real video models describe the shot around the content ("anamorphic
flares, teal-and-orange grade, orchestral swell - content: a yellow triangle ..."). Looked up in a
thesaurus or embedded, these words land on attributes ("tripod" -> triangle, "swell" -> large, "loop" ->
circle) and make objects the prompt never asked for. They are reported instead (`FILM_WORDS` join
`lexicon.OUTSIDE_WORLD`), and a colour said of the light ("moody blue lighting", "golden hour") is the
light's, not an object's (`lights_colour`).
"""

from __future__ import annotations

import re

FILM_WORDS: frozenset[str] = frozenset("""
anamorphic flare flares lens lenses bokeh macro telephoto fisheye dolly tripod handheld gimbal steadicam
softbox backlit backlighting volumetric haze hazy grade graded grading lut grain
grainy vignette hdr imax 4k 8k fps 24fps 30fps 60fps choir orchestral orchestra symphony swell synth synths
pads cello violin violins piano drums drum jazz ukulele guitar trap lofi soundtrack music musical audio
asmr ambient score tempo cinematic filmic aesthetic noir dreamy moody epic drone
""".split())

# Nouns of light: a colour right before one is the light's ("moody blue lighting", "teal-and-orange
# grade"). "light" itself is left out: "a small white light moving left" is an object.
LIGHT_NOUNS = frozenset("lighting glow tint grade grading gel gels wash haze hour flare flares rim backlight lut".split())


def lights_colour(words: list[str], i: int, kind) -> bool:
    """words[i] is a colour said of the light: a light noun follows it, maybe after more colours
    joined by "and" ("teal and orange grade"), and no article opened an object before it ("a blue
    glow" may be a thing). kind(word) is `lexicon.word_kind`."""
    if kind(words[i]) != "color" or (i and words[i - 1] in ("a", "an", "one")):
        return False
    k = i + 1
    while k < len(words) and (words[k] == "and" or kind(words[k]) == "color"):
        k += 1
    return k < len(words) and words[k] in LIGHT_NOUNS


# "chill" is still (`lexicon`), but not when it describes the music or the mood: "chill beats", "a chill track"
CHILL_MUSIC = re.compile(r"\bchill(?:ed|y)?\s+(?=(?:tracks?|beats?|vibes?|music|songs?|tunes?|mood|aesthetic|playlist|"
                         r"lo\s*fi|lofi|soundtrack|atmosphere|synths?|pads)\b)")
