"""``health_probe``: one row the health probe rewrites to learn whether the database stores again.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "health_probe",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("pad", sa.LargeBinary, nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "at": 0.0, "pad": b""}])


def downgrade() -> None:
    op.drop_table("health_probe")
