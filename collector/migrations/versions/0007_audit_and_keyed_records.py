"""Keyed signatures on records and sign-offs, and the hash-chained audit log.

``records.signature``/``key_id`` and ``record_signatures.signature``/``key_id``
hold the collector key's Ed25519 signatures; rows stored before this
revision keep NULL there and verify as "digest only".  ``audit_log`` is the
append-only, hash-chained log of people's actions (``seq`` unique, no gaps).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collector.store.tables import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    for table in ("records", "record_signatures"):
        op.add_column(table, sa.Column("signature", sa.Text))
        op.add_column(table, sa.Column("key_id", sa.String(16)))
    op.create_table(
        "audit_log",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False, unique=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(8), nullable=False),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("signature", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_target", "audit_log", ["target"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_target", table_name="audit_log")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    for table in ("record_signatures", "records"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("key_id")
            batch.drop_column("signature")
