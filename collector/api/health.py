"""``/healthz`` and ``/metrics``: no authentication."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response

from collector import views
from collector.api import JSON
from collector.api.deps import EngineDep, MetricsDep
from collector.api.models import Health
from collector.metrics import CONTENT_TYPE

router = APIRouter()


@router.get("/healthz", response_class=JSON, response_model=Health,
            responses={503: {"model": Health, "description": "the database does not answer"}})
def healthz(engine: EngineDep) -> JSON:
    if views.database_ok(engine):
        return JSON({"status": "ok"})
    return JSON({"status": "unavailable", "detail": "the database does not answer"}, status_code=503)


@router.get("/metrics", response_class=PlainTextResponse,
            responses={200: {"description": "Prometheus text exposition (docs/metrics.md)"}})
def metrics(m: MetricsDep) -> Response:
    return Response(m.exposition(), media_type=CONTENT_TYPE)
