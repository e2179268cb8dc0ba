"""Markdown tables in a prompt, as spec sheets write them:

    | # | colour | shape | movement |
    |---|--------|-------|----------|
    | 1 | green  | triangle | down  |
    | 2 | purple | circle   | bounce |

Read as text, the header's "shape" is one more object and each row's cells run into the next row's.
`tables_as_sentences` writes each row as one sentence, its cells in the order a noun phrase takes
(size, colour, shape, then motion and speed, then any other column), before the words are split
(`phrases.tokenize`); a numbering column ("#", "id", "no") is dropped, a column the header does not
name is kept as written.
"""

from __future__ import annotations

import re

_ROW = re.compile(r"^\s*\|(.*)\|\s*$")
_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")
# header words -> the place of their column's cells in the sentence (lower comes first)
_PLACE = {"size": 0, "colour": 1, "color": 1, "hue": 1, "shape": 2, "object": 2, "type": 2, "form": 2,
          "motion": 3, "movement": 3, "direction": 3, "path": 3, "move": 3, "heading": 3, "moves": 3,
          "speed": 4, "pace": 4, "velocity": 4}
_NUMBERING = {"#", "id", "no", "no.", "n", "num", "number", "index", ""}


def _cells(line: str) -> list[str]:
    return [c.strip() for c in _ROW.match(line).group(1).split("|")]


def tables_as_sentences(text: str) -> str:
    """`text` with each markdown table (a header row, a rule, rows) written as one sentence per row."""
    if "|" not in text:
        return text
    lines = text.split("\n")
    out: list[str] = []
    k = 0
    while k < len(lines):
        if k + 1 < len(lines) and _ROW.match(lines[k]) and _RULE.match(lines[k + 1]):
            header = [c.lower() for c in _cells(lines[k])]
            k += 2
            while k < len(lines) and _ROW.match(lines[k]):
                cells = _cells(lines[k])
                placed = sorted((_PLACE.get(h, 5), i, c) for i, (h, c) in enumerate(zip(header, cells))
                                if h not in _NUMBERING and c)
                out.append(" ".join(c for _, _, c in placed) + ".")
                k += 1
            continue
        out.append(lines[k])
        k += 1
    return "\n".join(out)
