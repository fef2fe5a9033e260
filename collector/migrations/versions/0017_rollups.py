"""Roll-ups: ``rollup_hours``, ``rollup_days`` (per result series) and ``rollup_dirty`` (issue 17).

A roll-up row sums up one series' raw results of one UTC hour or one site-local
day (collector/store/rollups.py): counts by status, worst, first and last time
and status, times it went bad, silences, metric min/max/sum/count, and the texts
of the newest and of the first bad result (as ``result_texts`` id + changed
numbers, so they read back exactly, message keys included), and of the newest OK one.  ``rollup_dirty``
names the (series, hour) pairs stored into since they were last rolled up.
Existing results are marked dirty here so the roll-up job builds their rows.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collector.store.compact import Stamp

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def _rollup(name: str) -> None:
    op.create_table(
        name,
        sa.Column("series_id", sa.Integer, nullable=False),
        sa.Column("start", Stamp, nullable=False),
        sa.Column("results", sa.Integer, nullable=False),
        sa.Column("ok", sa.Integer, nullable=False),
        sa.Column("warning", sa.Integer, nullable=False),
        sa.Column("critical", sa.Integer, nullable=False),
        sa.Column("unknown", sa.Integer, nullable=False),
        sa.Column("worst", sa.SmallInteger, nullable=False),
        sa.Column("first_at", Stamp, nullable=False),
        sa.Column("first_status", sa.SmallInteger, nullable=False),
        sa.Column("last_at", Stamp, nullable=False),
        sa.Column("last_status", sa.SmallInteger, nullable=False),
        sa.Column("went_bad", sa.Integer, nullable=False),
        sa.Column("silent_us", sa.BigInteger, nullable=False),
        sa.Column("longest_us", sa.BigInteger, nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("last_text_id", sa.Integer, nullable=False),
        sa.Column("last_changed", sa.Text, nullable=False),
        sa.Column("bad_at", Stamp),
        sa.Column("bad_status", sa.SmallInteger),
        sa.Column("bad_text_id", sa.Integer),
        sa.Column("bad_changed", sa.Text),
        sa.Column("good_at", Stamp),
        sa.Column("good_text_id", sa.Integer),
        sa.Column("good_changed", sa.Text),
        sa.PrimaryKeyConstraint("series_id", "start", name=f"pk_{name}"),
    )


def upgrade() -> None:
    _rollup("rollup_hours")
    _rollup("rollup_days")
    op.create_table(
        "rollup_dirty",
        sa.Column("series_id", sa.Integer, nullable=False),
        sa.Column("hour", Stamp, nullable=False),
        sa.Column("gen", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("series_id", "hour", name="pk_rollup_dirty"),
    )
    # every hour that holds results: the roll-up job builds them (one statement; hours are few)
    if op.get_bind().dialect.name == "postgresql":
        hour = "date_trunc('hour', started_at)"
    else:  # integer microseconds
        hour = "(started_at / 3600000000) * 3600000000"
    op.execute(f"INSERT INTO rollup_dirty (series_id, hour, gen) SELECT DISTINCT series_id, {hour}, 1 "
               "FROM result_rows")


def downgrade() -> None:
    op.drop_table("rollup_dirty")
    op.drop_table("rollup_days")
    op.drop_table("rollup_hours")
