"""Query parameters the API and the pages both read; a bad one is a 422 that names it.

A neutral module: :mod:`collector.api` and :mod:`collector.web` import it, it imports neither.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from fastapi import HTTPException

from collector.archive import KINDS, ArchiveQuery
from collector.dates import DateError, check_time, parse_day
from collector.messages import date_said, tsay

__all__ = ["archive_query", "bad_query", "in_order", "parse_day_or_time"]


def bad_query(name: str, message: str) -> HTTPException:
    """422 naming the query parameter; ``message`` may be a keyed text (:func:`collector.messages.tsay`), which
    a page says in its reader's language."""
    return HTTPException(status_code=422, detail=[{"loc": ["query", name], "msg": message,
                                                   "type": "value_error"}])


def parse_day_or_time(name: str, value: str | None) -> date | datetime | None:
    """``YYYY-MM-DD`` (a whole day in the site's time zone) or an ISO-8601 time with an offset."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            return parse_day(text, name)
        dt = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except DateError as exc:
        raise bad_query(name, date_said(exc)) from None
    except ValueError:
        dt = None
    if dt is None or dt.tzinfo is None:
        raise bad_query(name, tsay("errors.date.day_or_time", where=name, got=repr(text[:40])))
    try:
        return check_time(dt, name)
    except DateError as exc:
        raise bad_query(name, date_said(exc)) from None


def in_order(start_name: str, start: date | datetime | None, end_name: str, end: date | datetime | None) -> None:
    """A range given backwards (``to`` before ``from``) is refused with a 422 naming both, not answered with an
    empty list that looks like "nothing happened".  A day and a time are compared by their days, a day's slack
    either way (the day is read in the site's time zone, the time has its own offset)."""
    if start is None or end is None:
        return
    if isinstance(start, datetime) == isinstance(end, datetime):
        backwards = end < start  # two days or two times
    else:
        first = start.date() if isinstance(start, datetime) else start
        last = end.date() if isinstance(end, datetime) else end
        backwards = last < first - timedelta(days=1)
    if backwards:
        raise bad_query(end_name, tsay("errors.date.order", start=start_name, start_got=start.isoformat(),
                                       end=end_name, end_got=end.isoformat()))


def archive_query(*, site: str | None, host: str | None, kinds: list[str], start: Any, end: Any,
                  current_only: bool, limit: int) -> ArchiveQuery:
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise bad_query("kind", f"expected {', '.join(KINDS)} (got {', '.join(unknown)})")
    in_order("from", start, "to", end)
    return ArchiveQuery(
        site=site or None, host=host or None, kinds=tuple(kinds),
        since=start if isinstance(start, datetime) else None,
        until=end if isinstance(end, datetime) else None,
        day_from=start if isinstance(start, date) and not isinstance(start, datetime) else None,
        day_to=end if isinstance(end, date) and not isinstance(end, datetime) else None,
        current_only=current_only, limit=limit)
