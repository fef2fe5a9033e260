"""``/api/v1/archive``: the service archive of each site (visits, calls, changes, upgrades).

People read (any role); engineers and admins append.  The engineer recorded
on an entry is the person whose token logged it.  Rules live in
:mod:`collector.archive`; these handlers parse, authorise, call, answer.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from collector.api import JSON
from collector.api.body import read_json_object
from collector.api.deps import ArchiveDep, PersonDep, RowId, SettingsDep, require_role
from collector.api.models import ArchiveEntry, ArchiveEntryIn, ArchiveList
from collector.api.openapi import body, errors
from collector.auth import Person, Role
from collector.query_params import archive_query, parse_day_or_time

__all__ = ["router"]

router = APIRouter()

EngineerDep = Annotated[Person, Depends(require_role(Role.engineer))]
MAX_LIMIT = 5000


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
    return JSON(archive.get(entry_id))  # ArchiveError: the app's ServiceError handler answers


@router.post("/archive", response_class=JSON, response_model=ArchiveEntry, status_code=201,
             responses=errors(401, 403, 409, 413, 415, 422, 503), openapi_extra=body(ArchiveEntryIn))
async def add_entry(request: Request, person: EngineerDep, archive: ArchiveDep,
                    settings: SettingsDep) -> JSON:
    doc = await read_json_object(request, settings.max_body_bytes)
    entry = await run_in_threadpool(archive.add, doc, engineer=person.name)
    return JSON(entry, status_code=201)
