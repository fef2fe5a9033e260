"""The document: lays out blocks, paragraphs, columns and tables into units, and writes the PDF."""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, replace
from typing import NamedTuple

from collector.records import fonts
from collector.records.fonts import Face
from collector.records.printer.pdf import _pdf_string, _PdfWriter, _to_unicode
from collector.records.printer.style import (
    _HEADING,
    _HOST_ROWS_WIDTHS,
    _INLINE,
    BASE,
    BODY_W,
    MARGIN_BOTTOM,
    MARGIN_LEFT,
    PAGE_H,
    PAGE_W,
    PX,
    Box,
    Color,
    Node,
    TextStyle,
    _block_style,
    _cell_style,
    _color,
    _css_families,
    _inline_style,
)
from collector.records.printer.text import _PIECE, _SPACES, Frame, Line, Piece, Shaper, Span
from collector.records.printer.units import (
    Group,
    Item,
    Page,
    Table,
    Unit,
    _fill,
    _hline,
    _keep_headings,
    _last,
    _scale,
    _stroke_rect,
    _units,
)

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
