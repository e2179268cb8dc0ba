"""Colour names the mapper's tables lack ("denim", "eggplant", "pea soup"), placed on the world's
palette by the colour they name rather than by their spelling.

MiniLM knows little about colour names (see `world/normalize.py`), but matplotlib, a dependency already,
ships two real dictionaries of them with RGB values: `XKCD_COLORS`, 949 names from the xkcd colour
survey (the names people typed for RGB samples shown to them), and `CSS4_COLORS`, the 148 web colours.

A name found there is placed like this:

1. Every dictionary name whose head word already means a palette colour ("pea green", "sky blue",
   "maroon" through the lexicon) is a labelled sample of what people call that colour. The labels
   come from the caller (`term_of`), so they follow the lexicon's convention: pink is a light red,
   brown a dark orange, ivory a white.
2. The name's RGB is converted to OKLab, a perceptually uniform space (equal distances look equally
   different), and the name takes the majority label of its `k` nearest labelled samples.

A nearest-neighbour vote over the survey rather than the nearest palette RGB, because English colour
categories are not balls around the renderer's eight RGB values: most yellow-greens are "green" to
English speakers (pea, olive), though nearer in hue to the palette's yellow than to its green; the
survey's own names carry those boundaries.

A name between two palette colours (no strict majority among its neighbours: "palegoldenrod" has
orange and yellow ones) or whose colour is not allowed where it stands (a grey name for an object: the world has
no grey objects) gets no term: the caller reports it rather than guessing.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

_WORD_RE = re.compile(r"[a-z0-9]+")


def name_key(name: str) -> str:
    """A colour name as words split the way prompts are ("robin's egg" -> "robin s egg")."""
    return " ".join(_WORD_RE.findall(name.lower()))


def srgb_to_oklab(rgb: np.ndarray) -> np.ndarray:
    """(N,3) sRGB in [0,1] -> (N,3) OKLab (L, a, b), after Björn Ottosson's published definition:
    linearise sRGB, go to a cone-like LMS space, cube-root, then to the opponent axes."""
    rgb = np.asarray(rgb, dtype=np.float64)
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    to_lms = np.array([[0.4122214708, 0.5363325363, 0.0514459929],
                       [0.2119034982, 0.6806995451, 0.1073969566],
                       [0.0883024619, 0.2817188376, 0.6299787005]])
    to_lab = np.array([[0.2104542553, 0.7936177850, -0.0040720468],
                       [1.9779984951, -2.4285922050, 0.4505937099],
                       [0.0259040371, 0.7827717662, -0.8086757660]])
    return np.cbrt(linear @ to_lms.T) @ to_lab.T  # (N,3)


def dictionary_colors() -> dict[str, tuple[float, float, float]]:
    """Every name of the two dictionaries, as written there ("green/yellow", "robin's egg") -> sRGB
    in [0,1]; xkcd wins where both have a name, being what people call a colour rather than what a
    standard chose."""
    from matplotlib import colors as mcolors  # imported on first need: most prompts never get here

    out: dict[str, tuple[float, float, float]] = {}
    for table, prefix in ((mcolors.XKCD_COLORS, "xkcd:"), (mcolors.CSS4_COLORS, "")):
        for name, hex_value in table.items():
            out.setdefault(name.removeprefix(prefix), mcolors.to_rgb(hex_value))
    return out


@dataclass(frozen=True)
class ColorVerdict:
    term: str | None  # the palette colour; None when the neighbours disagree or it is not allowed here
    share: float  # fraction of the k nearest labelled names that voted for the winning colour
    winner: str  # the winning colour, allowed here or not (says why a term is None)


class ColorNames:
    """Looks colour names up in the dictionaries and places them on the palette (module docstring).

    term_of: the palette colour a single word stands for (a palette name, a parser synonym, a lexicon
        word), or None; applied to each dictionary name's head word to label the samples.
    k: how many nearest labelled samples vote. Measured leave-one-out on the lexicon's colour words
        that the dictionaries have (136; each word's own label withheld): k=5 places 113 as the
        lexicon does, 8 are reported as between two colours, 15 placed otherwise (rust, coral,
        periwinkle: names on a border); k=1 places 106 and reports none, k=7 places 106 and reports 15.
    """

    def __init__(self, term_of: Callable[[str], str | None], k: int = 5):
        self.term_of = term_of
        self.k = k
        self._rgb: dict[str, tuple[float, float, float]] | None = None
        self._points: np.ndarray | None = None  # (S,3) OKLab of the labelled samples
        self._labels: list[str] = []
        self._memo: dict[str, Counter | None] = {}

    def _build(self) -> None:
        self._rgb = {}
        labelled = []
        for name, rgb in dictionary_colors().items():
            key = name_key(name)
            self._rgb.setdefault(key, rgb)
            # English puts the head last: "pea green" is a green, "greenish blue" a blue. A name with
            # a slash ("green/yellow") is a mix of two, a sample of neither.
            term = self.term_of(key.split()[-1]) if "/" not in name else None
            if term is not None:
                labelled.append(rgb)
                self._labels.append(term)
        self._points = srgb_to_oklab(np.array(labelled))  # (S,3)

    def __contains__(self, name: str) -> bool:
        if self._rgb is None:
            self._build()
        return name_key(name) in self._rgb

    def votes(self, name: str) -> Counter | None:
        """Labels of the k labelled samples nearest to `name`'s colour, or None when no dictionary
        has the name."""
        key = name_key(name)
        if key not in self._memo:
            if key not in self:
                self._memo[key] = None
            else:
                point = srgb_to_oklab(np.array([self._rgb[key]]))[0]  # (3,)
                dist = np.linalg.norm(self._points - point, axis=1)  # (S,)
                nearest = np.argsort(dist, kind="stable")[:self.k]
                self._memo[key] = Counter(self._labels[i] for i in nearest)
        return self._memo[key]

    def lookup(self, name: str, allowed: Iterable[str]) -> ColorVerdict | None:
        """The palette colour `name` stands for among `allowed`, or None when it is no dictionary
        colour name at all. A verdict with term None: the name is a colour, but between two palette
        colours (no strict majority) or of a colour not allowed here."""
        votes = self.votes(name)
        if votes is None:
            return None
        winner, count = votes.most_common(1)[0]
        clear = 2 * count > self.k
        return ColorVerdict(winner if clear and winner in set(allowed) else None, count / self.k, winner)
