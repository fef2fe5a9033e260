"""``/api/v1/records``: issued inspection records, their renderings, sign-off and verification.

Viewers read; engineers (and admins) issue and sign.  ``GET
/records/{id}`` answers JSON; ``{id}.html``, ``{id}.pdf`` and ``{id}.csv``
are the renderings (PDF and CSV as attachments).  Rules live in
:mod:`collector.records.service`; these handlers parse, authorise, call, answer.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from checks.messages.reader import cli_said
from collector.api import JSON
from collector.api.body import fields_missing, fields_unknown, read_json_object
from collector.api.deps import PersonDep, RecordsDep, RowId, SettingsDep, require_role
from collector.api.models import RecordFull, RecordIssue, RecordList, RecordSign, RecordSummary, Verification
from collector.api.openapi import body, errors
from collector.auth import Person, Role
from collector.dates import DateError, parse_day
from collector.messages import date_said
from collector.query_params import bad_query, in_order
from collector.records import render
from collector.records.model import KINDS
from collector.records.service import RecordNotFound
from collector.store.records import RecordFilter

router = APIRouter()

EngineerDep = Annotated[Person, Depends(require_role(Role.engineer))]
MAX_LIMIT = 1000
_REF_RE = re.compile(r"^(\d{1,18})(?:\.(json|html|pdf|csv))?$")
_ISSUE_FIELDS = {"site", "kind", "period", "date", "language", "inspector"}


@router.get("/records", response_class=JSON, response_model=RecordList, responses=errors(401, 403, 422, 503))
def list_records(
    _person: PersonDep,
    records: RecordsDep,
    site: str | None = None,
    kind: Annotated[list[str] | None, Query()] = None,
    date_from: Annotated[str | None, Query(alias="from")] = None,
    date_to: Annotated[str | None, Query(alias="to")] = None,
    limit: int = Query(200, ge=1, le=MAX_LIMIT),
) -> JSON:
    kinds = [k.strip() for raw in kind or [] for k in raw.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise bad_query("kind", f"expected {', '.join(KINDS)} (got {', '.join(unknown)[:80]})")
    days = {}
    for name, value in (("from", date_from), ("to", date_to)):
        if value is not None:
            try:
                days[name] = parse_day(value, name)
            except DateError as exc:
                raise bad_query(name, date_said(exc)) from None
    in_order("from", days.get("from"), "to", days.get("to"))
    f = RecordFilter(site=site, kinds=tuple(kinds), date_from=date_from, date_to=date_to, limit=limit)
    return JSON({"records": records.list(f)})


@router.post("/records", response_class=JSON, response_model=RecordFull, status_code=201,
             responses=errors(401, 403, 413, 415, 422, 503), openapi_extra=body(RecordIssue))
async def issue_record(request: Request, person: EngineerDep, records: RecordsDep,
                       settings: SettingsDep) -> JSON:
    doc = await read_json_object(request, settings.max_body_bytes)
    missing = [k for k in ("site", "kind") if k not in doc]
    if missing:
        raise fields_missing(missing)
    unknown = sorted(set(doc) - _ISSUE_FIELDS)
    if unknown:
        raise fields_unknown(unknown, cap=200)
    if "date" in doc and "period" in doc:
        raise HTTPException(status_code=422, detail=cli_said("cli.refusal.period_or_date", a="period", b="date"))
    period = doc.get("period", doc.get("date"))
    record = await run_in_threadpool(lambda: records.issue(
        site=doc["site"], kind=doc["kind"], period=period, language=doc.get("language"),
        inspector=doc.get("inspector"), actor=person.name))
    return JSON(record.to_json(), status_code=201)


def _filename(record: Any, ext: str) -> str:
    return f"record-{record.id}-{record.kind}-{record.period_from}.{ext}"


@router.get("/records/{ref}", response_class=JSON, response_model=RecordFull,
            responses={200: {"description": "`{id}` or `{id}.json`: the record; `{id}.html`, `{id}.pdf`, "
                                            "`{id}.csv`: its renderings (PDF and CSV as attachments)",
                             "content": {"text/html": {"schema": {"type": "string"}},
                                         "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                                         "text/csv": {"schema": {"type": "string"}}}},
                       **errors(401, 403, 404, 503)})
def get_record(ref: str, _person: PersonDep, records: RecordsDep) -> Response:
    m = _REF_RE.match(ref)
    if m is None:
        raise RecordNotFound(f"no record {ref[:40]!r}: expected /records/ID or ID.html, ID.pdf, ID.csv")
    record = records.get(int(m.group(1)))
    fmt = m.group(2) or "json"
    headers = {"X-Record-Digest": record.digest, "X-Record-Verified": "true" if record.verified else "false"}
    if fmt == "json":
        return JSON(record.to_json(), headers=headers)
    if fmt == "html":
        return HTMLResponse(render.html(record), headers=headers)
    if fmt == "pdf":
        headers["Content-Disposition"] = f'attachment; filename="{_filename(record, "pdf")}"'
        return Response(render.pdf(record), media_type="application/pdf", headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="{_filename(record, "csv")}"'
    return Response(render.csv_bytes(record), media_type="text/csv; charset=utf-8", headers=headers)


@router.post("/records/{record_id}/sign", response_class=JSON, response_model=RecordSummary, status_code=201,
             responses=errors(401, 403, 404, 413, 415, 422, 503), openapi_extra=body(RecordSign))
async def sign_record(record_id: RowId, request: Request, person: EngineerDep, records: RecordsDep,
                      settings: SettingsDep) -> JSON:
    doc = await read_json_object(request, settings.max_body_bytes)
    unknown = sorted(set(doc) - {"signer", "role", "note"})
    if unknown:
        raise fields_unknown(unknown, cap=200)
    missing = [k for k in ("signer", "role") if k not in doc]
    if missing:
        raise fields_missing(missing)
    record = await run_in_threadpool(lambda: records.sign(record_id, signer=doc["signer"], role=doc["role"],
                                                          note=doc.get("note"), actor=person.name))
    return JSON(record.summary(), status_code=201)


@router.get("/records/{record_id}/verify", response_class=JSON, response_model=Verification,
            responses=errors(401, 403, 404, 422, 503))
def verify_record(record_id: RowId, _person: PersonDep, records: RecordsDep) -> JSON:
    return JSON(records.verify(record_id))
