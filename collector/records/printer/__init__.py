"""Prints a record's HTML page as a PDF: the page's text, laid out on A4 landscape pages.

The record's page (``templates/record.html.j2``) is a simple document:
headings, paragraphs, tables (a header row, body rows, ``colspan``), line
breaks and a few inline elements (``strong``, ``small``).  This printer reads
that HTML and lays it out with the print rules of ``templates/record.css``
(``_inline_style``, ``_block_style`` and ``_cell_style`` in :mod:`.style`, class
for class), as WeasyPrint did before: a general CSS engine spent about 10 ms per
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

import logging

from collector.records.printer.layout import Document
from collector.records.printer.read import Paginator, _read
from collector.records.printer.style import _css_families  # noqa: F401  (the font tests read it here)

__all__ = ["print_pdf"]

log = logging.getLogger(__name__)


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
