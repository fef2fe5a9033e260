"""What the read endpoints answer: stored results as JSON-ready dicts (hosts: collector/inventory.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Engine

from checks.result import WIRE_VERSION, format_time
from collector.messages import stored_messages
from collector.store import queries
from collector.store.db import reading

__all__ = ["ResultFilter", "list_results", "MAX_LIMIT", "DEFAULT_LIMIT"]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class ResultFilter:
    site: str | None = None
    host: str | None = None
    check: str | None = None
    since: datetime | None = None  # inclusive, on started_at
    until: datetime | None = None  # exclusive, on started_at
    limit: int = DEFAULT_LIMIT


def _wire(row: Any) -> dict[str, Any]:
    return {
        "v": WIRE_VERSION, "id": row.uid, "site": row.site, "host": row.host, "check": row.check,
        "item": row.item, "status": row.status, "summary": row.summary, "standard": row.standard,
        "metrics": orjson.loads(row.metrics), "details": orjson.loads(row.details),
        "started_at": format_time(row.started_at), "duration_ms": row.duration_ms,
        "received_at": format_time(row.received_at),
        **stored_messages(row.messages),
    }


def list_results(engine: Engine, f: ResultFilter) -> list[dict[str, Any]]:
    """Stored results matching ``f``, newest first, in wire form plus ``received_at``."""
    with reading(engine) as conn:
        rows = queries.find_results(conn, site=f.site, host=f.host, check=f.check, since=f.since,
                                    until=f.until, limit=f.limit)
    return [_wire(r) for r in rows]


