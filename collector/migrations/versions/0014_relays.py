"""Site relays and the file ferry: ``relays`` (relay tokens, hashed; last contact and backlog),
``relay_batches`` and ``relay_results`` (which relay carried which result, beside the results
table), ``relay_bundles`` (ferry bundle sequence numbers imported, per relay), ``ferry_refused``
(bundles refused whole: forged, corrupt).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collector.store.tables import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "relays",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime),
        sa.Column("last_contact", UTCDateTime),
        sa.Column("backlog", sa.BigInteger),
        sa.Column("version", sa.String(64)),
        sa.Column("silent_since", UTCDateTime),
        sa.UniqueConstraint("site", "name", name="uq_relays_site_name"),
    )
    op.create_table(
        "relay_batches",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("relay_id", sa.Integer, sa.ForeignKey("relays.id", ondelete="CASCADE"), nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("via", sa.String(8), nullable=False),
        sa.Column("seq", sa.BigInteger),
        sa.Column("results", sa.Integer, nullable=False),
        sa.Column("accepted", sa.Integer, nullable=False),
    )
    op.create_index("ix_relay_batches_relay", "relay_batches", ["relay_id", "received_at"])
    op.create_table(
        "relay_results",
        sa.Column("uid", sa.String(32), primary_key=True),
        sa.Column("batch_id", _ID, sa.ForeignKey("relay_batches.id", ondelete="CASCADE"), nullable=False),
    )
    op.create_table(
        "relay_bundles",
        sa.Column("relay_id", sa.Integer, sa.ForeignKey("relays.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("imported_at", UTCDateTime, nullable=False),
        sa.Column("file", sa.String(255), nullable=False),
        sa.Column("results", sa.Integer, nullable=False),
    )
    op.create_table(
        "ferry_refused",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("file", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ferry_refused")
    op.drop_table("relay_bundles")
    op.drop_table("relay_results")
    op.drop_index("ix_relay_batches_relay", "relay_batches")
    op.drop_table("relay_batches")
    op.drop_table("relays")
