"""A batch body read in C (msgspec): one decode that checks the rules of :func:`checks.result.read_wire`
and hands out the values the collector stores.

:func:`decode` reads a batch body with a msgspec decoder whose types hold ``read_wire``'s rules
(fields, types, lengths, ranges, units, message keys and arguments) *at least as strictly*, plus a few
checks in Python that a type cannot say or says slower (a metric's name and unit, which member of a message
is its key, message keys' and argument names' pattern with :func:`checks.result.is_key`, the ids' hex digits
in one match per batch).
Whatever it accepts, ``read_wire`` accepts too, with the same values.  What it refuses is not judged
here: the caller then reads the body the slow way (``orjson`` + ``read_wire`` per result), which gives
the exact 422 it always gave.  So this path changes how long a good batch takes, never a verdict, an
error text or a stored byte.

The members stored as JSON text (``metrics``, ``details``, ``message``, ``standard_message``) are
decoded to plain dicts and lists, as ``orjson`` decodes them: the same keys in the order sent, explicit
nulls kept, the same numbers (both parse a number to the nearest double, integers to ``int``).  The
stored text is then ``orjson.dumps`` of them, as on the slow path, so it is byte-identical.  Where
msgspec and orjson could read a body differently, the body goes the slow way: a member at the top
other than ``results`` and ``agent`` (msgspec skips unknown members without checking their text),
integers beyond 64 bits (orjson reads them as floats; in ``details`` the caller sees them when
``orjson.dumps`` refuses them).

Stricter than ``read_wire`` (these go the slow way, and are accepted there if good):
``v`` sent as ``1.0``; a metric without ``value`` or ``unit`` (agents always send both); integers
beyond 64 bits; messages nested deeper than :data:`FAST_DEPTH` containers (``read_wire`` allows
:data:`~checks.result.MAX_MESSAGE_DEPTH`).  Site, host, check and metric names are length-checked
here and pattern-checked with :func:`checks.result.is_name` (its remembered names are cheaper than a
pattern per field); site, host and check by the caller (:func:`collector.ingest.parse_batch`), which
also reads the times.

``tests/collector/test_api_models.py`` holds, for every generated document (keys in any order,
explicit nulls included), that this path either refuses or stores exactly the rows of the slow one.
"""

from __future__ import annotations

import re
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
    is_key,
    is_name,
)

assert WIRE_VERSION == 1  # noqa: S101  # the Literal below

__all__ = ["FAST_DEPTH", "WireBatch", "WireResult", "accepts", "decode"]

FAST_DEPTH = 3  # containers (messages, lists) inside a message's arguments; read_wire allows more

_BIG = 1.7976931348623157e308  # the largest finite float: ge/le refuse inf and nan
_Finite = Annotated[float, Meta(ge=-_BIG, le=_BIG)]
_Int64 = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]
_Number = _Int64 | _Finite | None
_Name = Annotated[str, Meta(min_length=1, max_length=MAX_NAME_LEN)]  # the pattern: is_name
_Scalar = None | bool | _Int64 | _Finite | Annotated[str, Meta(max_length=MAX_SUMMARY_LEN)]
#: a metric as sent: its members' values are numbers, null, or the name and unit (strings, checked by _metric_ok)
_Metric = Annotated[dict[Literal["name", "value", "unit", "warn", "crit", "min", "max"],
                         _Number | Annotated[str, Meta(max_length=MAX_NAME_LEN)]],
                    Meta(max_length=7)]


def _arg(levels: int) -> Any:
    """The type of a message argument with at most ``levels`` containers (messages, lists) inside."""
    if levels == 0:
        return _Scalar
    inner = _arg(levels - 1)
    return _Scalar | _message(inner) | Annotated[list[inner], Meta(max_length=MAX_MESSAGE_ARGS)]  # type: ignore[valid-type]  # a type built at run time


def _message(arg: Any) -> Any:
    """A message as sent, ``{"key": ..., "args": {...}}``: which member holds which is :func:`_message_ok`'s."""
    args = Annotated[dict[str, arg], Meta(max_length=MAX_MESSAGE_ARGS)]  # names: is_key in _message_ok
    return dict[Literal["key", "args"], Annotated[str, Meta(max_length=MAX_NAME_LEN)] | args]


_Message = _message(_arg(FAST_DEPTH))


class WireResult(Struct, forbid_unknown_fields=True, gc=False):
    """One result as sent (``read_wire``'s rules, names' patterns and the time aside)."""

    id: Annotated[str, Meta(min_length=32, max_length=32)]  # hex: decode checks the batch's ids at once
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
    message: _Message | None = None  # type: ignore[valid-type]  # built by _message
    standard_message: _Message | None = None  # type: ignore[valid-type]  # built by _message


class WireBatch(Struct, forbid_unknown_fields=True, gc=False):
    """A batch body: its results, and what the agent says about itself (the caller reads that)."""

    results: list[WireResult]
    agent: Any = None


_DECODER = msgspec.json.Decoder(WireBatch)
_HEX = re.compile("[0-9a-f]*")  # whole string: each of its 32-character pieces is a result id


def decode(body: bytes) -> WireBatch | None:
    """The batch when every result of ``body`` is sure to pass ``read_wire`` (site, host and check names'
    patterns and the times aside: the caller checks those); None means "read it the slow way", not "refused"."""
    try:
        batch = _DECODER.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    if _HEX.fullmatch("".join([r.id for r in batch.results])) is None:  # ids of 32 characters each
        return None
    for r in batch.results:
        for m in r.metrics:
            if not _metric_ok(m):
                return None
        if (r.message is not None and not _message_ok(r.message)) or (
                r.standard_message is not None and not _message_ok(r.standard_message)):
            return None
    return batch


def accepts(body: bytes) -> bool:
    """True when :func:`decode` takes ``body``."""
    return decode(body) is not None


def _metric_ok(m: dict[Any, Any]) -> bool:
    """A metric with a good name, a known unit and a value, whose other members are numbers or null."""
    get = m.get
    return (is_name(get("name")) and get("unit") in UNITS and type(get("value", "")) is not str
            and type(get("warn")) is not str and type(get("crit")) is not str and type(get("min")) is not str
            and type(get("max")) is not str)


def _message_ok(m: dict[str, Any]) -> bool:
    """A key (a string of :func:`~checks.result.is_key`), arguments (an object, names of ``is_key``) if any,
    and so for every message inside them."""
    if not is_key(m.get("key")):
        return False
    args = m.get("args")
    if args is None:
        return True
    if type(args) is not dict:
        return False
    for name, value in args.items():
        if not is_key(name):
            return False
        kind = type(value)
        if (kind is dict and not _message_ok(value)) or (kind is list and not _list_ok(value)):
            return False
    return True


def _list_ok(values: list[Any]) -> bool:
    for value in values:
        kind = type(value)
        if (kind is dict and not _message_ok(value)) or (kind is list and not _list_ok(value)):
            return False
    return True

