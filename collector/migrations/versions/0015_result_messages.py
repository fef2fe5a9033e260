"""Results carry their summary and standard as message keys (issue 14).

The keys are a fifth packed text of a result (``collector/store/compact.py``: ``messages``, JSON
``{"message": {...}, "standard_message": {...}}``, empty for agents that send none); the
``results`` view shows it as ``messages``.  ``latest.messages`` likewise, and a monitoring ticket
keeps those of the result that opened it (``tickets.messages``).  Results stored before this
revision have four packed texts: their ``messages`` reads empty.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _view(dialect: str, *, messages: bool) -> str:
    """The ``results`` view of revision 0013, with ``messages`` when asked."""
    nl = "char(10)" if dialect == "sqlite" else "chr(10)"
    packed = f"t.template || {nl} || r.changed"
    duration = "r.duration_us / 1000.0" if dialect == "sqlite" else "(r.duration_us / 1000.0)::double precision"
    return (
        "CREATE VIEW results AS SELECT r.id AS id, r.uid AS uid, s.site AS site, s.host AS host, "
        f's."check" AS "check", s.item AS item, r.status AS status, {packed} AS summary, '
        f"{packed} AS standard, r.started_at AS started_at, r.received_at AS received_at, "
        f"{duration} AS duration_ms, {packed} AS metrics, {packed} AS details"
        + (f", {packed} AS messages " if messages else " ")
        + "FROM result_rows r JOIN result_series s ON s.id = r.series_id JOIN result_texts t ON t.id = r.text_id"
    )


def upgrade() -> None:
    op.execute("DROP VIEW results")
    op.execute(_view(op.get_bind().dialect.name, messages=True))
    op.add_column("latest", sa.Column("messages", sa.Text))
    op.add_column("tickets", sa.Column("messages", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("messages")
    with op.batch_alter_table("latest") as batch:
        batch.drop_column("messages")
    op.execute("DROP VIEW results")
    op.execute(_view(op.get_bind().dialect.name, messages=False))
