"""collector.store.pg_arrays: the binary arrays it packs read back on a real PostgreSQL as psycopg's own lists do."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from collector.store.pg_arrays import array

NOW = datetime.now(UTC)
CASES = [
    ("smallint", [0, 1, -3, 32767, -32768]),
    ("integer", [1, 2**31 - 1, -(2**31)]),
    ("bigint", [2**62, -1, 0]),
    ("timestamptz", [NOW, NOW - timedelta(days=9000, microseconds=7),
                     datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                     datetime(2026, 12, 5, 8, 0, tzinfo=UTC).astimezone(UTC) + timedelta(hours=8)]),
    ("bytea", [os.urandom(16), b"", b"\x00\xff"]),
    ("text", ["a", "", "中文 ✓", '{"x": 1}']),
    ("text", ["a", None, "b"]),
    # a batch's columns: times and texts that repeat (packed once each), ids of one length (one join)
    ("timestamptz", [NOW, NOW, NOW - timedelta(seconds=10), NOW]),
    ("text", ["disk", "disk", "", "", "中文", "disk", None, ""]),
    ("bytea", [os.urandom(16), os.urandom(16), os.urandom(16)]),
    ("bytea", [b"a", None, b""]),
    ("integer", []),
    ("text", []),
]


def test_each_array_reads_back_as_psycopgs_own(pg_cluster):
    with pg_cluster.admin() as conn:
        for kind, values in CASES:
            ours = conn.execute(f"SELECT %b::{kind}[]", [array(kind, values)]).fetchone()[0]
            theirs = conn.execute(f"SELECT %b::{kind}[]", [values]).fetchone()[0] if values else []
            decoded = [None if v is None else bytes(v) for v in ours] if kind == "bytea" else ours
            assert decoded == theirs == values, kind
            if values:  # and the server sees the same value (the element type included), not merely the same Python
                assert conn.execute(f"SELECT %b::{kind}[] IS NOT DISTINCT FROM %b::{kind}[]",
                                    [array(kind, values), values]).fetchone()[0] is True, kind


def test_a_value_outside_its_type_is_refused_before_sending():
    with pytest.raises(ValueError, match="smallint"):
        array("smallint", [40_000])
    with pytest.raises(ValueError, match="naive"):
        array("timestamptz", [datetime(2026, 1, 1)])  # noqa: DTZ001  # the mistake under test
