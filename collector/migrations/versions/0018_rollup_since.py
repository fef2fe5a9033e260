"""Roll-ups fold the new results only: ``rollup_dirty.since`` (issue 16).

``since`` is the oldest start time among a (series, hour)'s results that are not
in its ``rollup_hours`` row yet (collector/store/rollups.py): the roll-up job reads
raw results from there on and adds them to the row, instead of reading the whole
hour again.  A mark that exists already gets the start of its hour, so its hour is
rebuilt from raw results as before.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collector.store.compact import Stamp

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("rollup_dirty", sa.Column("since", Stamp))
    op.execute("UPDATE rollup_dirty SET since = hour")
    with op.batch_alter_table("rollup_dirty") as batch:
        batch.alter_column("since", existing_type=Stamp(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("rollup_dirty") as batch:
        batch.drop_column("since")
