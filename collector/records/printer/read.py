"""Reading a page: tokens into open elements, each container's blocks laid out as its end tag is read, and
the paginator that places them on pages."""

from __future__ import annotations

import html as html_lib
import zlib
from typing import NamedTuple

from collector.records.printer.layout import Document
from collector.records.printer.style import (
    _ATTR,
    _INLINE,
    _SKIP,
    _TOKEN,
    _VOID,
    BASE,
    BODY_BOTTOM,
    BODY_H,
    BODY_TOP,
    BODY_W,
    MARGIN_LEFT,
    Node,
    TextStyle,
    _block_style,
)
from collector.records.printer.units import Group, Item, Page, Unit


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


class _Reader:
    """The state of reading one page (see :func:`_read`): the open elements, the page's meta, and
    whether the tokens are in the body or in an element that is not printed."""

    def __init__(self, doc: Document, flow: Paginator) -> None:
        self.doc, self.flow = doc, flow
        self.frame = (MARGIN_LEFT, BODY_W)
        self.stack = [_Open(Node("body", {}), BASE, frozenset(), True)]
        self.meta: dict[str, str] = {}
        self.skipping: str | None = None
        self.in_body = False
        self.title: list[str] = []

    def close(self, depth: int) -> None:
        """Close the open elements from ``depth`` up, innermost first."""
        stack, flow = self.stack, self.flow
        while len(stack) > depth:
            done = stack.pop()
            parent = stack[-1]
            if done.streams:  # its blocks are laid out already: the loose text left, the margin
                self.loose(done)
                flow.margin(_block_style(parent.style, done.node, parent.within)[1].margin_bottom)
                parent.node.children.pop()
            elif parent.streams and done.node.tag not in _INLINE:
                parent.node.children.pop()
                self.loose(parent)
                items: list[Item] = []
                self.doc.block(done.node, parent.style, parent.within, self.frame, items)
                for item in items:
                    flow.add(item)

    def loose(self, open_: _Open) -> None:
        """Text (and inline elements) read in a container before a block: a paragraph of its own."""
        if open_.node.children:
            items: list[Item] = []
            self.doc.blocks(open_.node, open_.style, open_.within, self.frame, items)
            open_.node.children.clear()
            for item in items:
                self.flow.add(item)

    def text(self, text: str) -> None:
        if self.skipping == "title":
            self.title.append(text)
        elif self.in_body and self.skipping is None:
            self.stack[-1].node.children.append(html_lib.unescape(text) if "&" in text else text)

    def end(self, tag: str) -> None:
        if self.skipping is not None:
            if tag == self.skipping:
                self.skipping = None
        elif tag == "body":
            self.close(1)
            self.in_body = False
        else:
            stack = self.stack
            depth = next((d for d in range(len(stack) - 1, 0, -1) if stack[d].node.tag == tag), 0)
            if depth:
                self.close(depth)

    def start(self, tag: str, rest: str) -> None:
        attrs = {a.group(1).lower(): html_lib.unescape(a.group(2) or a.group(3) or a.group(4) or "")
                 for a in _ATTR.finditer(rest)} if rest.strip(" /") else {}
        if tag == "html":
            self.meta["lang"] = attrs.get("lang", "")
        elif tag == "body":
            self.in_body = True
        elif tag in _SKIP:
            if not rest.rstrip().endswith("/"):
                self.skipping = tag
        elif self.in_body:
            node = Node(tag, attrs)
            parent = self.stack[-1]
            if tag in _VOID or rest.rstrip().endswith("/"):
                parent.node.children.append(node)  # laid out with its parent's loose text
                return
            streams, style, within = False, parent.style, parent.within
            if parent.streams and tag in _CONTAINERS:
                style, box = _block_style(parent.style, node, parent.within)
                streams = not (box.keep_together or box.border or box.background or "sign-lines" in node.classes)
                if streams:
                    self.loose(parent)
                    self.flow.margin(box.margin_top)
                within = parent.within | node.classes
            parent.node.children.append(node)
            self.stack.append(_Open(node, style, within, streams))

    def finish(self) -> dict[str, str]:
        self.close(1)
        self.loose(self.stack[0])
        self.meta["title"] = " ".join("".join(self.title).split())
        return self.meta


def _read(page: str, doc: Document, flow: Paginator) -> dict[str, str]:
    """Read ``page`` and lay out its body into ``flow`` as it is read: each block of a container is
    laid out when its end tag is read and then forgotten, so a record of 30,000 rows never holds
    more than one table in memory.  Returns the page's ``title`` and ``lang``.

    The page is the template's output (well formed, attributes quoted); an end tag with no open
    element of its name is ignored, an element left open is closed with its parent."""
    reader = _Reader(doc, flow)
    for m in _TOKEN.finditer(page):
        tag, rest, text = m.group(1), m.group(2), m.group(3)
        token = m.group(0)
        if text is not None:
            reader.text(text)
        elif tag is None or token.startswith("<!"):
            continue
        elif token.startswith("</"):
            reader.end(tag.lower())
        elif reader.skipping is None:
            reader.start(tag.lower(), rest)
    return reader.finish()
