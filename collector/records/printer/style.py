"""The print rules of record.css, class for class: geometry, the HTML a page is read as, text and box styles,
the font-family lists."""

from __future__ import annotations

import re
from functools import cache, lru_cache
from pathlib import Path
from typing import NamedTuple

from collector.records import fonts

_TEMPLATES = Path(__file__).resolve().parents[1] / "templates"

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
