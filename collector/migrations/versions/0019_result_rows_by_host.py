"""Results are indexed by host and time: ``result_rows.host_id`` and ``ix_result_rows_host_started`` (issue 16).

``host_id`` is the id of the result's host series, (site, host, "", "") in
``result_series`` (the series the roll-ups keep a host's whole traffic in,
:data:`collector.store.rollups.HOST_ROW`), made here for every host that lacks
one.  The index ``(host_id, started_at, series_id)`` replaces ``(series_id,
started_at)``: an agent's batch is one host's patrol, so it appends to the end of
one host's run (about one leaf page) instead of the ends of a hundred series'
runs (a hundred pages written to SQLite's WAL and again by each checkpoint;
bench/sqlite_growth.py).  The ``results`` view takes site and host from the host
series, so a reader's site/host filter reaches the index, and ties the result's
series to them (the same by construction), so that a filter on check and item
finds the series by its key too.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def _view(dialect: str, *, by_host: bool) -> str:
    """The ``results`` view of revision 0015, or with site and host from the host series (``by_host``)."""
    nl = "char(10)" if dialect == "sqlite" else "chr(10)"
    packed = f"t.template || {nl} || r.changed"
    duration = "r.duration_us / 1000.0" if dialect == "sqlite" else "(r.duration_us / 1000.0)::double precision"
    where = "h" if by_host else "s"
    return (
        f"CREATE VIEW results AS SELECT r.id AS id, r.uid AS uid, {where}.site AS site, {where}.host AS host, "
        f's."check" AS "check", s.item AS item, r.status AS status, {packed} AS summary, '
        f"{packed} AS standard, r.started_at AS started_at, r.received_at AS received_at, "
        f"{duration} AS duration_ms, {packed} AS metrics, {packed} AS details, {packed} AS messages "
        "FROM result_rows r "
        + (""" JOIN result_series h ON h.id = r.host_id AND h."check" = '' AND h.item = '' """ if by_host else "")
        + "JOIN result_series s ON s.id = r.series_id "
        + ("AND s.site = h.site AND s.host = h.host " if by_host else "")
        + "JOIN result_texts t ON t.id = r.text_id"
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute("DROP VIEW results")
    # every host gets its host series (the roll-up job made them for the hosts it has seen)
    op.execute("""INSERT INTO result_series (site, host, "check", item) SELECT DISTINCT s.site, s.host, '', '' """
               """FROM result_series s WHERE NOT EXISTS (SELECT 1 FROM result_series h WHERE h.site = s.site """
               """AND h.host = s.host AND h."check" = '' AND h.item = '')""")
    op.drop_index("ix_result_rows_series_started", table_name="result_rows")
    op.add_column("result_rows", sa.Column("host_id", sa.Integer))
    op.execute("""UPDATE result_rows SET host_id = (SELECT h.id FROM result_series s JOIN result_series h """
               """ON h.site = s.site AND h.host = s.host AND h."check" = '' AND h.item = '' """
               """WHERE s.id = result_rows.series_id)""")
    if dialect == "postgresql":
        op.alter_column("result_rows", "host_id", existing_type=sa.Integer, nullable=False)
    else:  # SQLite: the table is copied (its id keeps its values: INTEGER PRIMARY KEY)
        with op.batch_alter_table("result_rows") as batch:
            batch.alter_column("host_id", existing_type=sa.Integer, nullable=False)
    op.create_index("ix_result_rows_host_started", "result_rows", ["host_id", "started_at", "series_id"])
    op.execute(_view(dialect, by_host=True))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute("DROP VIEW results")
    op.drop_index("ix_result_rows_host_started", table_name="result_rows")
    if dialect == "postgresql":
        op.drop_column("result_rows", "host_id")
    else:
        with op.batch_alter_table("result_rows") as batch:
            batch.drop_column("host_id")
    op.create_index("ix_result_rows_series_started", "result_rows", ["series_id", "started_at"])
    op.execute(_view(dialect, by_host=False))
