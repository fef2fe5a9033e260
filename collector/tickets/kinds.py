"""The kinds of ticket rule, each declared by its own module; the sweep and the docs read this registry.

A ticket rule kind is one way tickets open, escalate or resolve without a person: the results'
mapping rules (:mod:`collector.tickets.rules`, run by ingest) and the sweep's rules (missed
deadlines, a silent relay, a silent agent), run by the scheduler in their ``order``.

Every module of this package that declares ``KIND = RuleKind(...)`` is a kind: its name, the
tickets it opens, the policy settings it reads with their defaults, one line for people (the
"Ticket rules" table of docs/tickets.md; ``tests/collector/test_ticket_kinds.py`` compares
them) and, for a sweep rule, the function the sweep calls.  A new kind is one new module here
(copy :mod:`collector.tickets.silent`) and its row in docs/tickets.md; nothing else lists kinds.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from collector.tickets.model import SweepReport

if TYPE_CHECKING:
    from collector.tickets import Tickets

__all__ = ["RuleKind", "SweepRun", "kinds"]


@dataclass
class SweepRun:
    """What one sweep did so far, and what its earlier rules tell the later ones."""

    breaches: int = 0
    escalations: int = 0
    silent_opened: int = 0
    silent_reopened: int = 0
    hidden: set[tuple[str, str]] = field(default_factory=set)  # (site, host) behind a silent relay

    def report(self) -> SweepReport:
        return SweepReport(self.breaches, self.escalations, self.silent_opened, self.silent_reopened)


@dataclass(frozen=True, slots=True)
class RuleKind:
    name: str
    opens: str  # check/item of the tickets it opens ("the result's": the results' own)
    settings: str  # the policy settings it reads, with their defaults
    doc: str  # what it does, for people (its row in docs/tickets.md)
    sweep: Callable[[Tickets, datetime, SweepRun], None] | None = None  # None: not run by the sweep
    order: int = 0  # the sweep runs smaller first


@functools.cache
def kinds() -> tuple[RuleKind, ...]:
    """Every kind declared in this package, in sweep order (then by name)."""
    package = importlib.import_module(__package__ or "collector.tickets")
    found: list[RuleKind] = []
    for info in pkgutil.iter_modules(package.__path__):
        kind = getattr(importlib.import_module(f"{package.__name__}.{info.name}"), "KIND", None)
        if isinstance(kind, RuleKind):
            found.append(kind)
    return tuple(sorted(found, key=lambda k: (k.order, k.name)))
