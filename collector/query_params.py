"""Query parameters the API and the pages both read; a bad one is a 422 that names it.

A neutral module: :mod:`collector.api` and :mod:`collector.web` import it, it imports neither.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import HTTPException

from collector.archive import KINDS, ArchiveQuery
from collector.dates import DateError, check_time, parse_day

__all__ = ["archive_query", "bad_query", "parse_day_or_time"]


def bad_query(name: str, message: str) -> HTTPException:
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
        raise bad_query(name, str(exc)) from None
    except ValueError:
        dt = None
    if dt is None or dt.tzinfo is None:
        raise bad_query(name, "expected a day YYYY-MM-DD or an ISO-8601 time with an offset "
                               f"(got {text[:40]!r})")
    try:
        return check_time(dt, name)
    except DateError as exc:
        raise bad_query(name, str(exc)) from None


def archive_query(*, site: str | None, host: str | None, kinds: list[str], start: Any, end: Any,
                  current_only: bool, limit: int) -> ArchiveQuery:
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise bad_query("kind", f"expected {', '.join(KINDS)} (got {', '.join(unknown)})")
    return ArchiveQuery(
        site=site or None, host=host or None, kinds=tuple(kinds),
        since=start if isinstance(start, datetime) else None,
        until=end if isinstance(end, datetime) else None,
        day_from=start if isinstance(start, date) and not isinstance(start, datetime) else None,
        day_to=end if isinstance(end, date) and not isinstance(end, datetime) else None,
        current_only=current_only, limit=limit)
