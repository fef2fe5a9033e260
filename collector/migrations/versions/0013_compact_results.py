"""Compact results: ``result_series``, ``result_texts``, ``result_rows``, the ``results`` view; ``maintenance_runs``.

Each stored result was ~1.2 KB (its names and texts on every row); now site/host/
check/item are interned, the texts are templates stored once with the numbers
that changed on the row (collector/store/compact.py), the id is 16 bytes and
times are 8.  On PostgreSQL ``result_rows`` is range-partitioned by month of
``started_at`` (collector/store/partitions.py).  Existing results are moved over in batches, keeping their ids;
``results`` becomes a view with the columns it had, so readers are unchanged.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collector.store import partitions
from collector.store.compact import Stamp, UidBytes
from collector.store.tables import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BATCH = 5000

_legacy = sa.Table(
    "results", sa.MetaData(),
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("uid", sa.String(32)),
    sa.Column("site", sa.String(64)),
    sa.Column("host", sa.String(64)),
    sa.Column("check", sa.String(64)),
    sa.Column("item", sa.String(255)),
    sa.Column("status", sa.SmallInteger),
    sa.Column("summary", sa.Text),
    sa.Column("standard", sa.Text),
    sa.Column("started_at", UTCDateTime),
    sa.Column("received_at", UTCDateTime),
    sa.Column("duration_ms", sa.Float),
    sa.Column("metrics", sa.Text),
    sa.Column("details", sa.Text),
)


def view_sql(dialect: str) -> str:
    """The ``results`` view: the columns a stored result always had."""
    nl = "char(10)" if dialect == "sqlite" else "chr(10)"
    packed = f"t.template || {nl} || r.changed"
    duration = "r.duration_us / 1000.0" if dialect == "sqlite" else "(r.duration_us / 1000.0)::double precision"
    return (
        "CREATE VIEW results AS SELECT r.id AS id, r.uid AS uid, s.site AS site, s.host AS host, "
        f's."check" AS "check", s.item AS item, r.status AS status, {packed} AS summary, '
        f"{packed} AS standard, r.started_at AS started_at, r.received_at AS received_at, "
        f"{duration} AS duration_ms, {packed} AS metrics, {packed} AS details "
        "FROM result_rows r JOIN result_series s ON s.id = r.series_id JOIN result_texts t ON t.id = r.text_id"
    )


def upgrade() -> None:
    op.create_table(
        "result_series",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("host", sa.String(64), nullable=False),
        sa.Column("check", sa.String(64), nullable=False),
        sa.Column("item", sa.String(255), nullable=False),
        sa.UniqueConstraint("site", "host", "check", "item", name="uq_result_series_key"),
    )
    op.create_table(
        "result_texts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("digest", sa.LargeBinary(16), nullable=False, unique=True),
        sa.Column("template", sa.Text, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":  # range partitions by month (collector/store/partitions.py)
        partitions.create_parent(op.get_bind())
    else:
        op.create_table(
            "result_rows",
            sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
            sa.Column("uid", UidBytes, nullable=False, unique=True),
            sa.Column("series_id", sa.Integer, nullable=False),
            sa.Column("status", sa.SmallInteger, nullable=False),
            sa.Column("started_at", Stamp, nullable=False),
            sa.Column("received_at", Stamp, nullable=False),
            sa.Column("duration_us", sa.BigInteger, nullable=False),
            sa.Column("text_id", sa.Integer, nullable=False),
            sa.Column("changed", sa.Text, nullable=False),
        )
        op.create_index("ix_result_rows_series_started", "result_rows", ["series_id", "started_at"])
    op.create_table(
        "maintenance_runs",
        sa.Column("job", sa.String(32), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("started_at", UTCDateTime, nullable=False),
    )
    _move_results()
    op.drop_table("results")
    op.execute(view_sql(op.get_bind().dialect.name))


def _move_results() -> None:
    from collector.store.queries import _compact_rows  # the ingest's own packing
    from collector.store.tables import result_rows

    conn = op.get_bind()
    last = -1
    while True:
        rows = [dict(r._mapping) for r in conn.execute(
            sa.select(_legacy).where(_legacy.c.id > last).order_by(_legacy.c.id).limit(BATCH))]
        if not rows:
            return
        last = rows[-1]["id"]
        packed = _compact_rows(conn, rows)
        if conn.dialect.name == "postgresql":
            partitions.ensure_months(conn, [r["started_at"] for r in rows])
        conn.execute(sa.insert(result_rows), [
            {"id": r["id"], "uid": p[0], "series_id": p[1], "status": p[2], "started_at": p[3],
             "received_at": p[4], "duration_us": p[5], "text_id": p[6], "changed": p[7]}
            for r, p in zip(rows, packed, strict=True)])


def downgrade() -> None:
    from collector.store.tables import results as view

    op.create_table(
        "results_expanded",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("uid", sa.String(32), nullable=False, unique=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("host", sa.String(64), nullable=False),
        sa.Column("check", sa.String(64), nullable=False),
        sa.Column("item", sa.String(255), nullable=False),
        sa.Column("status", sa.SmallInteger, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("standard", sa.Text, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
    )
    target = sa.Table("results_expanded", sa.MetaData(), *(c.copy() for c in _legacy.columns))
    conn = op.get_bind()
    last = -1
    while True:
        rows = [dict(r._mapping) for r in conn.execute(
            sa.select(*(view.c[c.name] for c in _legacy.columns)).where(view.c.id > last)
            .order_by(view.c.id).limit(BATCH))]
        if not rows:
            break
        last = rows[-1]["id"]
        conn.execute(sa.insert(target), rows)
    op.execute("DROP VIEW results")
    op.drop_table("maintenance_runs")
    op.drop_table("result_rows")
    op.drop_table("result_texts")
    op.drop_table("result_series")
    op.rename_table("results_expanded", "results")
    op.create_index("ix_results_site_host_check_started", "results", ["site", "host", "check", "started_at"])
    op.create_index("ix_results_started_at", "results", ["started_at"])
