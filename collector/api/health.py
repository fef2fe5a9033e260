"""``/healthz`` and ``/metrics``: no authentication."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from collector import views
from collector.api import JSON
from collector.api.deps import EngineDep, MetricsDep
from collector.metrics import CONTENT_TYPE

router = APIRouter()


@router.get("/healthz", response_class=JSON)
def healthz(engine: EngineDep) -> JSON:
    if views.database_ok(engine):
        return JSON({"status": "ok"})
    return JSON({"status": "unavailable", "detail": "the database does not answer"}, status_code=503)


@router.get("/metrics")
def metrics(m: MetricsDep) -> Response:
    return Response(m.exposition(), media_type=CONTENT_TYPE)
