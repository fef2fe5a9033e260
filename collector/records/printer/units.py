"""What the paginator places (units, groups kept together, tables' repeated heads) and the drawing helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from collector.records.printer.style import PAGE_H, Color

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
