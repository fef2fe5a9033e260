"""The fleet: enrolment keys, the host inventory, fleet file versions, token and user lifecycle.

``enrol_keys`` (site keys, hashed), ``fleet_hosts`` (enrolled hosts with roles, facts,
approval and retirement), ``hosts.config_version`` (the central config an agent runs),
``fleet_versions`` (every fleet file applied), ``agent_tokens.expires_at``, ``successor_id``,
``successor_box`` (rotation with a grace period) and ``users.disabled_at``.  Every host that
has a live agent token is enrolled (``enrolled_via`` ``token``): records list it even if it
never reported.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collector.store.tables import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("agent_tokens", sa.Column("expires_at", UTCDateTime))
    op.add_column("agent_tokens", sa.Column("successor_id", sa.Integer))
    op.add_column("agent_tokens", sa.Column("successor_box", sa.Text))
    op.add_column("users", sa.Column("disabled_at", UTCDateTime))
    op.add_column("hosts", sa.Column("config_version", sa.String(64)))
    op.create_table(
        "enrol_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("roles", sa.Text, nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("max_uses", sa.Integer, nullable=False),
        sa.Column("uses", sa.Integer, nullable=False),
        sa.Column("approve", sa.String(8), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime),
    )
    op.create_table(
        "fleet_hosts",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(64), primary_key=True),
        sa.Column("roles", sa.Text, nullable=False),
        sa.Column("facts", sa.Text, nullable=False),
        sa.Column("enrolled_at", UTCDateTime, nullable=False),
        sa.Column("enrolled_via", sa.String(64), nullable=False),
        sa.Column("approved_at", UTCDateTime),
        sa.Column("retired_at", UTCDateTime),
    )
    op.create_table(
        "fleet_versions",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("applied_at", UTCDateTime, nullable=False),
        sa.Column("applied_by", sa.String(64), nullable=False),
        sa.Column("file", sa.String(255), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
    )
    # Hosts with a live token are enrolled: records list them even if they never reported.
    op.execute(
        "INSERT INTO fleet_hosts (site, host, roles, facts, enrolled_at, enrolled_via, approved_at) "
        "SELECT site, host, '[]', '{}', MIN(created_at), 'token', MIN(created_at) FROM agent_tokens "
        "WHERE revoked_at IS NULL GROUP BY site, host")


def downgrade() -> None:
    op.drop_table("fleet_versions")
    op.drop_table("fleet_hosts")
    op.drop_table("enrol_keys")
    with op.batch_alter_table("hosts") as batch:
        batch.drop_column("config_version")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("disabled_at")
    with op.batch_alter_table("agent_tokens") as batch:
        batch.drop_column("successor_box")
        batch.drop_column("successor_id")
        batch.drop_column("expires_at")
