"""``/api/v1/archive``: the service archive of each site (visits, calls, changes, upgrades).

People read (any role); engineers and admins append.  The engineer recorded
on an entry is the person whose token logged it.  Rules live in
:mod:`collector.archive`; these handlers parse, authorise, call, answer.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from collector.api import JSON
from collector.api.body import read_json_object
from collector.api.deps import PersonDep, RowId, SettingsDep, require_role
from collector.api.models import ArchiveEntry, ArchiveEntryIn, ArchiveList
from collector.api.openapi import body, errors
from collector.archive import KINDS, Archive, ArchiveError, ArchiveQuery
from collector.auth import Person, Role
from collector.dates import DateError, check_time, parse_day

__all__ = ["router", "get_archive", "parse_day_or_time"]

router = APIRouter()

EngineerDep = Annotated[Person, Depends(require_role(Role.engineer))]
MAX_LIMIT = 5000


async def get_archive(request: Request) -> Archive:
    archive = getattr(request.app.state, "archive", None)
    if archive is None:
        archive = Archive(request.app.state.engine, request.app.state.tickets.policies,
                          keys=request.app.state.keys)
        request.app.state.archive = archive
    return archive


ArchiveDep = Annotated[Archive, Depends(get_archive)]


def _bad_query(name: str, message: str) -> HTTPException:
    return HTTPException(status_code=422, detail=[{"loc": ["query", name], "msg": message,
                                                   "type": "value_error"}])


def _error(exc: ArchiveError) -> HTTPException:
    return HTTPException(status_code=exc.status_code, detail=str(exc))


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
        raise _bad_query(name, str(exc)) from None
    except ValueError:
        dt = None
    if dt is None or dt.tzinfo is None:
        raise _bad_query(name, "expected a day YYYY-MM-DD or an ISO-8601 time with an offset "
                               f"(got {text[:40]!r})")
    try:
        return check_time(dt, name)
    except DateError as exc:
        raise _bad_query(name, str(exc)) from None


def archive_query(*, site: str | None, host: str | None, kinds: list[str], start: Any, end: Any,
                  current_only: bool, limit: int) -> ArchiveQuery:
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise _bad_query("kind", f"expected {', '.join(KINDS)} (got {', '.join(unknown)})")
    return ArchiveQuery(
        site=site or None, host=host or None, kinds=tuple(kinds),
        since=start if isinstance(start, datetime) else None,
        until=end if isinstance(end, datetime) else None,
        day_from=start if isinstance(start, date) and not isinstance(start, datetime) else None,
        day_to=end if isinstance(end, date) and not isinstance(end, datetime) else None,
        current_only=current_only, limit=limit)


@router.get("/archive", response_class=JSON, response_model=ArchiveList, responses=errors(401, 403, 422, 503))
def list_entries(
    _person: PersonDep,
    archive: ArchiveDep,
    site: str | None = None,
    host: str | None = None,
    kind: Annotated[list[str] | None, Query()] = None,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    current: bool = False,
    limit: int = Query(500, ge=1, le=MAX_LIMIT),
) -> JSON:
    kinds = [v.strip() for raw in kind or [] for v in raw.split(",") if v.strip()]
    q = archive_query(site=site, host=host, kinds=kinds, start=parse_day_or_time("from", from_),
                      end=parse_day_or_time("to", to), current_only=current, limit=limit)
    return JSON({"entries": archive.list(q)})


@router.get("/archive/{entry_id}", response_class=JSON, response_model=ArchiveEntry,
            responses=errors(401, 403, 404, 422, 503))
def get_entry(entry_id: RowId, _person: PersonDep, archive: ArchiveDep) -> JSON:
    try:
        return JSON(archive.get(entry_id))
    except ArchiveError as exc:
        raise _error(exc) from exc


@router.post("/archive", response_class=JSON, response_model=ArchiveEntry, status_code=201,
             responses=errors(401, 403, 409, 413, 415, 422, 503), openapi_extra=body(ArchiveEntryIn))
async def add_entry(request: Request, person: EngineerDep, archive: ArchiveDep,
                    settings: SettingsDep) -> JSON:
    doc = await read_json_object(request, settings.max_body_bytes)
    try:
        entry = await run_in_threadpool(archive.add, doc, engineer=person.name)
    except ArchiveError as exc:
        raise _error(exc) from exc
    return JSON(entry, status_code=201)
