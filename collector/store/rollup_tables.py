"""The roll-up tables (migrations 0017, 0018): per result series and hour, per series and site-local day.

:mod:`collector.store.rollups` fills and reads them; ``rollup_hours`` and
``rollup_days`` have the same columns (:func:`_rollup`), ``rollup_dirty`` names
the (series, hour) pairs whose raw results changed since they were rolled up, and from which
start time on (``since``) their results are not in the hour row yet.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, PrimaryKeyConstraint, SmallInteger, Table, Text

from collector.store.compact import Stamp
from collector.store.tables import metadata

__all__ = ["rollup_days", "rollup_dirty", "rollup_hours"]


def _rollup(name: str) -> Table:
    return Table(
        name, metadata,
        Column("series_id", Integer, nullable=False),
        Column("start", Stamp, nullable=False),  # the hour (UTC) or the site-local midnight the row covers
        Column("results", Integer, nullable=False),
        Column("ok", Integer, nullable=False),
        Column("warning", Integer, nullable=False),
        Column("critical", Integer, nullable=False),
        Column("unknown", Integer, nullable=False),
        Column("worst", SmallInteger, nullable=False),  # by severity: CRITICAL > UNKNOWN > WARNING > OK
        Column("first_at", Stamp, nullable=False),
        Column("first_status", SmallInteger, nullable=False),
        Column("last_at", Stamp, nullable=False),
        Column("last_status", SmallInteger, nullable=False),
        Column("went_bad", Integer, nullable=False),  # OK/UNKNOWN -> WARNING/CRITICAL inside (the first counts)
        Column("silent_us", BigInteger, nullable=False),  # sum over gaps inside of what exceeds SILENT_AFTER
        Column("longest_us", BigInteger, nullable=False),  # the longest gap inside (0 for one result)
        Column("metrics", Text, nullable=False),  # JSON {name: [min, max, sum, n]}
        Column("last_text_id", Integer, nullable=False),  # the newest result's texts (result_texts + changed)
        Column("last_changed", Text, nullable=False),
        Column("bad_at", Stamp),  # the first WARNING/CRITICAL result inside, its status and texts
        Column("bad_status", SmallInteger),
        Column("bad_text_id", Integer),
        Column("bad_changed", Text),
        Column("good_at", Stamp),  # the newest OK result inside, and its texts (backup evidence)
        Column("good_text_id", Integer),
        Column("good_changed", Text),
        PrimaryKeyConstraint("series_id", "start", name=f"pk_{name}"),
    )


rollup_hours = _rollup("rollup_hours")
rollup_days = _rollup("rollup_days")

rollup_dirty = Table(
    "rollup_dirty", metadata,
    Column("series_id", Integer, nullable=False),
    Column("hour", Stamp, nullable=False),
    Column("gen", Integer, nullable=False),  # bumped by every store
    Column("since", Stamp, nullable=False),  # the oldest start among its results not in its hour row (0018)
    PrimaryKeyConstraint("series_id", "hour", name="pk_rollup_dirty"),
)
