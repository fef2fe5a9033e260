"""Text: glyph runs of a family chain (the shaper) and the pieces lines are broken into."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from collector.records.fonts import Face, Family
from collector.records.printer.style import TextStyle

if TYPE_CHECKING:  # the shaper keeps its document only to ask it for glyph slots
    from collector.records.printer.layout import Document


class Run(NamedTuple):
    """Glyphs of one face: the face's slot in the document, their ids as hex, their advance (1/1000 em)."""

    slot: int
    hex: str
    width: float


class Shaper:
    """Maps text to glyphs of a family chain, remembering every string it has seen."""

    def __init__(self, doc: Document, chain: tuple[Family, ...], bold: bool) -> None:
        self.doc = doc
        self.faces: list[Face] = [(f.bold if bold and f.bold is not None else f.regular) for f in chain]
        self.primary = self.faces[0]
        self._char: dict[str, tuple[int, int, float]] = {}
        self._runs: dict[str, tuple[tuple[Run, ...], float]] = {}

    def _glyph(self, ch: str) -> tuple[int, int, float]:
        cp = ord(ch)
        for face in self.faces:
            gid = face.cmap.get(cp)
            if gid is not None:
                break
        else:
            face, gid = self.primary, 0  # .notdef: drawn as a box, as a browser shows it
            self.doc.missing.add(ch)
        slot = self.doc.slot(face, ch, gid)
        found = self._char[ch] = (slot, gid, face.width(gid))
        return found

    def runs(self, text: str) -> tuple[tuple[Run, ...], float]:
        """``text`` as runs of one face each, and its advance in thousandths of an em."""
        hit = self._runs.get(text)
        if hit is not None:
            return hit
        chars, out, total = self._char, [], 0.0
        slot_now, width = -1, 0.0
        hexes: list[str] = []
        for ch in text:
            g = chars.get(ch) or self._glyph(ch)
            if g[0] != slot_now:
                if hexes:
                    out.append(Run(slot_now, "".join(hexes), width))
                slot_now, hexes, width = g[0], [], 0.0
            hexes.append(f"{g[1]:04x}")
            width += g[2]
        if hexes:
            out.append(Run(slot_now, "".join(hexes), width))
        total = sum(r.width for r in out)
        result = self._runs[text] = (tuple(out), total)
        return result

    def width(self, text: str, size: float) -> float:
        return self.runs(text)[1] * size / 1000


# Line breaking: a space, a CJK character or a word is one piece; closing punctuation stays
# with what it follows, opening punctuation with what follows it.
_CJK = "\u2e80-\u2fff\u3000-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
_NO_START = "、。，．：；！？）」』】〕〉》”’｝〗％%,.:;!?)]}·…ー～"
_NO_END = "（「『【〔〈《“‘｛〖([{"
_PIECE = re.compile(rf"[ ]+|[{re.escape(_NO_END)}]*(?:[{_CJK}]|[^ {_CJK}]+?(?=[ {_CJK}]|$))"
                    rf"[{re.escape(_NO_START)}]*")
_SPACES = re.compile(r"[ \t\n\r\f]+")


Span = tuple[str, TextStyle] | None  # a piece of text and its style; None: a line break (br)
Frame = tuple[float, float]  # the left edge and width a block is laid out in


@dataclass
class Piece:
    text: str
    style: TextStyle
    width: float
    space: bool = False


@dataclass
class Line:
    pieces: list[Piece] = field(default_factory=list)
    width: float = 0.0
    height: float = 0.0
    ascent: float = 0.0
