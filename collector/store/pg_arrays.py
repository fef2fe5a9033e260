"""PostgreSQL: a column of a batch sent as one binary array, packed in C.

The ingest statements send each column of a batch as one array parameter
(``unnest(%b::integer[], ...)``).  psycopg dumps a Python list element by
element in Python (about 0.17 us an element; a 500-result batch sends about
5,900 of them); :func:`array` packs the same binary array format with
``struct`` in a few C calls, and psycopg sends the bytes as they are.  A batch's
columns repeat a few values (its hosts, start times, check names, empty texts):
the times, and the texts of a column that repeats, are packed once per distinct
value and joined; ids of one length are joined in one call.

The values must be of the array's type: ``int`` for ``smallint``/``integer``/
``bigint``, ``bytes`` for ``bytea``, ``str`` for ``text``, aware
``datetime`` for ``timestamptz``; ``None`` is NULL (``text`` and ``bytea``).  A value out
of its type's range raises ``ValueError``; the server reads what psycopg's own
dumpers would have sent.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from psycopg import adapters
from psycopg.adapt import Buffer, Dumper
from psycopg.pq import Format

__all__ = ["Array", "array"]

# type name: (element oid, array oid, struct code of a fixed-width element or "" for variable length)
_TYPES = {"smallint": (21, 1005, "h"), "integer": (23, 1007, "i"), "bigint": (20, 1016, "q"),
          "timestamptz": (1184, 1185, "q"), "bytea": (17, 1001, ""), "text": (25, 1009, "")}
_HEAD = struct.Struct(">iiiii")  # dimensions, has nulls, element oid, length, lower bound
_LENGTH = struct.Struct(">i")
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # PostgreSQL's timestamps count microseconds from here
_MICRO = timedelta(microseconds=1)


class Array:
    """A binary array ready to send: ``%b::<type>[]`` in the statement."""

    __slots__ = ("data", "oid")

    def __init__(self, data: bytes, oid: int) -> None:
        self.data = data
        self.oid = oid


def array(kind: str, values: Sequence[Any]) -> Array:
    """``values`` as a one-dimensional PostgreSQL array of ``kind`` (a key of the types above)."""
    element, oid, code = _TYPES[kind]
    n = len(values)
    if n == 0:
        return Array(struct.pack(">iii", 0, 0, element), oid)
    if kind == "timestamptz":  # a batch holds a few distinct times: each packed once
        encoded = {v: _stamp(v) for v in set(values)}
        return Array(_HEAD.pack(1, 0, element, n, 1) + b"".join(map(encoded.__getitem__, values)), oid)
    if code:
        width = struct.calcsize(code)
        fields = [width, 0] * n
        fields[1::2] = values
        try:
            body = _fixed(code, n).pack(*fields)
        except struct.error as exc:
            raise ValueError(f"{kind}[]: {exc}") from exc
        return Array(_HEAD.pack(1, 0, element, n, 1) + body, oid)
    if kind == "text":
        distinct = set(values)
        nulls = None in distinct
        if nulls or 2 * len(distinct) <= n:  # a batch's column repeats a few values: each encoded once
            encoded = {v: _NULL if v is None else _element(v.encode()) for v in distinct}
            return Array(_HEAD.pack(1, nulls, element, n, 1) + b"".join(map(encoded.__getitem__, values)), oid)
        values = list(map(str.encode, values))
    elif None in values:
        return Array(_HEAD.pack(1, 1, element, n, 1) + b"".join([_NULL if v is None else _element(bytes(v))
                                                                  for v in values]), oid)
    return Array(_HEAD.pack(1, 0, element, n, 1) + _elements(values), oid)


_NULL = _LENGTH.pack(-1)  # a NULL element: length -1 and no bytes


def _element(data: bytes) -> bytes:
    return _LENGTH.pack(len(data)) + data


def _elements(items: Sequence[bytes]) -> bytes:
    """Variable-length elements, each its length and its bytes; of one length (a column of ids), in one join."""
    lengths = list(map(len, items))
    if lengths.count(lengths[0]) == len(lengths):
        head = _LENGTH.pack(lengths[0])
        return head + head.join(items)
    chunks: list[Any] = [b""] * (2 * len(items))
    chunks[0::2] = map(_LENGTH.pack, lengths)
    chunks[1::2] = items
    return b"".join(chunks)


_STAMP = struct.Struct(">iq")  # a timestamptz element: its length (8) and its microseconds since 2000


def _stamp(value: datetime) -> bytes:
    if value.tzinfo is None:
        raise ValueError("timestamptz[]: naive datetime")
    return _STAMP.pack(8, (value - _EPOCH) // _MICRO)  # (any datetime's microseconds fit in 64 bits)


@lru_cache(maxsize=256)
def _fixed(code: str, n: int) -> struct.Struct:
    return struct.Struct(">" + f"i{code}" * n)


class _ArrayDumper(Dumper):
    format = Format.BINARY

    def dump(self, obj: Array) -> Buffer:
        return obj.data

    def get_key(self, obj: Array, format: Any) -> Any:
        return (Array, obj.oid)

    def upgrade(self, obj: Array, format: Any) -> Dumper:
        return _DUMPERS[obj.oid](Array, self.connection)


_DUMPERS: dict[int, type[Dumper]] = {oid: type(f"_ArrayDumper{oid}", (_ArrayDumper,), {"oid": oid})
                                     for _, oid, _ in _TYPES.values()}
adapters.register_dumper(Array, _ArrayDumper)
