"""``/api/v1/results``: agents post batches, people read what was stored."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

from fastapi import APIRouter, HTTPException, Query, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from checks.messages.reader import cli_said
from checks.result import ResultError, parse_time
from collector import relays, views
from collector.api import JSON, RETRY_AFTER_S
from collector.api.body import gunzip, read_sent_body, too_large, whole_body
from collector.api.deps import EngineDep, PersonDep, bearer_token, principal_of, rotation_headers, sender_of
from collector.api.models import IngestAnswer, ResultBatch, ResultList
from collector.api.openapi import body, errors
from collector.auth import Agent
from collector.dates import DateError, check_time
from collector.ingest import Ingestor, Outcome
from collector.query_params import bad_query, in_order
from collector.services import services
from collector.store.db import REQUESTS

router = APIRouter()

#: the agents' batches: :func:`answer_batch` answers them in front of FastAPI's routing (collector/app.py)
PATH = "/api/v1/results"


@router.post("/results", response_class=JSON, response_model=IngestAnswer,
             responses=errors(401, 403, 413, 415, 422, 503), openapi_extra=body(ResultBatch))
async def post_results(request: Request) -> JSON:
    """An agent's or a relay's batch: documented here; :func:`answer_batch` takes them before routing."""
    return await accept_batch(request)


async def answer_batch(scope: Scope, receive: Receive, send: Send) -> None:
    """``POST /api/v1/results`` as plain ASGI: what :func:`post_results` answers, without FastAPI's routing,
    dependency solving and request handling (most of a small batch's time on the event loop)."""
    response = await accept_batch(Request(scope, receive))
    await response(scope, receive, send)


async def accept_batch(request: Request) -> JSON:
    """An agent's or a relay's batch (the token checked as :data:`SenderDep` does, the body read as
    :func:`read_sent_body` does, refusals in the same order: 401/403, then 415/413/400, then the body's own).

    A batch that came whole with its headers (as agents send them) takes one trip to a worker thread for the
    token and the ingest together; any other takes two, the token's first, then the body is read."""
    found = services(request)
    token = bearer_token(request)
    cap = found.settings.max_body_bytes
    sent = await whole_body(request, cap)
    if isinstance(sent, tuple):
        async with ingest_slot(request):
            agent, outcome = await run_in_threadpool(_check_and_accept, found.engine, found.ingestor, token, *sent,
                                                     cap)
    else:
        agent = await run_in_threadpool(_sender, found.engine, token)
        data, gzipped = await read_sent_body(sent, cap)
        async with ingest_slot(request):
            outcome = await run_in_threadpool(_accept, found.ingestor, agent, data, cap if gzipped else None)
    return JSON(outcome.to_json(), headers=rotation_headers(agent))


#: Batches one collector process ingests at once; the others wait their turn on the event loop, at most
#: :data:`SLOT_WAIT_S`.  Ingesting is mostly Python, so it holds the GIL: two or three batches at once keep the
#: process busy while each waits on its database round trips, and more only make the threads fight for the
#: GIL (eight at once cost 40 % more CPU a result than three on a 2-core machine: docs/benchmarks.md, stop 32).
INGEST_SLOTS = 3
#: How long a batch waits for a slot before it is answered 503 with Retry-After (the agent keeps it and tries
#: again): as long as a request waits for a pooled database connection (``collector.store.db.REQUESTS``).
SLOT_WAIT_S = REQUESTS.pool_s


@contextlib.asynccontextmanager
async def ingest_slot(request: Request) -> AsyncIterator[None]:
    """One of this process's :data:`INGEST_SLOTS` for the time a batch is ingested (503 if none within
    :data:`SLOT_WAIT_S`).  One semaphore an event loop (a worker process has one; tests may run several)."""
    loop = asyncio.get_running_loop()
    held = getattr(request.app.state, "ingest_slots", None)
    if held is None or held[0] is not loop:
        held = request.app.state.ingest_slots = (loop, asyncio.Semaphore(INGEST_SLOTS))
    slots: asyncio.Semaphore = held[1]
    try:
        async with asyncio.timeout(SLOT_WAIT_S):
            await slots.acquire()
    except TimeoutError:
        raise HTTPException(status_code=503, detail=cli_said("cli.refusal.ingest_busy", slots=INGEST_SLOTS,
                                                                 seconds=f"{SLOT_WAIT_S:g}"),
                            headers={"Retry-After": RETRY_AFTER_S}) from None
    try:
        yield
    finally:
        slots.release()


def _sender(engine: Engine, token: str) -> Agent:
    return sender_of(principal_of(engine, token))


def _check_and_accept(engine: Engine, ingestor: Ingestor, token: str, data: bytes, gzipped: bool,
                      cap: int) -> tuple[Agent, Outcome]:
    """The token, then a body read whole: over ``cap`` 413, else unzipped (if gzip) and ingested."""
    agent = _sender(engine, token)
    if len(data) > cap:
        raise too_large(cap)
    return agent, _accept(ingestor, agent, data, cap if gzipped else None)


def _accept(ingestor: Ingestor, agent: Agent, data: bytes, gzip_cap: int | None) -> Outcome:
    """Unzip (when ``gzip_cap`` is given) and ingest a batch, and note which relay carried it (if one did)."""
    outcome = ingestor.ingest(agent, data if gzip_cap is None else gunzip(data, gzip_cap))
    if agent.relay is not None:  # which relay carried the batch, beside the results
        report = relays.RelayReport(backlog=outcome.agent.spool_backlog, version=outcome.agent.version)
        relays.record_batch(ingestor.engine, agent, accepted=outcome.accepted,
                            total=len(outcome.accepted) + len(outcome.duplicates), report=report)
    return outcome


def _time(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return check_time(parse_time(value), name)
    except DateError as exc:
        raise bad_query(name, str(exc)) from exc
    except (ResultError, ValueError, OverflowError) as exc:
        raise bad_query(name, f"expected an ISO-8601 time with offset: {exc}") from exc


@router.get("/results", response_class=JSON, response_model=ResultList, responses=errors(401, 403, 422, 503))
def get_results(
    _person: PersonDep,
    engine: EngineDep,
    site: str | None = None,
    host: str | None = None,
    check: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = Query(views.DEFAULT_LIMIT, ge=1, le=views.MAX_LIMIT),
) -> JSON:
    f = views.ResultFilter(site=site, host=host, check=check, since=_time("since", since),
                           until=_time("until", until), limit=limit)
    in_order("since", f.since, "until", f.until)  # backwards: a 422 naming both, not an empty list
    return JSON({"results": views.list_results(engine, f)})
