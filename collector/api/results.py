"""``/api/v1/results``: agents post batches, people read what was stored."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from checks.result import ResultError, parse_time
from collector import relays, views
from collector.api import JSON
from collector.api.body import gunzip, read_sent_body
from collector.api.deps import EngineDep, IngestorDep, PersonDep, SenderDep, SettingsDep, rotation_headers
from collector.api.models import IngestAnswer, ResultBatch, ResultList
from collector.api.openapi import body, errors
from collector.auth import Agent
from collector.dates import DateError, check_time
from collector.ingest import Ingestor, Outcome
from collector.query_params import bad_query

router = APIRouter()


@router.post("/results", response_class=JSON, response_model=IngestAnswer,
             responses=errors(401, 403, 413, 415, 422, 503), openapi_extra=body(ResultBatch))
async def post_results(request: Request, agent: SenderDep, ingestor: IngestorDep,
                       settings: SettingsDep) -> JSON:
    body, gzipped = await read_sent_body(request, settings.max_body_bytes)
    outcome = await run_in_threadpool(_ingest, ingestor, agent, body, settings.max_body_bytes if gzipped else None)
    if agent.relay is not None:  # which relay carried the batch, beside the results
        report = relays.RelayReport(backlog=outcome.agent.spool_backlog, version=outcome.agent.version)
        await run_in_threadpool(lambda: relays.record_batch(
            ingestor.engine, agent, accepted=outcome.accepted, total=len(outcome.accepted) + len(outcome.duplicates),
            report=report))
    return JSON(outcome.to_json(), headers=rotation_headers(agent))


def _ingest(ingestor: Ingestor, agent: Agent, body: bytes, gzip_cap: int | None) -> Outcome:
    """Unzip (when ``gzip_cap`` is given) and ingest a batch: one trip to a worker thread for both."""
    return ingestor.ingest(agent, body if gzip_cap is None else gunzip(body, gzip_cap))


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
    return JSON({"results": views.list_results(engine, f)})
