"""The check result: Wardround's wire unit, shared by agent and collector.

A check measures one thing and returns one or more :class:`Result` objects.
The agent spools them and pushes them to the collector as JSON; the
collector validates them with :func:`read_wire` (:meth:`Result.from_wire` builds on it).  This module is the
only part of ``checks/`` the collector imports, so it depends on nothing but
the standard library.

========== ===== ====================================================
Status     code  meaning (the Nagios plugin convention)
========== ===== ====================================================
OK         0     measured and within the standard
WARNING    1     measured and past the warning threshold
CRITICAL   2     measured and past the critical threshold, or the
                 target is unreachable / the thing failed
UNKNOWN    3     could not be judged: our own timeout, a bug, bad
                 configuration, a missing dependency
========== ===== ====================================================

Wire format (``"v": 1``)::

    {"v": 1, "id": "0190...", "site": "central-hospital", "host": "his-db-01",
     "check": "disk", "item": "/", "status": 0, "summary": "/ 41.2 % used",
     "standard": "used < 80 %",
     "metrics": [{"name": "used_percent", "value": 41.2, "unit": "%",
                  "warn": 80, "crit": 90}],
     "details": {}, "started_at": "2026-11-23T08:00:00.123456Z",
     "duration_ms": 3.2,
     "message": {"key": "disk.used", "args": {"mount": "/", "used": 41.2, ...}},
     "standard_message": {"key": "disk.standard", "args": {"warn": 80, "days": 30}}}

``message``/``standard_message`` are optional (agents before them send none): the summary
and standard as message keys, rendered in the reader's language (:mod:`checks.messages`).
"""

from __future__ import annotations

import collections
import math
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NamedTuple, TypeAlias, TypeGuard, overload
else:  # the agent runs without the typing module (issue 16): a class ``(NamedTuple)`` is a collections.namedtuple
    class _NamedTupleType(type):
        def __new__(mcls, name: str, bases: tuple[type, ...], ns: dict[str, object]) -> type:
            if not bases:
                return super().__new__(mcls, name, bases, ns)
            cls = collections.namedtuple(name, list(ns["__annotations__"]), module=str(ns["__module__"]))
            cls.__doc__ = ns.get("__doc__", cls.__doc__)
            return cls

    class NamedTuple(metaclass=_NamedTupleType):
        pass

__all__ = [
    "NAME_PATTERN",
    "SEVERITY",
    "UNITS",
    "WIRE_VERSION",
    "Message",
    "MessageArg",
    "Metric",
    "Result",
    "ResultError",
    "Status",
    "WireResult",
    "format_time",
    "is_name",
    "new_result_id",
    "parse_time",
    "parse_wire_time",
    "read_wire",
]

WIRE_VERSION = 1

# Limits that keep one result small and safe to store and to show.
MAX_NAME_LEN = 64  # site, host, check
MAX_ITEM_LEN = 255
MAX_SUMMARY_LEN = 1000
MAX_STANDARD_LEN = 200
MAX_METRICS = 64
MAX_DETAILS_BYTES = 64 * 1024
MAX_MESSAGE_ARGS = 32  # arguments of one message (nested messages count their own)
MAX_MESSAGE_DEPTH = 8  # levels of nested messages and lists
MAX_DURATION_MS = (2**63 - 1) // 1000  # the collector stores it as 64-bit microseconds

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]*"  # site, host, check and metric names (at most MAX_NAME_LEN)
_NAME_RE = re.compile(NAME_PATTERN)  # always fullmatch: "$" would also match before a final newline
_ID_RE = re.compile(r"[0-9a-f]{32}")
UNITS = frozenset({"", "%", "s", "ms", "B", "c", "ratio", "d", "C", "count", "B/s", "bps", "1"})


class Status(IntEnum):
    """How a result is judged; the value is the Nagios exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @property
    def severity(self) -> int:
        """How serious, the one ranking: OK 0 < WARNING 1 < UNKNOWN 2 < CRITICAL 3.

        Icinga's order: a check we could not judge may hide a fault, so it
        ranks above a warning but below a measured critical fault.  Sort
        worst first with ``key=lambda s: -s.severity``; SQL builds its CASE
        from :data:`SEVERITY`.
        """
        return SEVERITY[self]

    @staticmethod
    def of_severity(rank: int) -> Status:
        """The status with this :attr:`severity`."""
        return _BY_SEVERITY[rank]

    @staticmethod
    def worst(statuses: Iterable[Status | int]) -> Status:
        """The most serious status (:attr:`severity`): CRITICAL > UNKNOWN > WARNING > OK; OK when empty."""
        worst = Status.OK
        for s in statuses:
            s = Status(s)
            if SEVERITY[s] > SEVERITY[worst]:
                worst = s
        return worst

    @property
    def label(self) -> str:
        return self.name


#: Each status's :attr:`Status.severity`.
SEVERITY: Mapping[Status, int] = {Status.OK: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.CRITICAL: 3}
_BY_SEVERITY = {rank: status for status, rank in SEVERITY.items()}


class ResultError(ValueError):
    """A result (or a field of one) that does not follow the wire format."""


if TYPE_CHECKING:
    @overload
    def format_time(dt: datetime) -> str: ...
    @overload
    def format_time(dt: None) -> None: ...
def format_time(dt: datetime | None) -> str | None:
    """ISO-8601 in UTC with a ``Z`` suffix and microseconds; None stays None (a time not yet set)."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        raise ResultError("timestamps must be timezone-aware")
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: object) -> datetime:
    """Parse an ISO-8601 timestamp that carries an offset (``Z`` allowed)."""
    if not isinstance(value, str):
        raise ResultError("expected an ISO-8601 string")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError as exc:
        raise ResultError(f"not an ISO-8601 timestamp: {value[:40]!r}") from exc
    if dt.tzinfo is None:
        raise ResultError(f"timestamp without a UTC offset: {value[:40]!r}")
    try:
        return dt.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00: past the calendar's end in UTC
        raise ResultError(f"timestamp out of range: {value[:40]!r}") from None


_id_lock = threading.Lock()
_last_ms = 0
_seq = 0


def new_result_id() -> str:
    """A unique, time-ordered id (UUIDv7 layout, 32 lowercase hex digits).

    Time ordering keeps the collector's unique index append-mostly, which is
    what makes idempotent ingest cheap.
    """
    global _last_ms, _seq
    with _id_lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _seq = (_seq + 1) & 0xFFF
            if _seq == 0:
                ms += 1
        else:
            _seq = int.from_bytes(os.urandom(2), "big") & 0x7FF
        _last_ms = ms
        seq = _seq
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | seq << 64 | 0b10 << 62 | rand
    return f"{value:032x}"


def is_name(value: object) -> TypeGuard[str]:
    """A site, host, check or metric name: 1-64 letters, digits, '.', '_' or '-', not starting with '.', '_', '-'."""
    return _remembered(value, _NAMES_SEEN, _NAME_RE, MAX_NAME_LEN)


def _remembered(value: object, seen: set[str], pattern: re.Pattern[str], max_len: int | None) -> bool:
    """``value`` is a string ``pattern`` matches whole (of at most ``max_len`` characters); good ones are
    kept in ``seen`` (up to :data:`_NAMES_KEPT`): the collector reads the same few thousand in every batch."""
    if type(value) is not str:
        return False
    if value in seen:
        return True
    if (max_len is None or len(value) <= max_len) and pattern.fullmatch(value) is not None:
        if len(seen) < _NAMES_KEPT:
            seen.add(value)
        return True
    return False


# Names already found good: the collector reads the same few thousand names in every batch.
_NAMES_SEEN: set[str] = set()
_NAMES_KEPT = 100_000


def _wire_name(data: Mapping[str, Any], key: str) -> str:
    """The ``site``/``host``/``check`` member of a wire object, validated."""
    val = data.get(key)
    if not is_name(val):
        raise ResultError(f"{key}: expected 1-{MAX_NAME_LEN} characters of letters, digits, '.', '_' or '-'")
    return val


@dataclass(frozen=True, slots=True)
class Metric:
    """One measured value with its unit and the thresholds it was judged by.

    Values are in base units (bytes, seconds) except percentages, which are
    0–100 as operators read them.  ``value`` is ``None`` when it could not be
    measured (Nagios ``U``).
    """

    name: str
    value: float | None
    unit: str = ""
    warn: float | None = None
    crit: float | None = None
    min: float | None = None
    max: float | None = None

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "value": self.value, "unit": self.unit}
        for key in ("warn", "crit", "min", "max"):
            v = getattr(self, key)
            if v is not None:
                out[key] = v
        return out

    @classmethod
    def from_wire(cls, data: Any, where: str = "metric") -> Metric:
        return cls(*_metric_values(data, where))


_METRIC_FIELDS = frozenset({"name", "value", "unit", "warn", "crit", "min", "max"})
_NUMBER_FIELDS = ("value", "warn", "crit", "min", "max")
_NUMBER_TYPES = (float, int)


def _metric_values(data: Any, where: str) -> tuple[Any, ...]:
    """A wire metric validated: (name, value, unit, warn, crit, min, max)."""
    # The collector validates every metric of every result: keep this lean.
    if type(data) is not dict and not isinstance(data, Mapping):
        raise ResultError(f"{where}: expected an object")
    if not data.keys() <= _METRIC_FIELDS:
        raise ResultError(f"{where}: unknown field(s) {sorted(set(data) - _METRIC_FIELDS)}")
    name = data.get("name")
    if not is_name(name):
        raise ResultError(f"{where}.name: expected a metric name like 'used_percent'")
    unit = data.get("unit", "")
    if unit not in UNITS:
        raise ResultError(f"{where}.unit: {unit!r} is not one of {sorted(UNITS)}")
    numbers: list[float | None] = []
    for key in _NUMBER_FIELDS:  # _number, inlined: five a metric
        v = data.get(key)
        if v is not None:
            if type(v) is float:
                if not math.isfinite(v):
                    v = _number(v, where, key)
            else:
                v = _number(v, where, key)
        numbers.append(v)
    value, warn, crit, low, high = numbers
    return name, value, unit, warn, crit, low, high


def _number(v: Any, where: str, key: str) -> float | None:
    """A finite float, or None; bools are not numbers here."""
    if v is None:
        return None
    if type(v) in _NUMBER_TYPES and math.isfinite(v):
        return float(v)
    raise ResultError(f"{where}.{key}: expected a finite number or null")


#: an argument of a message: a scalar, a nested message, or a list of them
MessageArg: TypeAlias = "str | int | float | bool | None | Message | list[MessageArg]"
_KEY_RE = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)*")


def is_key(value: object) -> TypeGuard[str]:
    """A message key or argument name (:data:`_KEY_RE`, whole string; no length rule), good ones
    remembered as :func:`is_name` does: the collector reads the same few hundred in every batch."""
    return _remembered(value, _KEYS_SEEN, _KEY_RE, None)


_KEYS_SEEN: set[str] = set()


@dataclass(frozen=True, slots=True)
class Message:
    """A message key with its arguments (``{"key": "backup_files.missed", "args": {...}}``).

    The text of a summary or standard in words any language can render: the catalogues are
    ``checks/messages`` (:func:`checks.messages.say` writes one, ``render`` reads one).
    """

    key: str
    args: Mapping[str, MessageArg] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {"key": self.key, "args": {k: _arg_to_wire(v) for k, v in self.args.items()}}

    @classmethod
    def from_wire(cls, data: Any, where: str = "message", depth: int = 0) -> Message:
        if not isinstance(data, Mapping) or not data.keys() <= {"key", "args"}:
            raise ResultError(f'{where}: expected an object {{"key": ..., "args": {{...}}}}')
        key = data.get("key")
        if not is_key(key) or len(key) > MAX_NAME_LEN:
            raise ResultError(f"{where}.key: expected a key like 'backup_files.missed'")
        args = data.get("args", {})
        if not isinstance(args, Mapping) or len(args) > MAX_MESSAGE_ARGS:
            raise ResultError(f"{where}.args: expected an object of at most {MAX_MESSAGE_ARGS} arguments")
        out: dict[str, MessageArg] = {}
        for name, value in args.items():
            if not is_key(name):
                raise ResultError(f"{where}.args: argument names are letters, digits and '_'")
            out[name] = _arg_from_wire(value, f"{where}.args.{name}", depth)
        return cls(key, out)


def _arg_to_wire(value: MessageArg) -> Any:
    if isinstance(value, Message):
        return value.to_wire()
    if isinstance(value, list):
        return [_arg_to_wire(v) for v in value]
    return value


def _arg_from_wire(value: Any, where: str, depth: int) -> MessageArg:
    if value is None or type(value) in (bool, int, str):
        if type(value) is str and len(value) > MAX_SUMMARY_LEN:
            raise ResultError(f"{where}: longer than {MAX_SUMMARY_LEN} characters")
        return value  # type: ignore[no-any-return]  # type() checked just above: a JSON scalar
    if type(value) is float:
        if not math.isfinite(value):
            raise ResultError(f"{where}: expected a finite number")
        return value
    if depth >= MAX_MESSAGE_DEPTH:
        raise ResultError(f"{where}: messages nested more than {MAX_MESSAGE_DEPTH} deep")
    if isinstance(value, Mapping):
        return Message.from_wire(value, where, depth + 1)
    if isinstance(value, list) and len(value) <= MAX_MESSAGE_ARGS:
        return [_arg_from_wire(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    raise ResultError(f"{where}: expected a string, number, boolean, null, message or list")


def _said(text: str) -> Message | None:
    """The message a :class:`checks.messages.Said` text carries (None for a plain str)."""
    return getattr(text, "message", None) if type(text) is not str else None


@dataclass(frozen=True, slots=True)
class Result:
    """One judged observation: what a check found about one item on one host."""

    check: str
    item: str
    status: Status
    summary: str
    metrics: tuple[Metric, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    standard: str = ""
    site: str = ""
    host: str = ""
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    duration_ms: float = 0.0
    id: str = field(default_factory=new_result_id)
    #: the summary and standard as message keys (taken from a ``say()`` text when not given)
    message: Message | None = None
    standard_message: Message | None = None

    def __post_init__(self) -> None:
        if self.message is None:
            object.__setattr__(self, "message", _said(self.summary))
        if self.standard_message is None:
            object.__setattr__(self, "standard_message", _said(self.standard))
        # the texts themselves stay plain strings (they are compared, stored, logged)
        object.__setattr__(self, "summary", str.__str__(self.summary))
        object.__setattr__(self, "standard", str.__str__(self.standard))

    def with_origin(self, *, site: str, host: str, started_at: datetime | None = None,
                    duration_ms: float | None = None) -> Result:
        """A copy stamped with where (and optionally when) it was taken."""
        return Result(
            check=self.check, item=self.item, status=self.status, summary=self.summary,
            metrics=self.metrics, details=self.details, standard=self.standard,
            site=site, host=host,
            started_at=started_at if started_at is not None else self.started_at,
            duration_ms=duration_ms if duration_ms is not None else self.duration_ms,
            id=self.id, message=self.message, standard_message=self.standard_message,
        )

    def to_wire(self) -> dict[str, Any]:
        out = self._wire()
        if self.message is not None:
            out["message"] = self.message.to_wire()
        if self.standard_message is not None:
            out["standard_message"] = self.standard_message.to_wire()
        return out

    def _wire(self) -> dict[str, Any]:
        return {
            "v": WIRE_VERSION,
            "id": self.id,
            "site": self.site,
            "host": self.host,
            "check": self.check,
            "item": self.item,
            "status": int(self.status),
            "summary": self.summary,
            "standard": self.standard,
            "metrics": [m.to_wire() for m in self.metrics],
            "details": dict(self.details),
            "started_at": format_time(self.started_at),
            "duration_ms": round(self.duration_ms, 3),
        }

    @classmethod
    def from_wire(cls, data: Any) -> Result:
        """Validate one wire object; raise :class:`ResultError` naming the field."""
        w = read_wire(data)
        return cls(
            id=w.id, check=w.check, item=w.item, status=_STATUS_BY_CODE[w.status], summary=w.summary,
            standard=w.standard, metrics=tuple([Metric(*m) for m in w.metrics]), details=w.details, site=w.site,
            host=w.host, started_at=w.started_at, duration_ms=w.duration_ms,
            message=w.message, standard_message=w.standard_message,
        )


class WireResult(NamedTuple):
    """A wire result as validated by :func:`read_wire`: plain values, no Result/Metric objects built."""

    id: str
    site: str
    host: str
    check: str
    item: str
    status: int
    summary: str
    standard: str
    metrics: list[tuple[Any, ...]]  # (name, value, unit, warn, crit, min, max) each
    details: Mapping[str, Any]
    started_at: datetime
    duration_ms: float
    message: Message | None
    standard_message: Message | None


def read_wire(data: Any) -> WireResult:
    """Validate one wire object (the rules of :meth:`Result.from_wire`, which builds on this); raise
    :class:`ResultError` naming the field.  The collector stores what this returns."""
    if type(data) is not dict and not isinstance(data, Mapping):
        raise ResultError("result: expected an object")
    v = data.get("v", WIRE_VERSION)
    if type(v) is bool or v != WIRE_VERSION:  # 1.0 is the integer 1 in JSON (and its schema)
        raise ResultError(f"v: wire version {v!r} is not supported (expected {WIRE_VERSION})")
    if not data.keys() <= _WIRE_FIELDS:
        raise ResultError(f"unknown field(s) {sorted(set(data) - _WIRE_FIELDS)}")
    rid = data.get("id")
    if type(rid) is not str or not _ID_RE.fullmatch(rid):
        raise ResultError("id: expected 32 lowercase hex digits")
    site, host, check = _wire_name(data, "site"), _wire_name(data, "host"), _wire_name(data, "check")
    item = data.get("item", "")
    if type(item) is not str or len(item) > MAX_ITEM_LEN:
        raise ResultError(f"item: expected a string of at most {MAX_ITEM_LEN} characters")
    status = data.get("status")
    if type(status) is not int or not 0 <= status <= 3:
        raise ResultError("status: expected 0 (OK), 1 (WARNING), 2 (CRITICAL) or 3 (UNKNOWN)")
    summary = data.get("summary")
    if type(summary) is not str or len(summary) > MAX_SUMMARY_LEN:
        raise ResultError(f"summary: expected a string of at most {MAX_SUMMARY_LEN} characters")
    standard = data.get("standard", "")
    if type(standard) is not str or len(standard) > MAX_STANDARD_LEN:
        raise ResultError(f"standard: expected a string of at most {MAX_STANDARD_LEN} characters")
    raw_metrics = data.get("metrics", [])
    if type(raw_metrics) is not list or len(raw_metrics) > MAX_METRICS:
        raise ResultError(f"metrics: expected a list of at most {MAX_METRICS} metrics")
    metrics = [_metric_values(m, f"metrics[{i}]") for i, m in enumerate(raw_metrics)]
    details = data.get("details", {})
    if type(details) is not dict and not isinstance(details, Mapping):
        raise ResultError("details: expected an object")
    started = parse_wire_time(data.get("started_at"))
    duration = data.get("duration_ms", 0)
    if not (type(duration) is float or type(duration) is int) \
            or not math.isfinite(duration) or not 0 <= duration <= MAX_DURATION_MS:
        raise ResultError(f"duration_ms: expected a non-negative number of milliseconds, "
                          f"at most {MAX_DURATION_MS}")
    message, standard_message = (None if data.get(k) is None else Message.from_wire(data[k], k)
                                 for k in ("message", "standard_message"))
    return WireResult(rid, site, host, check, item, status, summary, standard, metrics, details, started,
                      float(duration), message, standard_message)


def parse_wire_time(value: object) -> datetime:
    """:func:`parse_time`, remembered for the last few hundred strings (a batch repeats its patrols' times)."""
    if type(value) is str:
        held = _TIMES_SEEN.get(value)
        if held is not None:
            return held
    parsed = parse_time(value)
    if len(_TIMES_SEEN) >= 512:
        _TIMES_SEEN.clear()
    _TIMES_SEEN[value] = parsed  # type: ignore[index]  # a str: parse_time refuses anything else
    return parsed


_TIMES_SEEN: dict[str, datetime] = {}


_STATUS_BY_CODE = tuple(Status)

_WIRE_FIELDS = frozenset({
    "v", "id", "site", "host", "check", "item", "status", "summary", "standard",
    "metrics", "details", "started_at", "duration_ms", "message", "standard_message",
})

