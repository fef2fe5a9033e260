"""The kinds of inspection record, declared once: everything else reads this table.

A kind says where its builder lives (the module registers the builder with
:func:`collector.records.kinds.register` when imported; :func:`collector.records.kinds.builder`
imports it on first use), which period a record of it covers (the one containing a given day,
in the site's time zone), the catalogue key of its title (both ``collector/records/i18n``
catalogues hold it) and when it is issued unless a site's policy says otherwise (a cron in the
site's time zone).  The record model's ``KINDS``, the policy's schedule defaults, the API's
``RecordKind`` and the page's kind filter are this table's names.

A leaf module (standard library only), so the policy reads it without importing the records.
To add a kind: a row here, its builder module, its ``title.<kind>`` in both catalogues.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

__all__ = ["BY_NAME", "NAMES", "RecordKind"]


def _day(day: date) -> tuple[date, date]:
    return day, day


def _week(day: date) -> tuple[date, date]:
    first = day - timedelta(days=day.weekday())
    return first, first + timedelta(days=6)


def _months(n: int) -> Callable[[date], tuple[date, date]]:
    """Periods of ``n`` months starting in January (1: months, 3: quarters, 12: years)."""
    def period(day: date) -> tuple[date, date]:
        first = day.replace(month=(day.month - 1) // n * n + 1, day=1)
        y, m = divmod(first.month - 1 + n, 12)
        return first, date(first.year + y, m + 1, 1) - timedelta(days=1)
    return period


@dataclass(frozen=True, slots=True)
class RecordKind:
    name: str
    module: str  # where the builder lives; it registers itself when imported
    period: Callable[[date], tuple[date, date]]  # the first and last day of the period containing a day
    schedule: str  # the default cron (site's time zone): the last complete period is issued at its fire time

    @property
    def title_key(self) -> str:
        return f"title.{self.name}"


_PATROL, _ANNUAL = "collector.records.patrol", "collector.records.annual"
BY_NAME: dict[str, RecordKind] = {k.name: k for k in (
    RecordKind("daily", _PATROL, _day, "30 7 * * *"),
    RecordKind("weekly", _PATROL, _week, "0 8 * * 1"),
    RecordKind("monthly", _PATROL, _months(1), "0 8 1 * *"),
    RecordKind("quarterly", _PATROL, _months(3), "0 8 1 1,4,7,10 *"),
    RecordKind("annual", _ANNUAL, _months(12), "0 8 2 1 *"),
)}
NAMES: tuple[str, ...] = tuple(BY_NAME)  # in this order everywhere (API enum, pages, policy check)
