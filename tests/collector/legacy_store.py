"""Results stored the way the ingest stored them before migration 0019 (no ``result_rows.host_id``).

For tests that upgrade a database from an older revision with results in it:
the collector's own packing (series, texts, changed numbers), inserted without
the host column; nothing is marked for the roll-ups.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from collector.store import partitions, queries
from collector.store.tables import result_rows

_BEFORE_0019 = queries._ROW_COLUMNS[:8]  # uid .. changed


def store_before_0019(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    packed = queries._compact_rows(conn, sorted(rows, key=lambda r: r["uid"]))
    if conn.dialect.name == "postgresql":
        partitions.ensure_months(conn, [r["started_at"] for r in rows])
    conn.execute(sa.insert(result_rows), [dict(zip(_BEFORE_0019, p[:8], strict=True)) for p in packed])
