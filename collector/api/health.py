"""``/healthz`` and ``/metrics``: no authentication."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from collector.api import JSON, RETRY_AFTER_S
from collector.api.deps import HealthDep, MetricsDep
from collector.api.models import Health
from collector.metrics import CONTENT_TYPE

router = APIRouter()


@router.get("/healthz", response_class=JSON, response_model=Health,
            responses={503: {"model": Health, "description": "the database does not answer or cannot store "
                                                             "(with Retry-After)"}})
async def healthz(health: HealthDep) -> JSON:
    """200 when the collector can reach its database and store into it; never waits on the database."""
    report = health.report() if health.running else await run_in_threadpool(health.report)
    if report.ok:
        return JSON({"status": "ok"})
    return JSON({"status": "unavailable", "detail": report.detail}, status_code=503,
                headers={"Retry-After": RETRY_AFTER_S})


@router.get("/metrics", response_class=PlainTextResponse,
            responses={200: {"description": "Prometheus text exposition (docs/metrics.md)"}})
def metrics(m: MetricsDep) -> Response:
    return Response(m.exposition(), media_type=CONTENT_TYPE)
