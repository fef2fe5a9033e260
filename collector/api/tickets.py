"""``/api/v1/tickets``: read the ticket queue, open tickets by hand, move them along, follow them up.

Viewers read; engineers and admins write.  ``?followup=waiting`` lists the
resolved tickets still waiting for their customer follow-up (``overdue``:
past its due time), soonest due first.  The actor recorded in a ticket's
history is the person whose token made the request.  Rules live in
:mod:`collector.tickets`; these handlers parse, authorise, call, answer.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from collector.api import JSON
from collector.api.body import fields_missing, fields_unknown, read_json_object
from collector.api.deps import PersonDep, RowId, SettingsDep, TicketsDep, require_role
from collector.api.models import (
    Ticket,
    TicketFollowedUp,
    TicketFollowup,
    TicketList,
    TicketNote,
    TicketOpen,
    TicketWithHistory,
)
from collector.api.openapi import body, errors
from collector.auth import Person, Role
from collector.followups import LIST_FILTERS
from collector.query_params import bad_query
from collector.store.tickets import TicketFilter
from collector.tickets import STATES

router = APIRouter()

EngineerDep = Annotated[Person, Depends(require_role(Role.engineer))]
MAX_LIMIT = 5000
FOLLOWUP_FIELDS = ("satisfaction", "contact", "note")


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for raw in values or [] for v in raw.split(",") if v.strip()]


@router.get("/tickets", response_class=JSON, response_model=TicketList, responses=errors(401, 403, 422, 503))
def list_tickets(
    _person: PersonDep,
    tickets: TicketsDep,
    state: Annotated[list[str] | None, Query()] = None,
    severity: Annotated[list[str] | None, Query()] = None,
    site: str | None = None,
    host: str | None = None,
    followup: Annotated[str | None, Query(description="waiting: resolved tickets still waiting for their "
                                                      "customer follow-up; overdue: of those, the ones past "
                                                      "followup_due")] = None,
    limit: int = Query(500, ge=1, le=MAX_LIMIT),
) -> JSON:
    if followup is not None and followup not in LIST_FILTERS:
        raise bad_query("followup", f"expected {' or '.join(LIST_FILTERS)} (got {followup[:20]!r})")
    states = _split(state)
    unknown = [s for s in states if s not in STATES]
    if unknown:
        raise bad_query("state", f"expected {', '.join(STATES)} (got {', '.join(unknown)})")
    severities = []
    for s in _split(severity):
        if not s.isdigit() or not 1 <= int(s) <= 4:
            raise bad_query("severity", f"expected 1-4 (got {s!r})")
        severities.append(int(s))
    f = TicketFilter(states=tuple(states), site=site, host=host, severities=tuple(severities), limit=limit)
    if followup is not None:
        if any(s != "resolved" for s in states):
            raise bad_query("state", "a ticket waiting for its follow-up is resolved: leave state out")
        return JSON({"tickets": tickets.waiting_followups(f, overdue_only=followup == "overdue")})
    return JSON({"tickets": tickets.list(f)})


@router.get("/tickets/{ticket_id}", response_class=JSON, response_model=TicketWithHistory,
            responses=errors(401, 403, 404, 422, 503))
def get_ticket(ticket_id: RowId, _person: PersonDep, tickets: TicketsDep) -> JSON:
    return JSON(tickets.get(ticket_id))


@router.post("/tickets", response_class=JSON, response_model=Ticket, status_code=201,
             responses={200: {"model": Ticket, "description": "a ticket for the same problem was live: it counts "
                                                              "one more occurrence"},
                        **errors(401, 403, 413, 415, 422, 503)},
             openapi_extra=body(TicketOpen))
async def open_ticket(request: Request, person: EngineerDep, tickets: TicketsDep,
                      settings: SettingsDep) -> JSON:
    doc = await read_json_object(request, settings.max_body_bytes)
    missing = [k for k in ("site", "host", "severity", "summary", "reported_via") if k not in doc]
    if missing:
        raise fields_missing(missing)
    unknown = sorted(set(doc) - {"site", "host", "severity", "summary", "reported_via", "check", "item",
                                 "note"})
    if unknown:
        raise fields_unknown(unknown)
    ticket, created = await run_in_threadpool(
        lambda: tickets.open_manual(actor=person.name, site=doc["site"], host=doc["host"],
                                    severity=doc["severity"], summary=doc["summary"],
                                    reported_via=doc["reported_via"], check=doc.get("check"),
                                    item=doc.get("item"), note=doc.get("note")))
    return JSON(ticket, status_code=201 if created else 200)


@router.post("/tickets/{ticket_id}/followup", response_class=JSON, response_model=TicketFollowedUp,
             status_code=201, responses=errors(401, 403, 404, 409, 413, 415, 422, 503),
             openapi_extra=body(TicketFollowup))
async def ticket_followup(ticket_id: RowId, request: Request, person: EngineerDep, tickets: TicketsDep,
                          settings: SettingsDep) -> JSON:
    """The customer follow-up (回访) of a resolved ticket: ``satisfaction`` 1-5, ``contact``, ``note``."""
    doc = await read_json_object(request, settings.max_body_bytes)
    unknown = sorted(set(doc) - set(FOLLOWUP_FIELDS))
    if unknown:
        raise fields_unknown(unknown, expected=tuple(FOLLOWUP_FIELDS))
    ticket = await run_in_threadpool(lambda: tickets.follow_up(
        ticket_id, person.name, satisfaction=doc.get("satisfaction"), contact=doc.get("contact"),
        note=doc.get("note")))
    return JSON(ticket, status_code=201)


def _note(doc: dict[str, Any]) -> Any:
    return doc.get("note", doc.get("text"))


def _lifecycle_route(path: str, method: str) -> None:
    """``POST /tickets/{id}/<path>``: body ``{"note": ...}`` (or ``text``), optional except for comments."""

    async def handler(ticket_id: RowId, request: Request, person: EngineerDep, tickets: TicketsDep,
                      settings: SettingsDep) -> JSON:
        doc = await read_json_object(request, settings.max_body_bytes, optional=True)
        call = getattr(tickets, method)
        return JSON(await run_in_threadpool(call, ticket_id, person.name, _note(doc)))

    handler.__name__ = f"ticket_{path}"
    router.add_api_route(f"/tickets/{{ticket_id}}/{path}", handler, methods=["POST"], response_class=JSON,
                         response_model=Ticket, responses=errors(401, 403, 404, 409, 413, 415, 422, 503),
                         openapi_extra=body(TicketNote, required=path == "comments"))


for _path, _method in (("ack", "acknowledge"), ("resolve", "resolve"), ("close", "close"),
                       ("onsite", "request_onsite"), ("comments", "comment")):
    _lifecycle_route(_path, _method)
