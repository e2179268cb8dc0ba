"""The one parser of `WxH`-style sizes on the command line and in configs.

Sizes are written as people write them, width first ("1280x720", "80x48"), and returned in the
package's axis order, height before width, as tensors hold them (B C T H W). Frame counts come
first in three-part sizes ("17x64x64" = T x H x W, as a latent or bucket shape is written).
"""

from __future__ import annotations

import re

_PART = r"\s*(\d+)\s*"
_SEP = "[xX×]"


def parse_dims(text: str, names: tuple[str, ...], example: str) -> tuple[int, ...]:
    """'AxBxC' -> (A, B, C), as many positive integers as `names` (which the error message names)."""
    pattern = _SEP.join([_PART] * len(names))
    m = re.fullmatch(pattern, str(text))
    if not m:
        raise ValueError(f"invalid size {text!r}: expected {'x'.join(names)} with positive integers, e.g. {example}")
    values = tuple(int(v) for v in m.groups())
    if min(values) < 1:
        raise ValueError(f"invalid size {text!r}: {', '.join(names)} must be >= 1")
    return values


def parse_size(text: str) -> tuple[int, int]:
    """'WIDTHxHEIGHT' (as in 1280x720) -> (height, width)."""
    width, height = parse_dims(text, ("WIDTH", "HEIGHT"), "64x64 or 80x48")
    return height, width
