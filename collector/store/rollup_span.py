"""Roll-ups: what a run of results adds up to (:class:`Span`), from raw results or from roll-up rows.

:mod:`collector.store.rollups` builds ``rollup_hours`` and ``rollup_days`` rows with it; a row read back
and given to :meth:`Span.add` holds exactly what it held when written, so results added to it later come
out as a rebuild from all the raw results would (same order of additions, same floating-point sums).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from checks.result import SEVERITY
from collector.store import compact

__all__ = ["SILENT_AFTER", "Span", "merge", "one"]

SILENT_AFTER = timedelta(minutes=15)  # a gap between results longer than this counts as silent
_US = timedelta(microseconds=1)
_SILENT_US = SILENT_AFTER // _US
_BAD = (1, 2)
_RANK = {int(s): r for s, r in SEVERITY.items()}


# -- one row from results, one span from rows -------------------------------------------------

@dataclass(slots=True)
class Span:
    """What a run of results (raw, or roll-up rows in time order) adds up to; :func:`merge` builds it."""

    results: int = 0
    ok: int = 0
    warning: int = 0
    critical: int = 0
    unknown: int = 0
    worst: int = 0
    first_at: datetime | None = None
    first_status: int = 0
    last_at: datetime | None = None
    last_status: int = 0
    went_bad: int = 0
    silent_us: int = 0
    longest_us: int = 0
    metrics: dict[str, list[float]] = field(default_factory=dict)  # name -> [min, max, sum, n]
    last_text_id: int = 0
    last_changed: str = ""
    bad_at: datetime | None = None
    bad_status: int | None = None
    bad_text_id: int | None = None
    bad_changed: str | None = None
    good_at: datetime | None = None
    good_text_id: int | None = None
    good_changed: str | None = None

    def add(self, r: Any, with_metrics: bool = True) -> None:
        """Add a roll-up row (or a one-result row) that comes after everything added so far."""
        if self.last_at is not None:
            gap = (r.first_at - self.last_at) // _US
            self.silent_us += max(gap - _SILENT_US, 0)
            self.longest_us = max(self.longest_us, gap)
        else:
            self.first_at, self.first_status = r.first_at, r.first_status
        self.went_bad += r.went_bad - (1 if r.first_status in _BAD and self.results and self.last_status in _BAD
                                       else 0)
        self.results += r.results
        self.ok, self.warning = self.ok + r.ok, self.warning + r.warning
        self.critical, self.unknown = self.critical + r.critical, self.unknown + r.unknown
        self.worst = self.worst if _RANK[self.worst] >= _RANK[r.worst] else r.worst
        self.silent_us += r.silent_us
        self.longest_us = max(self.longest_us, r.longest_us)
        self.last_at, self.last_status = r.last_at, r.last_status
        self.last_text_id, self.last_changed = r.last_text_id, r.last_changed
        if self.bad_at is None and r.bad_at is not None:
            self.bad_at, self.bad_status, self.bad_text_id, self.bad_changed = (
                r.bad_at, r.bad_status, r.bad_text_id, r.bad_changed)
        if r.good_at is not None:
            self.good_at, self.good_text_id, self.good_changed = r.good_at, r.good_text_id, r.good_changed
        for name, (lo, hi, total, n) in (_metrics(r.metrics) if with_metrics else {}).items():
            held = self.metrics.get(name)
            self.metrics[name] = [lo, hi, total, n] if held is None else [
                min(held[0], lo), max(held[1], hi), held[2] + total, held[3] + n]

    def row(self, series_id: int, start: datetime) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in self.__slots__ if name != "metrics"}
        values["metrics"] = orjson.dumps(self.metrics).decode() if self.metrics else ""
        return {"series_id": series_id, "start": start, **values}

    @property
    def bad(self) -> int:
        """Results that were not OK."""
        return self.results - self.ok


def _metrics(raw: Any) -> dict[str, list[float]]:
    if isinstance(raw, dict):
        return raw
    return orjson.loads(raw) if raw else {}


@dataclass(frozen=True, slots=True)
class _One:
    """One raw result seen as a roll-up row of itself."""

    first_at: datetime
    first_status: int
    last_at: datetime
    last_status: int
    worst: int
    went_bad: int
    ok: int
    warning: int
    critical: int
    unknown: int
    last_text_id: int
    last_changed: str
    bad_at: datetime | None
    bad_status: int | None
    bad_text_id: int | None
    bad_changed: str | None
    good_at: datetime | None
    good_text_id: int | None
    good_changed: str | None
    template: str | None  # the text template: its metrics are read only when asked for (a host row needs none)
    results: int = 1
    silent_us: int = 0
    longest_us: int = 0

    @property
    def metrics(self) -> dict[str, list[float]]:
        return _raw_metrics(self.template, self.last_changed) if self.template is not None else {}


def one(at: datetime, status: int, text_id: int, changed: str, template: str | None) -> _One:
    ok, warning, critical, unknown = (int(status == s) for s in range(4))
    bad = status != 0
    return _One(at, status, at, status, status, int(status in _BAD), ok, warning, critical, unknown, text_id, changed,
                at if bad else None, status if bad else None, text_id if bad else None, changed if bad else None,
                None if bad else at, None if bad else text_id, None if bad else changed, template)


def _raw_metrics(template: str, changed: str) -> dict[str, list[float]]:
    try:
        found = orjson.loads(compact.unpack(f"{template}\n{changed}", compact.TEXTS.index("metrics")) or "[]")
    except orjson.JSONDecodeError:
        return {}
    out: dict[str, list[float]] = {}
    for m in found if isinstance(found, list) else ():
        value = m.get("value") if isinstance(m, dict) else None
        if isinstance(m, dict) and isinstance(m.get("name"), str) and isinstance(value, int | float) \
                and not isinstance(value, bool):
            out[m["name"]] = [float(value), float(value), float(value), 1]
    return out


def merge(rows: Iterable[Any], *, with_metrics: bool = True) -> Span:
    """The span of roll-up rows (or raw ``_One`` rows) given in time order (metrics left out if asked)."""
    span = Span()
    for r in rows:
        span.add(r, with_metrics)
    return span
