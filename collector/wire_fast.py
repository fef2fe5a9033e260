"""A batch body checked in C (msgspec): the fast way to the verdict :func:`checks.result.read_wire` gives.

:func:`accepts` decodes a batch body with a msgspec decoder whose types hold the wire rules of
``read_wire`` (fields, types, lengths, ranges, units, message keys and arguments) *at least as
strictly*: whatever it accepts, ``read_wire`` accepts too, with the same values, because both read
the same JSON text and the stored values come from ``orjson`` as before.  What it refuses is not
judged here: the caller then reads the body the slow way (``orjson`` + ``read_wire`` per result),
which gives the exact 422 it always gave.  So the fast path changes how long a good batch takes,
never a verdict, an error text or a stored byte.

Stricter than ``read_wire`` (these go the slow way, and are accepted there if good):
``v`` sent as ``1.0``; a metric without ``value`` or ``unit`` (agents always send both); integers
beyond 64 bits; messages nested deeper than :data:`FAST_DEPTH` containers (``read_wire`` allows
:data:`~checks.result.MAX_MESSAGE_DEPTH`).  Site, host, check and metric names are length-checked
here and pattern-checked by the caller with :func:`checks.result.is_name` (its remembered names are
cheaper than a pattern per field).

``tests/collector/test_api_models.py`` holds, for every generated document, that this path either
refuses or stores exactly the rows of the slow one.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from checks.result import (
    MAX_DURATION_MS,
    MAX_ITEM_LEN,
    MAX_MESSAGE_ARGS,
    MAX_METRICS,
    MAX_NAME_LEN,
    MAX_STANDARD_LEN,
    MAX_SUMMARY_LEN,
    UNITS,
    WIRE_VERSION,
)

assert WIRE_VERSION == 1  # noqa: S101  # the Literal below

__all__ = ["FAST_DEPTH", "accepts"]

FAST_DEPTH = 3  # containers (messages, lists) inside a message's arguments; read_wire allows more

_BIG = 1.7976931348623157e308  # the largest finite float: ge/le refuse inf and nan
_Finite = Annotated[float, Meta(ge=-_BIG, le=_BIG)]
_Int64 = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]
_Number = _Int64 | _Finite | None
_Name = Annotated[str, Meta(min_length=1, max_length=MAX_NAME_LEN)]  # the pattern: is_name, by the caller
_KEY = r"\A[a-z0-9_]+(?:\.[a-z0-9_]+)*\Z"  # checks.result._KEY_RE, fullmatch
_Scalar = None | bool | _Int64 | _Finite | Annotated[str, Meta(max_length=MAX_SUMMARY_LEN)]


def _arg(levels: int) -> Any:
    """The type of a message argument with at most ``levels`` containers (messages, lists) inside."""
    if levels == 0:
        return _Scalar
    inner = _arg(levels - 1)
    message = msgspec.defstruct(f"_Message{levels}", [
        ("key", Annotated[str, Meta(max_length=MAX_NAME_LEN, pattern=_KEY)]),
        ("args", Annotated[dict[Annotated[str, Meta(pattern=_KEY)], inner],  # type: ignore[valid-type]  # a type built at run time
                           Meta(max_length=MAX_MESSAGE_ARGS)],
         msgspec.field(default_factory=dict)),
    ], forbid_unknown_fields=True, gc=False)
    return _Scalar | message | Annotated[list[inner], Meta(max_length=MAX_MESSAGE_ARGS)]  # type: ignore[valid-type]  # a type built at run time


_Message = [t for t in _arg(FAST_DEPTH + 1).__args__ if isinstance(t, type) and issubclass(t, Struct)][0]


class _Metric(Struct, forbid_unknown_fields=True, gc=False):
    name: _Name
    value: _Number
    unit: Literal[tuple(sorted(UNITS))]  # type: ignore[valid-type]  # a Literal of the units, built once
    warn: _Number = None
    crit: _Number = None
    min: _Number = None
    max: _Number = None


class _Result(Struct, forbid_unknown_fields=True, gc=False):
    id: Annotated[str, Meta(pattern=r"\A[0-9a-f]{32}\Z")]
    site: _Name
    host: _Name
    check: _Name
    status: Annotated[int, Meta(ge=0, le=3)]
    summary: Annotated[str, Meta(max_length=MAX_SUMMARY_LEN)]
    started_at: str  # parsed by the caller (remembered times)
    v: Literal[1] = 1  # 1.0 (read_wire takes it too) goes the slow way
    item: Annotated[str, Meta(max_length=MAX_ITEM_LEN)] = ""
    standard: Annotated[str, Meta(max_length=MAX_STANDARD_LEN)] = ""
    metrics: Annotated[list[_Metric], Meta(max_length=MAX_METRICS)] = []
    details: dict[str, Any] = {}
    duration_ms: Annotated[int, Meta(ge=0, le=MAX_DURATION_MS)] | Annotated[float, Meta(ge=0, le=MAX_DURATION_MS)] = 0
    message: _Message | None = None  # type: ignore[valid-type]  # built by _arg
    standard_message: _Message | None = None  # type: ignore[valid-type]  # built by _arg


class _Batch(Struct, gc=False):  # other members (agent, ...) are the caller's
    results: list[_Result]


_DECODER = msgspec.json.Decoder(_Batch)


def accepts(body: bytes) -> bool:
    """True when every result of ``body`` is sure to pass ``read_wire`` (names and times aside: the
    caller checks those); False means "read it the slow way", not "refused"."""
    try:
        _DECODER.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return False
    return True
