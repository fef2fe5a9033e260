"""Prints a record's HTML page as a PDF: the page's text, laid out on A4 landscape pages.

The record's page (``templates/record.html.j2``) is a simple document:
headings, paragraphs, tables (a header row, body rows, ``colspan``), line
breaks and a few inline elements (``strong``, ``small``).  This printer reads
that HTML and lays it out with the print rules of ``templates/record.css``
(``_inline_style``, ``_block_style`` and ``_cell_style`` below, class for
class), as WeasyPrint did before: a general CSS engine spent about 10 ms per
table row (335 s for 30,000 rows), this printer about 0.2 ms, because it
knows the few rules a record uses, measures text with the fonts' advance
widths and lays out each table as it is read (a 30,000-row record never has
more than one table in memory).  An element or class it has no rule for is
printed in the style of its parent: a new part of the page needs a rule here
only for a look of its own.

What it does, and how a browser would:

* every element of the body is printed, unknown ones as blocks (their text
  in the flow), so a section added to the template reaches the PDF without a
  change here; ``style``, ``script`` and ``title`` are not printed;
* fonts: the CSS ``font-family`` lists of ``record.css`` (``html`` for text,
  ``td.digest`` for digests and keys), each character in the first
  installed family that has it (:mod:`collector.records.fonts`); the fonts
  are embedded as subsets; bold without a bold face and italic are drawn
  synthetically (CJK fonts have neither);
* tables: ``table-layout: fixed`` tables take the widths of their first
  row, others are sized from their content (the CSS automatic layout:
  minimum and maximum content widths); a table's header row is repeated at
  the top of every page it continues on, a row is not split across pages
  unless it is taller than a page, a heading stays with what follows it and
  ``.signatures`` stays on one page when it fits on one;
* lines break at spaces and between CJK characters (not before closing or
  after opening punctuation); a word wider than its column is broken
  anywhere rather than drawn over its neighbour;
* the page foot: ``footer`` (the record number, digest and key id) at the
  left and ``N / M`` at the right of every page.

The output is deterministic (no dates, subset tags from the glyphs used):
the same HTML prints to the same bytes.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import logging
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import cache, lru_cache
from pathlib import Path
from typing import NamedTuple

from collector.records import fonts
from collector.records.fonts import Face, Family

__all__ = ["print_pdf"]

log = logging.getLogger(__name__)
_TEMPLATES = Path(__file__).resolve().parent / "templates"

# Geometry (points): A4 landscape, the margins of the template's @page rule.
MM = 72 / 25.4
PX = 0.75
PAGE_W, PAGE_H = 297 * MM, 210 * MM
MARGIN_TOP, MARGIN_RIGHT, MARGIN_BOTTOM, MARGIN_LEFT = 14 * MM, 12 * MM, 16 * MM, 12 * MM
BODY_W = PAGE_W - MARGIN_LEFT - MARGIN_RIGHT
BODY_TOP, BODY_BOTTOM = MARGIN_TOP, PAGE_H - MARGIN_BOTTOM
BODY_H = BODY_BOTTOM - BODY_TOP
BASE_SIZE = 8.5  # @media print { html { font-size: 8.5pt } }

Color = tuple[float, float, float]


@cache
def _color(hex_: str) -> Color:
    h = hex_.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    return int(h[0:2], 16) / 255, int(h[2:4], 16) / 255, int(h[4:6], 16) / 255


# --- HTML ----------------------------------------------------------------------------------------

_TOKEN = re.compile(r"<!--.*?-->|<!?/?([a-zA-Z][a-zA-Z0-9]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>|([^<]+)|<", re.S)
_ATTR = re.compile(r"([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'>]+)))?")
_VOID = frozenset({"br", "meta", "img", "hr", "input", "link", "col", "wbr", "base", "source"})
_SKIP = frozenset({"style", "script", "title", "template", "noscript"})


class Node:
    """An element: its tag, classes, attributes and children (elements and text)."""

    __slots__ = ("attrs", "children", "classes", "tag")

    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        self.tag = tag
        self.attrs = attrs
        self.classes = frozenset(attrs.get("class", "").split())
        self.children: list[Node | str] = []


# --- style: the print rules of record.css ---------------------------------------------------------

class TextStyle(NamedTuple):
    """What a piece of text inherits (CSS inherited properties)."""

    size: float
    bold: bool
    italic: bool
    mono: bool
    color: Color
    align: str  # left, right, center
    nowrap: bool
    break_all: bool


class Box(NamedTuple):
    """What a block-level element has of its own (CSS non-inherited properties)."""

    margin_top: float = 0.0
    margin_bottom: float = 0.0
    padding: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # top right bottom left
    border: float = 0.0  # all sides
    border_color: Color = (0, 0, 0)
    border_bottom: float = 0.0  # the bottom side only (h2)
    background: Color | None = None
    keep_together: bool = False
    keep_with_next: bool = False


BASE = TextStyle(BASE_SIZE, False, False, False, _color("#111"), "left", False, False)
_HEADING = {"h1": 17.0, "h2": 12.0, "h3": 10.5, "h4": BASE_SIZE, "h5": BASE_SIZE, "h6": BASE_SIZE}
_INLINE = frozenset({"strong", "b", "em", "i", "small", "span", "a", "code", "abbr", "time", "sub", "sup",
                     "u", "mark", "br", "label", "data", "q", "s", "kbd", "var", "samp", "cite", "bdi", "bdo"})
_ROW_BG = {"v-abnormal": "#fdecee", "v-warning": "#fff8e1", "v-no_data": "#f4f4f4"}
_VERDICT_COLOR = {"v-warning": "#9a6700", "v-abnormal": "#b00020", "v-no_data": "#555"}
_CELL_PADDING = (3 * PX, 5 * PX, 3 * PX, 5 * PX)
_HOST_ROWS_WIDTHS = (0.11, 0.20, 0.17, 0.09, 0.07)  # table.host-rows th:nth-child(1..5)


def _inline_style(parent: TextStyle, node: Node) -> TextStyle:
    tag = node.tag
    style = parent
    if tag in ("strong", "b"):
        style = style._replace(bold=True)
    elif tag in ("em", "i", "cite", "var"):
        style = style._replace(italic=True)
    elif tag == "small":
        style = style._replace(size=style.size / 1.2)
    elif tag in ("code", "kbd", "samp"):
        style = style._replace(mono=True)
    if "sla-breached" in node.classes:
        style = style._replace(color=_color("#b00020"), bold=True)
    return style


def _block_style(parent: TextStyle, node: Node, within: frozenset[str]) -> tuple[TextStyle, Box]:
    """The style of a block-level element; ``within`` holds the classes of its ancestors."""
    tag, cls = node.tag, node.classes
    text, box = parent, Box()
    if tag in _HEADING:
        size = 10.0 if tag == "h2" and "integrity" in within else _HEADING[tag]
        text = text._replace(size=size, bold=True)
        if tag == "h1":
            box = Box(margin_bottom=0.4 * size, keep_with_next=True)
        elif tag == "h2":
            box = Box(margin_top=1.2 * size, margin_bottom=0.4 * size, padding=(0, 0, 2 * PX, 0),
                      border_bottom=1 * PX, border_color=_color("#999"), keep_with_next=True)
        else:
            box = Box(margin_top=size, margin_bottom=size, keep_with_next=True)
    elif tag == "p":
        margin = 0.3 * text.size if "sign-line" in within else text.size
        box = Box(margin_top=margin, margin_bottom=margin)
        if "tampered" in cls:
            text = text._replace(size=12.0, bold=True, color=_color("#b00020"))
            box = box._replace(margin_top=12.0, margin_bottom=12.0, padding=(6.0,) * 4, border=3 * PX,
                               border_color=_color("#b00020"), keep_together=True)
        elif "digest-only" in cls:
            text = text._replace(color=_color("#333"))
            box = box._replace(padding=(0.5 * text.size,) * 4, border=2 * PX, border_color=_color("#777"),
                               keep_together=True)
        if cls & {"none", "note"}:
            text = text._replace(color=_color("#444"), italic=True)
        if "key" in cls and "integrity" in within:
            text = text._replace(mono=True, break_all=True)
    elif tag == "footer" and "integrity" in cls:
        text = text._replace(size=BASE_SIZE, color=_color("#333"))
        box = Box(margin_top=1.5 * BASE_SIZE)
    elif "sign-lines" in cls:
        box = Box(margin_top=1.5 * text.size)
    elif "signatures" in cls:
        box = Box(keep_together=True)
    elif tag in ("ul", "ol", "dl", "blockquote", "pre"):
        box = Box(margin_top=text.size, margin_bottom=text.size)
    return text, box


@lru_cache(maxsize=1024)
def _cell_style(parent: TextStyle, tag: str, cls: frozenset[str], row: frozenset[str], table: frozenset[str],
                first: bool) -> tuple[TextStyle, Box]:
    """``th``/``td`` (of the first column or not): table.meta, table.grid, td.num, td.verdict,
    td.digest, tr.v-* rules."""
    text = parent
    grid, meta = "grid" in table, "meta" in table
    background = None
    if tag == "th":
        text = text._replace(bold=True, align="left" if grid or meta else "center")
        background = _color("#e9eef4") if grid else _color("#f2f2f2") if meta else None
    else:
        verdict = next((c for c in row if c in _ROW_BG), None)
        if verdict is not None:
            background = _color(_ROW_BG[verdict])
        if "num" in cls:
            text = text._replace(align="right", nowrap=True)
        if "verdict" in cls:
            text = text._replace(nowrap=True, bold=True)
            if verdict is not None:
                text = text._replace(color=_color(_VERDICT_COLOR[verdict]))
        if "sla-breached" in cls:
            text = text._replace(color=_color("#b00020"), bold=True)
    if grid and first:
        text = text._replace(nowrap=True)
    if "digest" in cls:
        text = text._replace(mono=True, size=8.0, break_all=True)
    bordered = grid or meta
    return text, Box(padding=_CELL_PADDING if bordered else (PX,) * 4, border=PX if bordered else 0.0,
                     border_color=_color("#bbb"), background=background)


# --- fonts and text -------------------------------------------------------------------------------

_FAMILY_RULE = r"(?:^|\}})\s*{selector}\s*\{{[^}}]*?font-family:\s*([^;}}]+)"


@cache
def _css_families(selector: str) -> tuple[str, ...]:
    """The ``font-family`` list of ``selector``'s rule in record.css."""
    css = (_TEMPLATES / "record.css").read_text(encoding="utf-8")
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    m = re.search(_FAMILY_RULE.format(selector=re.escape(selector)), css, re.M)
    if m is None:
        raise fonts.FontsUnavailable(f"record.css names no font-family for {selector}")
    return tuple(name.strip().strip("\"'") for name in m.group(1).split(","))


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


# --- units: what the paginator places -----------------------------------------------------------

class Page:
    """One page's drawing operators."""

    def __init__(self) -> None:
        self.ops: list[str] = []


@dataclass
class Unit:
    """Something placed whole on a page: a line, a bordered paragraph, a table row."""

    height: float
    draw: Callable[[Page, float], None]
    margin_top: float = 0.0
    margin_bottom: float = 0.0
    keep_with_next: bool = False
    table: Table | None = None  # a body row: its table's header is repeated on a new page
    split: Callable[[float], tuple[Unit, Unit] | None] | None = None


@dataclass
class Group:
    """Units kept on one page when they fit on one (``page-break-inside: avoid``, a heading and what
    follows it, a table's header and first row)."""

    items: list[Unit | Group]
    keep_with_next: bool = False

    @property
    def height(self) -> float:
        total, pending = 0.0, 0.0
        for i, unit in enumerate(_units(self.items)):
            total += (max(pending, unit.margin_top) if i else 0.0) + unit.height
            pending = unit.margin_bottom
        return total

    @property
    def margin_top(self) -> float:
        first = next(_units(self.items), None)
        return first.margin_top if first else 0.0


Item = Unit | Group


def _units(items: list[Item]) -> Iterator[Unit]:
    for item in items:
        if isinstance(item, Group):
            yield from _units(item.items)
        else:
            yield item


@dataclass
class Table:
    head: list[Unit]


# --- the document ---------------------------------------------------------------------------------

class Document:
    """Lays out one HTML page and writes it as PDF."""

    def __init__(self) -> None:
        body = fonts.family_chain(_css_families("html"))
        mono = fonts.family_chain(_css_families("td.digest")) + body
        self.faces: list[Face] = []
        self.used: list[dict[int, str]] = []  # slot -> gid -> text (ToUnicode)
        self.missing: set[str] = set()
        self.shapers = {(m, b): Shaper(self, mono if m else body, b) for m in (False, True) for b in (False, True)}
        primary = body[0].regular
        self.line_factor = primary.ascent + primary.descent + primary.line_gap  # line-height: normal
        self.ascent_factor = primary.ascent + primary.line_gap / 2  # the baseline, half the gap above

    def slot(self, face: Face, ch: str, gid: int) -> int:
        i = next((n for n, known in enumerate(self.faces) if known is face), -1)
        if i < 0:
            self.faces.append(face)
            self.used.append({})
            i = len(self.faces) - 1
        self.used[i].setdefault(gid, ch)
        return i

    def shaper(self, style: TextStyle) -> Shaper:
        return self.shapers[(style.mono, style.bold)]

    # -- inline content --------------------------------------------------------------------------

    def inline(self, node: Node, style: TextStyle, out: list[Span]) -> None:
        """The text of ``node``'s children as (text, style) pieces; ``None`` is a forced line break."""
        for child in node.children:
            if isinstance(child, str):
                out.append((child, style))
            elif child.tag == "br":
                out.append(None)
            else:
                self.inline(child, _inline_style(style, child), out)

    def lines(self, spans: list[Span], width: float) -> list[Line]:
        """Collapse white space and break ``spans`` into lines of at most ``width`` points."""
        if len(spans) == 1 and spans[0] is not None:  # one run of text: the common cell
            text, style = spans[0]
            if "\n" in text or "  " in text or "\t" in text or text[:1] == " " or text[-1:] == " ":
                text = _SPACES.sub(" ", text).strip(" ")
            w = self.shaper(style).width(text, style.size)
            if w <= width or style.nowrap:
                line = Line([Piece(text, style, w)] if text else [], w)
                self._line_metrics(line, style)
                return [line]
        lines: list[Line] = []
        line = Line()
        last_style = BASE
        pending_space = False  # white space collapsing across spans
        at_start = True

        def finish() -> None:
            nonlocal line
            while line.pieces and line.pieces[-1].space:
                line.width -= line.pieces.pop().width
            self._line_metrics(line, last_style)
            lines.append(line)
            line = Line()

        for span in spans:
            if span is None:
                finish()
                pending_space, at_start = False, True
                continue
            raw, style = span
            last_style = style
            shaper = self.shaper(style)
            text = _SPACES.sub(" ", raw)
            if style.nowrap:  # one piece, white space around it collapsible
                core = text.strip(" ")
                pieces = [" "] * (text[:1] == " ") + [core] * bool(core) + [" "] * (len(text) > 1
                                                                                and text[-1:] == " ")
            elif style.break_all:
                pieces = list(text)
            else:
                pieces = _PIECE.findall(text) or ([text] if text else [])
            for part in pieces:
                if part[:1] == " ":
                    pending_space = not at_start
                    continue
                w = shaper.width(part, style.size)
                space_w = shaper.width(" ", style.size) if pending_space else 0.0
                if line.pieces and line.width + space_w + w > width:
                    finish()
                    pending_space, space_w = False, 0.0
                if pending_space and line.pieces:
                    line.pieces.append(Piece(" ", style, space_w, space=True))
                    line.width += space_w
                pending_space = False
                if w > width and not style.nowrap:  # wider than the column: break it anywhere
                    for ch in part:
                        cw = shaper.width(ch, style.size)
                        if line.pieces and line.width + cw > width:
                            finish()
                        line.pieces.append(Piece(ch, style, cw))
                        line.width += cw
                else:
                    line.pieces.append(Piece(part, style, w))
                    line.width += w
                at_start = False
        if line.pieces or not lines:
            finish()
        return lines

    def _line_metrics(self, line: Line, fallback: TextStyle) -> None:
        size = max((p.style.size for p in line.pieces), default=fallback.size)
        line.height = size * self.line_factor
        line.ascent = size * self.ascent_factor

    def draw_line(self, page: Page, line: Line, x: float, top: float, width: float, align: str) -> None:
        if not line.pieces:
            return
        if align == "right":
            x += width - line.width
        elif align == "center":
            x += (width - line.width) / 2
        baseline = PAGE_H - top - line.ascent
        ops = page.ops
        ops.append("BT")
        state: tuple[int, float, Color, bool] | None = None
        for piece in line.pieces:
            st = piece.style
            shaper = self.shaper(st)
            runs, _ = shaper.runs(piece.text)
            for run in runs:
                synth_bold = st.bold and not self.faces[run.slot].bold
                key = (run.slot, st.size, st.color, synth_bold)
                if key != state:
                    r, g, b = st.color
                    ops.append(f"/F{run.slot} {st.size:g} Tf {r:.3f} {g:.3f} {b:.3f} rg")
                    if synth_bold:
                        ops.append(f"2 Tr {st.size / 40:.3f} w {r:.3f} {g:.3f} {b:.3f} RG")
                    elif state is None or state[3]:
                        ops.append("0 Tr")
                    state = key
                skew = " 0.2126" if st.italic else " 0"
                ops.append(f"1 0{skew} 1 {x:.2f} {baseline:.2f} Tm <{run.hex}> Tj")
                x += run.width * st.size / 1000
        ops.append("ET")

    # -- blocks ----------------------------------------------------------------------------------

    def blocks(self, node: Node, style: TextStyle, within: frozenset[str], frame: Frame, out: list[Item]) -> None:
        """Lay out the children of a block-level ``node`` into ``out``; loose text forms paragraphs."""
        spans: list[Span] = []

        def flush() -> None:
            if None in spans or any(s is not None and s[0].strip() for s in spans):
                out.extend(self.paragraph(spans, style, Box(), frame))
            spans.clear()

        for child in node.children:
            if isinstance(child, str):
                spans.append((child, style))
            elif child.tag == "br":
                spans.append(None)
            elif child.tag in _INLINE:
                self.inline(child, _inline_style(style, child), spans)
            else:
                flush()
                self.block(child, style, within, frame, out)
        flush()

    def block(self, node: Node, parent: TextStyle, within: frozenset[str], frame: Frame, out: list[Item]) -> None:
        if node.tag == "table":
            out.extend(self.table(node, parent, frame))
            return
        style, box = _block_style(parent, node, within)
        inner = within | node.classes
        if (node.tag in _HEADING or node.tag == "p" or box.border or box.background) and not any(
                isinstance(c, Node) and c.tag not in _INLINE for c in node.children):
            spans: list[Span] = []
            self.inline(node, style, spans)
            out.extend(self.paragraph(spans, style, box, frame))
            return
        items: list[Item] = []
        if "sign-lines" in node.classes:
            items.append(self.columns(node, style, inner, box, frame))
        else:
            self.blocks(node, style, inner, frame, items)
            if items:
                first, last = next(_units(items)), _last(items)
                first.margin_top = max(first.margin_top, box.margin_top)
                last.margin_bottom = max(last.margin_bottom, box.margin_bottom)
        if box.keep_together and items:
            items = [Group(items)]
        out.extend(_keep_headings(items))

    def paragraph(self, spans: list[Span], style: TextStyle, box: Box, frame: Frame) -> list[Item]:
        """A block of text: one unit per line, or one unit for a bordered box (kept whole)."""
        pt, pr, pb, pl = box.padding
        inset = box.border
        x, width = frame
        text_x, text_w = x + inset + pl, width - 2 * inset - pl - pr
        lines = self.lines(spans, text_w)
        if box.border or box.background:
            height = sum(ln.height for ln in lines) + pt + pb + 2 * inset

            def draw_box(page: Page, top: float) -> None:
                if box.background is not None:
                    _fill(page, x, top, width, height, box.background)
                if box.border:
                    _stroke_rect(page, x + inset / 2, top + inset / 2, width - inset, height - inset,
                                 box.border, box.border_color)
                y = top + inset + pt
                for ln in lines:
                    self.draw_line(page, ln, text_x, y, text_w, style.align)
                    y += ln.height
            return [Unit(height, draw_box, box.margin_top, box.margin_bottom, box.keep_with_next)]
        units: list[Item] = []
        for i, ln in enumerate(lines):
            first, last = i == 0, i == len(lines) - 1
            lead = pt if first else 0.0
            tail = pb + box.border_bottom if last else 0.0

            def draw(page: Page, top: float, ln: Line = ln, lead: float = lead, last: bool = last) -> None:
                self.draw_line(page, ln, text_x, top + lead, text_w, style.align)
                if last and box.border_bottom:
                    y = top + lead + ln.height + pb + box.border_bottom / 2
                    _hline(page, x, x + width, y, box.border_bottom, box.border_color)
            units.append(Unit(lead + ln.height + tail, draw, box.margin_top if first else 0.0,
                              box.margin_bottom if last else 0.0))
        if box.keep_with_next and units:
            return [Group(units, keep_with_next=True)]
        return units

    def columns(self, node: Node, style: TextStyle, within: frozenset[str], box: Box, frame: Frame) -> Unit:
        """A flex row (``.sign-lines``): its children side by side, equal widths, a 3 em gap; kept whole."""
        kids = [c for c in node.children if isinstance(c, Node)]
        gap = 3 * style.size
        x, width = frame
        col_w = (width - gap * (len(kids) - 1)) / max(len(kids), 1)
        placed: list[tuple[float, Unit]] = []
        height = 0.0
        for k, kid in enumerate(kids):
            kid_style, _ = _block_style(style, kid, within)
            items: list[Item] = []
            self.blocks(kid, kid_style, within | kid.classes, (x + k * (col_w + gap), col_w), items)
            y, pending = 0.0, 0.0
            for i, unit in enumerate(_units(items)):
                y += max(pending, unit.margin_top) if i else 0.0
                placed.append((y, unit))
                y += unit.height
                pending = unit.margin_bottom
            height = max(height, y)

        def draw(page: Page, top: float) -> None:
            for y, unit in placed:
                unit.draw(page, top + y)
        return Unit(height, draw, box.margin_top, box.margin_bottom)

    # -- tables ----------------------------------------------------------------------------------

    def table(self, node: Node, parent: TextStyle, frame: Frame) -> list[Item]:
        """A table: the header rows and the first body row kept together, then one unit per row."""
        rows: list[tuple[Node, bool]] = []  # (tr, in thead)
        for child in node.children:
            if isinstance(child, Node):
                if child.tag in ("thead", "tbody", "tfoot"):
                    rows.extend((tr, child.tag == "thead") for tr in child.children
                                if isinstance(tr, Node) and tr.tag == "tr")
                elif child.tag == "tr":
                    rows.append((child, False))
        cells: list[list[_Source]] = []
        ncols = 0
        for tr, _ in rows:
            row_cells, col = [], 0
            for td in tr.children:
                if not isinstance(td, Node) or td.tag not in ("td", "th"):
                    continue
                try:
                    span = max(1, min(int(td.attrs.get("colspan", "1")), 1000))
                except ValueError:
                    span = 1
                style, box = _cell_style(parent, td.tag, td.classes, tr.classes, node.classes, col == 0)
                spans: list[Span] = []
                self.inline(td, style, spans)
                row_cells.append(_Source(td, col, span, style, box, spans))
                col += span
            ncols = max(ncols, col)
            cells.append(row_cells)
        if not ncols:
            return []
        x, width = frame
        widths = self._column_widths(node, cells, ncols, width)
        lefts = [x]
        for w in widths:
            lefts.append(lefts[-1] + w)
        table = Table(head=[])
        body: list[Unit] = []
        for (_, in_head), row_cells in zip(rows, cells, strict=True):
            laid = []
            for c in row_cells:
                _, pr, _, pl = c.box.padding
                left, right = lefts[c.col], lefts[min(c.col + c.span, ncols)]
                laid.append(_Cell(left, right - left, c.box, c.style, self.lines(c.spans, right - left - pl - pr)))
            unit = self._row(laid, None if in_head else table)
            (table.head if in_head else body).append(unit)
        all_rows = table.head + body
        if all_rows and "host-rows" in node.classes:
            all_rows[-1].margin_bottom = 4 * PX  # table.host-rows { margin-bottom: 4px }
        items: list[Item] = [Group([*table.head, *body[:1]])] if all_rows else []
        items.extend(body[1:])
        return items

    def _row(self, cells: list[_Cell], table: Table | None) -> Unit:
        height = max((c.height for c in cells), default=0.0)

        def draw(page: Page, top: float) -> None:
            for c in cells:
                if c.box.background is not None:
                    _fill(page, c.x, top, c.w, height, c.box.background)
            for c in cells:
                if c.box.border:
                    _stroke_rect(page, c.x, top, c.w, height, c.box.border, c.box.border_color)
            for c in cells:
                pt, pr, _, pl = c.box.padding
                y = top + pt
                for ln in c.lines:
                    self.draw_line(page, ln, c.x + pl, y, c.w - pl - pr, c.style.align)
                    y += ln.height

        def split(room: float) -> tuple[Unit, Unit] | None:
            """The lines that fit in ``room`` points, and the rest: for a row taller than a page."""
            heads, tails = [], []
            for c in cells:
                pt, _, pb, _ = c.box.padding
                y, cut = pt + pb, 0
                while cut < len(c.lines) and y + c.lines[cut].height <= room:
                    y += c.lines[cut].height
                    cut += 1
                heads.append(replace(c, lines=c.lines[:cut]))
                tails.append(replace(c, lines=c.lines[cut:]))
            if not any(h.lines for h in heads) or not any(t.lines for t in tails):
                return None
            return self._row(heads, table), self._row(tails, table)

        return Unit(height, draw, table=table, split=split)

    def _column_widths(self, node: Node, cells: list[list[_Source]], ncols: int, width: float) -> list[float]:
        if "host-rows" in node.classes:  # table-layout: fixed, the widths of the first row
            fixed = [width * f for f in _HOST_ROWS_WIDTHS[:ncols]]
            rest = (width - sum(fixed)) / max(ncols - len(fixed), 1)
            return fixed + [rest] * (ncols - len(fixed))
        lo, hi = [0.0] * ncols, [0.0] * ncols
        given: dict[int, float] = {}
        for row in cells:
            for c in row:
                if c.span != 1:
                    continue
                pad = c.box.padding[1] + c.box.padding[3] + c.box.border
                if c.node.tag == "th" and "meta" in node.classes:
                    given[c.col] = 9 * c.style.size + pad  # table.meta th { width: 9em }
                mn, mx = self._content_widths(c.spans)
                lo[c.col], hi[c.col] = max(lo[c.col], mn + pad), max(hi[c.col], mx + pad)
        for col, w in given.items():
            lo[col] = hi[col] = max(w, lo[col])
        free = [c for c in range(ncols) if c not in given]
        avail = width - sum(lo[c] for c in given)
        if not free:
            return _scale(lo, width)
        lo_f, hi_f = sum(lo[c] for c in free), sum(hi[c] for c in free)
        widths = list(lo)
        for col in free:
            if hi_f <= avail:  # every cell fits on one line: the rest shared in proportion to the content
                widths[col] = hi[col] + (avail - hi_f) * (hi[col] / hi_f if hi_f else 1 / len(free))
            elif lo_f <= avail:
                widths[col] = lo[col] + (avail - lo_f) * ((hi[col] - lo[col]) / (hi_f - lo_f))
            else:
                widths[col] = lo[col] * avail / lo_f if lo_f else avail / len(free)
        return widths

    def _content_widths(self, spans: list[Span]) -> tuple[float, float]:
        """(widest piece that cannot break, widest line) of a cell's content: CSS min/max-content."""
        mn, mx, line = 0.0, 0.0, 0.0
        for span in spans:
            if span is None:
                mx, line = max(mx, line), 0.0
                continue
            text, style = span
            text = _SPACES.sub(" ", text)
            shaper = self.shaper(style)
            line += shaper.width(text, style.size)
            if style.nowrap:
                parts = [text.strip(" ")]
            elif style.break_all:
                parts = list(set(text))
            else:
                parts = _PIECE.findall(text)
            mn = max(mn, max((shaper.width(p, style.size) for p in parts), default=0.0))
        return mn, max(mx, line)

    # -- PDF -------------------------------------------------------------------------------------

    def write(self, pages: list[bytes], footer: str, meta: dict[str, str]) -> bytes:
        """The PDF: each page's content (compressed), then its foot (the footer, ``N / M``), the fonts."""
        total = len(pages)
        foot_style = BASE._replace(size=6.5, color=_color("#555"), nowrap=True)
        num_style = BASE._replace(size=7.0, color=_color("#555"), nowrap=True)
        foot_lines = self.lines([(footer, foot_style)], BODY_W) if footer else []
        mid = PAGE_H - MARGIN_BOTTOM / 2
        feet = []
        for number in range(1, total + 1):
            foot = Page()
            for ln in foot_lines:
                self.draw_line(foot, ln, MARGIN_LEFT, mid - ln.height / 2, BODY_W, "left")
            label = self.lines([(f"{number} / {total}", num_style)], BODY_W)[0]
            self.draw_line(foot, label, MARGIN_LEFT, mid - label.height / 2, BODY_W, "right")
            feet.append(zlib.compress("\n".join(foot.ops).encode("latin-1"), 6))

        out = _PdfWriter()
        catalog, pages_ref, info = out.reserve(), out.reserve(), out.reserve()
        font_refs = [self._font(out, i) for i in range(len(self.faces))]
        fonts_dict = " ".join(f"/F{i} {ref} 0 R" for i, ref in enumerate(font_refs))
        kids = []
        for body, bottom in zip(pages, feet, strict=True):
            content, foot_ref = out.stream(body, packed=True), out.stream(bottom, packed=True)
            ref = out.add(f"<< /Type /Page /Parent {pages_ref} 0 R /MediaBox [0 0 {PAGE_W:.2f} {PAGE_H:.2f}] "
                          f"/Resources << /Font << {fonts_dict} >> >> /Contents [{content} 0 R {foot_ref} 0 R] >>")
            kids.append(f"{ref} 0 R")
        out.set(pages_ref, f"<< /Type /Pages /Count {len(kids)} /Kids [{' '.join(kids)}] >>")
        lang = f" /Lang {_pdf_string(meta['lang'])}" if meta.get("lang") else ""
        out.set(catalog, f"<< /Type /Catalog /Pages {pages_ref} 0 R{lang} >>")
        out.set(info, f"<< /Title {_pdf_string(meta.get('title', ''))} /Producer (Wardround) >>")
        return out.finish(catalog, info)

    def _font(self, out: _PdfWriter, slot: int) -> int:
        face, used = self.faces[slot], self.used[slot]
        program = fonts.subset(face, used)
        tag = "".join(chr(65 + b % 26) for b in hashlib.sha256(repr(sorted(used)).encode()).digest()[:6])
        name = f"{tag}+{face.postscript_family}"
        file_ref = out.stream(program, "/Subtype /OpenType" if face.cff else f"/Length1 {len(program)}")
        widths = []
        for gid in sorted(used):
            widths.append(f"{gid} [{face.width(gid):g}]")
        bbox = f"[0 {-face.descent * 1000:.0f} 1000 {face.ascent * 1000:.0f}]"
        descriptor = out.add(
            f"<< /Type /FontDescriptor /FontName /{name} /Flags 4 /FontBBox {bbox} /ItalicAngle 0 "
            f"/Ascent {face.ascent * 1000:.0f} /Descent {-face.descent * 1000:.0f} /CapHeight "
            f"{face.ascent * 1000:.0f} /StemV 80 /FontFile{3 if face.cff else 2} {file_ref} 0 R >>")
        cid = out.add(
            f"<< /Type /Font /Subtype /CIDFontType{0 if face.cff else 2} /BaseFont /{name} "
            f"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
            f"/FontDescriptor {descriptor} 0 R /W [{' '.join(widths)}]"
            f"{'' if face.cff else ' /CIDToGIDMap /Identity'} >>")
        to_unicode = out.stream(_to_unicode(used))
        return out.add(f"<< /Type /Font /Subtype /Type0 /BaseFont /{name} /Encoding /Identity-H "
                       f"/DescendantFonts [{cid} 0 R] /ToUnicode {to_unicode} 0 R >>")


class Paginator:
    """Places units on pages as they come: groups kept on one page where they fit on one, a heading
    with what follows it, a table's header repeated above its rows on a new page, a unit taller than a
    page split.  A finished page is kept compressed."""

    def __init__(self) -> None:
        self.pages: list[bytes] = []  # content streams, compressed
        self.page = Page()
        self.y, self.pending, self.top = BODY_TOP, 0.0, True
        self.held: Item | None = None  # an item to keep with the next one

    def margin(self, value: float) -> None:
        """A container's margin: collapses with the margins next to it."""
        if self.held is None:
            self.pending = max(self.pending, value)

    def add(self, item: Item) -> None:
        if self.held is not None:
            item = Group([self.held, item], keep_with_next=item.keep_with_next)
            self.held = None
        if item.keep_with_next:
            self.held = item
            return
        self._walk([item])

    def finish(self) -> list[bytes]:
        if self.held is not None:
            held, self.held = self.held, None
            self._walk([held])
        self.pages.append(zlib.compress("\n".join(self.page.ops).encode("latin-1"), 6))
        return self.pages

    def _new_page(self) -> None:
        self.pages.append(zlib.compress("\n".join(self.page.ops).encode("latin-1"), 6))
        self.page = Page()
        self.y, self.pending, self.top = BODY_TOP, 0.0, True

    def _gap(self, margin: float) -> float:
        return 0.0 if self.top else max(self.pending, margin)

    def _draw(self, unit: Unit) -> None:
        self.y += self._gap(unit.margin_top)
        unit.draw(self.page, self.y)
        self.y, self.pending, self.top = self.y + unit.height, unit.margin_bottom, False

    def _continued(self, unit: Unit) -> None:
        if self.top and unit.table is not None:
            for head in unit.table.head:
                self._draw(head)

    def _place(self, unit: Unit) -> None:
        room = BODY_BOTTOM - self.y - self._gap(unit.margin_top)
        if unit.height <= room:
            self._draw(unit)
            return
        if unit.height <= BODY_H or unit.split is None:  # to the next page, whole
            if not self.top:
                self._new_page()
                self._continued(unit)
            self._draw(unit)
            return
        parts = unit.split(room)
        if parts is None:
            if self.top:
                self._draw(unit)
                return
            self._new_page()
            self._continued(unit)
            self._place(unit)
            return
        self._draw(parts[0])
        self._new_page()
        self._continued(parts[1])
        self._place(parts[1])

    def _walk(self, items: list[Item]) -> None:
        for item in items:
            if isinstance(item, Group):
                height = item.height
                if not self.top and self.y + self._gap(item.margin_top) + height > BODY_BOTTOM \
                        and height <= BODY_H:
                    self._new_page()
                self._walk(item.items)
            else:
                self._place(item)


_CONTAINERS = frozenset({"body", "section", "header", "footer", "div", "main", "article", "aside", "nav"})


class _Open(NamedTuple):
    """An open element while reading: its style, its ancestors' classes and whether its children are
    laid out as soon as each is read (a container that is not kept whole)."""

    node: Node
    style: TextStyle
    within: frozenset[str]
    streams: bool


def _read(page: str, doc: Document, flow: Paginator) -> dict[str, str]:
    """Read ``page`` and lay out its body into ``flow`` as it is read: each block of a container is
    laid out when its end tag is read and then forgotten, so a record of 30,000 rows never holds
    more than one table in memory.  Returns the page's ``title`` and ``lang``.

    The page is the template's output (well formed, attributes quoted); an end tag with no open
    element of its name is ignored, an element left open is closed with its parent."""
    frame = (MARGIN_LEFT, BODY_W)
    stack = [_Open(Node("body", {}), BASE, frozenset(), True)]
    meta: dict[str, str] = {}
    skipping: str | None = None
    in_body = False
    title: list[str] = []

    def close(depth: int) -> None:
        """Close the open elements from ``depth`` up, innermost first."""
        while len(stack) > depth:
            done = stack.pop()
            parent = stack[-1]
            if done.streams:  # its blocks are laid out already: the loose text left, the margin
                loose(done)
                flow.margin(_block_style(parent.style, done.node, parent.within)[1].margin_bottom)
                parent.node.children.pop()
            elif parent.streams and done.node.tag not in _INLINE:
                parent.node.children.pop()
                loose(parent)
                items: list[Item] = []
                doc.block(done.node, parent.style, parent.within, frame, items)
                for item in items:
                    flow.add(item)

    def loose(open_: _Open) -> None:
        """Text (and inline elements) read in a container before a block: a paragraph of its own."""
        if open_.node.children:
            items: list[Item] = []
            doc.blocks(open_.node, open_.style, open_.within, frame, items)
            open_.node.children.clear()
            for item in items:
                flow.add(item)

    for m in _TOKEN.finditer(page):
        tag, rest, text = m.group(1), m.group(2), m.group(3)
        token = m.group(0)
        if text is not None:
            if skipping == "title":
                title.append(text)
            elif in_body and skipping is None:
                stack[-1].node.children.append(html_lib.unescape(text) if "&" in text else text)
            continue
        if tag is None or token.startswith("<!"):
            continue
        tag = tag.lower()
        if token.startswith("</"):
            if skipping is not None:
                if tag == skipping:
                    skipping = None
            elif tag == "body":
                close(1)
                in_body = False
            else:
                depth = next((d for d in range(len(stack) - 1, 0, -1) if stack[d].node.tag == tag), 0)
                if depth:
                    close(depth)
            continue
        if skipping is not None:
            continue
        attrs = {a.group(1).lower(): html_lib.unescape(a.group(2) or a.group(3) or a.group(4) or "")
                 for a in _ATTR.finditer(rest)} if rest.strip(" /") else {}
        if tag == "html":
            meta["lang"] = attrs.get("lang", "")
        elif tag == "body":
            in_body = True
        elif tag in _SKIP:
            if not rest.rstrip().endswith("/"):
                skipping = tag
        elif in_body:
            node = Node(tag, attrs)
            parent = stack[-1]
            if tag in _VOID or rest.rstrip().endswith("/"):
                parent.node.children.append(node)  # laid out with its parent's loose text
                continue
            streams, style, within = False, parent.style, parent.within
            if parent.streams and tag in _CONTAINERS:
                style, box = _block_style(parent.style, node, parent.within)
                streams = not (box.keep_together or box.border or box.background or "sign-lines" in node.classes)
                if streams:
                    loose(parent)
                    flow.margin(box.margin_top)
                within = parent.within | node.classes
            parent.node.children.append(node)
            stack.append(_Open(node, style, within, streams))
    close(1)
    loose(stack[0])
    meta["title"] = " ".join("".join(title).split())
    return meta


class _Source(NamedTuple):
    """A table cell as read: its element, column, colspan, style and text."""

    node: Node
    col: int
    span: int
    style: TextStyle
    box: Box
    spans: list[Span]


@dataclass
class _Cell:
    x: float
    w: float
    box: Box
    style: TextStyle
    lines: list[Line]

    @property
    def height(self) -> float:
        return sum(ln.height for ln in self.lines) + self.box.padding[0] + self.box.padding[2]


def _last(items: list[Item]) -> Unit:
    last = items[-1]
    while isinstance(last, Group):
        last = last.items[-1]
    return last


def _keep_headings(items: list[Item]) -> list[Item]:
    """A heading (keep-with-next) and the item after it become one group."""
    out: list[Item] = []
    for item in items:
        if out and out[-1].keep_with_next:
            prev = out.pop()
            out.append(Group([prev, item], keep_with_next=item.keep_with_next))
        else:
            out.append(item)
    return out


def _scale(widths: list[float], total: float) -> list[float]:
    s = sum(widths) or 1.0
    return [w * total / s for w in widths]


def _fill(page: Page, x: float, top: float, w: float, h: float, color: Color) -> None:
    page.ops.append(f"{color[0]:.3f} {color[1]:.3f} {color[2]:.3f} rg {x:.2f} {PAGE_H - top - h:.2f} "
                    f"{w:.2f} {h:.2f} re f")


def _stroke_rect(page: Page, x: float, top: float, w: float, h: float, width: float, color: Color) -> None:
    page.ops.append(f"{width:.2f} w {color[0]:.3f} {color[1]:.3f} {color[2]:.3f} RG {x:.2f} "
                    f"{PAGE_H - top - h:.2f} {w:.2f} {h:.2f} re S")


def _hline(page: Page, x0: float, x1: float, top: float, width: float, color: Color) -> None:
    page.ops.append(f"{width:.2f} w {color[0]:.3f} {color[1]:.3f} {color[2]:.3f} RG {x0:.2f} {PAGE_H - top:.2f} m "
                    f"{x1:.2f} {PAGE_H - top:.2f} l S")


def _shift(ops: list[str], dx: float) -> list[str]:
    return ["q", f"1 0 0 1 {dx:.2f} 0 cm", *ops, "Q"] if dx else ops


def _pdf_string(text: str) -> str:
    """A PDF text string: UTF-16BE with a byte-order mark, as hex."""
    return "<feff" + text.encode("utf-16-be").hex() + ">"


def _to_unicode(used: dict[int, str]) -> bytes:
    lines = ["/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
             "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
             "/CMapName /Adobe-Identity-UCS def", "/CMapType 2 def",
             "1 begincodespacerange", "<0000> <ffff>", "endcodespacerange"]
    items = sorted(used.items())
    for i in range(0, len(items), 100):
        chunk = items[i:i + 100]
        lines.append(f"{len(chunk)} beginbfchar")
        lines.extend(f"<{gid:04x}> <{ch.encode('utf-16-be').hex()}>" for gid, ch in chunk)
        lines.append("endbfchar")
    lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return "\n".join(lines).encode("ascii")


class _PdfWriter:
    """PDF objects numbered in order of reservation, written with a cross-reference table."""

    def __init__(self) -> None:
        self.objects: list[bytes | None] = []

    def reserve(self) -> int:
        self.objects.append(None)
        return len(self.objects)

    def set(self, ref: int, body: str) -> None:
        self.objects[ref - 1] = body.encode("latin-1")

    def add(self, body: str) -> int:
        ref = self.reserve()
        self.set(ref, body)
        return ref

    def stream(self, data: bytes, extra: str = "", packed: bool = False) -> int:
        """A stream object of ``data`` (already compressed when ``packed``)."""
        if not packed:
            data = zlib.compress(data, 6)
        ref = self.reserve()
        self.objects[ref - 1] = (f"<< /Length {len(data)} /Filter /FlateDecode {extra}>>\nstream\n"
                                 .encode("latin-1") + data + b"\nendstream")
        return ref

    def finish(self, root: int, info: int) -> bytes:
        parts = [b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"]
        offsets, at = [], len(parts[0])
        for number, body in enumerate(self.objects, 1):
            chunk = f"{number} 0 obj\n".encode("latin-1") + (body or b"null") + b"\nendobj\n"
            offsets.append(at)
            parts.append(chunk)
            at += len(chunk)
        xref = [f"xref\n0 {len(self.objects) + 1}\n", "0000000000 65535 f \n"]
        xref += [f"{o:010d} 00000 n \n" for o in offsets]
        parts.append("".join(xref).encode("latin-1"))
        parts.append(f"trailer\n<< /Size {len(self.objects) + 1} /Root {root} 0 R /Info {info} 0 R >>\n"
                     f"startxref\n{at}\n%%EOF\n".encode("latin-1"))
        return b"".join(parts)


def print_pdf(page: str, footer: str) -> bytes:
    """``page`` (a record's HTML) as PDF, ``footer`` at the foot of every page.

    Raises :class:`collector.records.fonts.FontsUnavailable` when no font named
    by record.css (or fontTools, or fontconfig) is installed."""
    doc, flow = Document(), Paginator()
    meta = _read(page, doc, flow)
    data = doc.write(flow.finish(), footer, meta)
    if doc.missing:
        log.warning("no installed font has a glyph for %d character(s) of a record (%s): printed as boxes",
                    len(doc.missing), ", ".join(f"U+{ord(c):04X}" for c in sorted(doc.missing)[:10]))
    return data
