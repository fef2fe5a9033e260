"""A batch body read in C (msgspec): one decode that checks the rules of :func:`checks.result.read_wire`
and hands out the values the collector stores.

:func:`decode` reads a batch body with a msgspec decoder whose types hold ``read_wire``'s rules
(fields, types, lengths, ranges, units, message keys and arguments) *at least as strictly*, plus the
checks a type cannot say: metric names' pattern (:func:`checks.result.is_name`), message keys' and
argument names' (:func:`checks.result.is_key`), each once per distinct string of the batch, and the
ids' hex digits in one pass over the batch's ids.
Whatever it accepts, ``read_wire`` accepts too, with the same values.  What it refuses is not judged
here: the caller then reads the body the slow way (``orjson`` + ``read_wire`` per result), which gives
the exact 422 it always gave.  So this path changes how long a good batch takes, never a verdict, an
error text or a stored byte (both paths store the same rows).

``details`` is decoded to plain dicts and lists, as ``orjson`` decodes it (the same keys in the order
sent, explicit nulls kept, the same numbers: both parse a number to the nearest double, integers to
``int``) and stored as ``orjson.dumps`` writes it, as on the slow path.  Metrics and messages are decoded
to :class:`WireMetric` and message structs, so their units, numbers, lengths and depth are checked in C,
and written back in C by :func:`stored_json` in one canonical form, which the slow path writes too: a
metric's members in the order ``name, value, unit, warn, crit, min, max`` (those sent; explicit nulls kept),
a message as :meth:`checks.result.Message.to_wire` writes it (``key``, then ``args``, always).  Agents send
them in that order (``Metric.to_wire``, ``Message.to_wire``), so what they sent is what is stored.
Where msgspec and orjson could read a body differently, the body goes the slow way: a member at the top
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

from itertools import chain
from operator import attrgetter
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

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

__all__ = ["FAST_DEPTH", "WireBatch", "WireMetric", "WireResult", "accepts", "decode", "stored_json"]

FAST_DEPTH = 3  # containers (messages, lists) inside a message's arguments; read_wire allows more

_BIG = 1.7976931348623157e308  # the largest finite float: ge/le refuse inf and nan
_Finite = Annotated[float, Meta(ge=-_BIG, le=_BIG)]
_Int64 = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]
_Number = _Int64 | _Finite | None
_Name = Annotated[str, Meta(min_length=1, max_length=MAX_NAME_LEN)]  # the pattern: is_name
_Scalar = None | bool | _Int64 | _Finite | Annotated[str, Meta(max_length=MAX_SUMMARY_LEN)]
_Key = Annotated[str, Meta(max_length=MAX_NAME_LEN)]  # the pattern: is_key


class WireMetric(Struct, forbid_unknown_fields=True, gc=False):
    """A metric as sent, value and unit required (agents always send both); written back in this order,
    members not sent left out, explicit nulls kept."""

    name: _Name  # the pattern: is_name, once per distinct name of a batch
    value: _Number
    unit: Literal[tuple(sorted(UNITS))]  # type: ignore[valid-type]  # a Literal built from the set
    warn: _Number | UnsetType = UNSET
    crit: _Number | UnsetType = UNSET
    min: _Number | UnsetType = UNSET
    max: _Number | UnsetType = UNSET


_MESSAGES: list[type] = []  # the message types of each depth (a nested message is one of them)


def _arg(levels: int) -> Any:
    """The type of a message argument with at most ``levels`` containers (messages, lists) inside."""
    if levels == 0:
        return _Scalar
    inner = _arg(levels - 1)
    return _Scalar | _message(inner) | Annotated[list[inner], Meta(max_length=MAX_MESSAGE_ARGS)]  # type: ignore[valid-type]  # a type built at run time


def _message(arg: Any) -> Any:
    """A message as sent, ``{"key": ..., "args": {...}}``, written back as :meth:`checks.result.Message.to_wire`
    writes one (``args`` always); its key's and arguments' names are checked by :func:`_keys_ok`."""
    kind = msgspec.defstruct(f"WireMessage{len(_MESSAGES)}", [
        ("key", _Key), ("args", Annotated[dict[str, arg], Meta(max_length=MAX_MESSAGE_ARGS)], {})],
        forbid_unknown_fields=True, gc=False, module=__name__)
    _MESSAGES.append(kind)
    return kind


_Message = _message(_arg(FAST_DEPTH))
_FLAT = frozenset({type(None), bool, int, float, str})  # arguments that are no message or list


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
    metrics: Annotated[list[WireMetric], Meta(max_length=MAX_METRICS)] = []
    details: dict[str, Any] = {}
    duration_ms: Annotated[int, Meta(ge=0, le=MAX_DURATION_MS)] | Annotated[float, Meta(ge=0, le=MAX_DURATION_MS)] = 0
    message: _Message | None = None  # type: ignore[valid-type]  # built by _message
    standard_message: _Message | None = None  # type: ignore[valid-type]  # built by _message


class WireBatch(Struct, forbid_unknown_fields=True, gc=False):
    """A batch body: its results, and what the agent says about itself (the caller reads that)."""

    results: list[WireResult]
    agent: Any = None


_DECODER = msgspec.json.Decoder(WireBatch)
_ENCODE = msgspec.json.Encoder().encode
_HEX = b"0123456789abcdef"  # what a result id is made of (32 of them: the type)
_ID, _METRICS, _NAME = attrgetter("id"), attrgetter("metrics"), attrgetter("name")
_MESSAGE, _STANDARD = attrgetter("message"), attrgetter("standard_message")
_KEY, _ARGS = attrgetter("key"), attrgetter("args")


def stored_json(value: Any) -> str:
    """The JSON text stored for a result's metrics or messages, on either path: members in the order of
    ``value`` (a :class:`WireMetric` or message in its fields' order), numbers spelt by msgspec."""
    return _ENCODE(value).decode()


def decode(body: bytes) -> WireBatch | None:
    """The batch when every result of ``body`` is sure to pass ``read_wire`` (site, host and check names'
    patterns and the times aside: the caller checks those); None means "read it the slow way", not "refused".

    What a type does not say is checked once per distinct value of the batch (ids in one pass, metric
    names, message keys and argument names in a set)."""
    try:
        batch = _DECODER.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    results = batch.results
    if "".join(map(_ID, results)).encode().translate(None, _HEX):  # not only hex digits (a table, in C)
        return None
    if not all(map(is_name, set(map(_NAME, chain.from_iterable(map(_METRICS, results)))))):
        return None
    messages = [*filter(None, map(_MESSAGE, results)), *filter(None, map(_STANDARD, results))]
    return batch if messages == [] or _keys_ok(messages) else None


def accepts(body: bytes) -> bool:
    """True when :func:`decode` takes ``body``."""
    return decode(body) is not None


def _keys_ok(messages: list[Any]) -> bool:
    """Every message's key and argument names are :func:`~checks.result.is_key`'s, and so for every message
    inside their arguments (looked for only where an argument is no scalar)."""
    args = list(map(_ARGS, messages))
    if not all(map(is_key, set(map(_KEY, messages)).union(*args))):
        return False
    if _FLAT.issuperset(map(type, chain.from_iterable(map(dict.values, args)))):
        return True
    inner = list(_nested(chain.from_iterable(map(dict.values, args))))
    return inner == [] or _keys_ok(inner)


def _nested(values: Any) -> Any:
    """The messages among ``values`` and inside the lists among them."""
    for value in values:
        if type(value) is list:
            yield from _nested(value)
        elif type(value) not in _FLAT:
            yield value
