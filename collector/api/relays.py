"""``GET /api/v1/relay/sync``: a site relay fetches its site's agent token hashes (:mod:`collector.relays`).

The relay calls it every 30 s with its own token (``?backlog=N&version=V`` say how many
results it holds and which version it runs); the call is its contact, shown in the inventory.
"""

from __future__ import annotations

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from collector import relays
from collector.api import JSON
from collector.api.deps import EngineDep, RelayDep
from collector.api.models import RelaySync
from collector.api.openapi import errors

router = APIRouter()


@router.get("/relay/sync", response_class=JSON, response_model=RelaySync, responses=errors(401, 403, 422, 503))
async def get_relay_sync(relay: RelayDep, engine: EngineDep,
                         backlog: int | None = Query(None, ge=0, le=2**62),
                         version: str | None = Query(None, max_length=64)) -> JSON:
    report = relays.RelayReport(backlog=backlog, version=version)
    doc = await run_in_threadpool(relays.sync_document, engine, relay, report)
    return JSON(doc, headers={"Cache-Control": "no-store"})
