"""``/api/v1/audit``: the audit log of people's actions, for admins.

``from``/``to``: a day (``YYYY-MM-DD``, whole days in the default policy's
time zone, both included) or an ISO-8601 time with an offset (``to``
exclusive); ``actor`` exactly; ``action`` exactly (``ticket.ack``) or a family
(``ticket``: every ``ticket.*``).  Newest first, ``limit`` per page; the
answer's ``next`` is the URL of the next (older) page, or null.  The chain
is checked with ``wardround-collector audit verify`` (:mod:`collector.audit`).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request

from collector import audit
from collector.api import JSON
from collector.api.deps import AdminDep
from collector.api.models import AuditList
from collector.api.openapi import errors
from collector.query_params import bad_query, in_order, parse_day_or_time
from collector.services import services
from collector.store.audit import AuditFilter
from collector.store.tables import MAX_ROW_ID

router = APIRouter()

MAX_LIMIT = 1000
_ACTION_RE = re.compile(r"[a-z][a-z_]*(\.[a-z][a-z_]*)?")  # fullmatch


def _instant(request: Request, value: date | datetime | None, *, end: bool) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    zone = services(request).policies.default.calendar.zone
    return datetime.combine(value + timedelta(days=1) if end else value, time(), zone).astimezone(UTC)


@router.get("/audit", response_class=JSON, response_model=AuditList, responses=errors(401, 403, 422, 503))
def list_audit(
    request: Request,
    _admin: AdminDep,
    date_from: Annotated[str | None, Query(alias="from")] = None,
    date_to: Annotated[str | None, Query(alias="to")] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=32)] = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> JSON:
    if action is not None and not _ACTION_RE.fullmatch(action):
        raise bad_query("action", "expected an action like ticket.ack or a family like ticket")
    start, end = parse_day_or_time("from", date_from), parse_day_or_time("to", date_to)
    in_order("from", start, "to", end)
    since, until = _instant(request, start, end=False), _instant(request, end, end=True)
    f = AuditFilter(since=since, until=until, actor=actor, action=action, before_seq=before, limit=limit)
    entries = audit.list_entries(services(request).engine, f)
    next_url = None
    if len(entries) == limit and entries[-1]["seq"] > 1:
        query = {k: v for k, v in request.query_params.items() if k != "before"}
        next_url = f"/api/v1/audit?{urlencode({**query, 'before': entries[-1]['seq']})}"
    return JSON({"entries": entries, "next": next_url})
