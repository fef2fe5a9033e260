"""Ferry bundles keep what they could not store: ``relay_bundles.held``.

A bundle holding results of a host its relay may not write for (retired, not
enrolled, not approved) stores the rest and holds those back instead of dropping
them: ``held`` names the hosts (``site/host``, one a line; NULL when none).  The
bundle file is kept (the watched folder moves it to ``held/``); imported again
once the host is live, its held results are stored (collector/ferry.py).

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("relay_bundles", sa.Column("held", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("relay_bundles") as batch:
        batch.drop_column("held")
