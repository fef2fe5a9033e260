"""The content of an inspection record: plain JSON-able data, the same for every kind.

A record's *content* is built once, when it is issued, stored as canonical
JSON (sorted keys, UTF-8, no whitespace) with its SHA-256 digest, and never
changed again.  Every rendering (HTML, PDF, CSV) is made from the stored
content only, so a rendering of an old record is reproducible.  Signatures
are not part of the content: they are appended rows of their own, each
carrying the digest it signed (see :class:`Signature`).

Content structure (``RecordContent.to_json()``; times are ISO-8601 UTC with
``Z``, dates ``YYYY-MM-DD`` in the site's time zone)::

    {
      "schema": 1,
      "header": {
        "site": "central-hospital",           # the site key
        "customer": "Central Hospital",       # display name (policy records.customer; default: site)
        "systems": ["HIS", "LIS"],            # policy records.systems
        "hosts": ["his-db-01", ...],          # every host the record covers, sorted
        "kind": "daily",                      # daily | weekly | monthly | quarterly | annual
        "period_from": "2026-11-22",          # first day, inclusive (site time zone)
        "period_to": "2026-11-22",            # last day, inclusive
        "period_start": "2026-11-21T16:00:00.000000Z",  # the instants the data was read between
        "period_end": "2026-11-22T16:00:00.000000Z",    # exclusive
        "timezone": "Asia/Shanghai",
        "inspector": "Zhang Wei",
        "generated_at": "2026-11-23T00:30:00.000000Z",
        "language": "zh_CN",                  # zh_CN | en: the catalog the words were taken from
        "origin": "scheduled",                # scheduled | manual
        "counts": {"normal": 120, "warning": 2, "abnormal": 1, "no_data": 3}
      },
      "rows": [                               # one per (host, check, item); sorted by host, check, item
        {"host": "his-db-01", "check": "disk", "item": "/", "label": "磁盘空间 /",
         "standard": "used < 80 %", "value": 41.2, "unit": "%", "measured": "41.2 %",
         "verdict": "normal", "remark": "", "summary": "/ 41.2 % used",
         "at": "2026-11-22T15:55:00.000000Z",  # the result the verdict comes from (null: no data)
         "results": 288, "bad": 0,             # results in the period, and how many were not OK
         "worst": "normal"}                    # the worst verdict seen in the period
      ],
      "gaps": [                               # hosts or items with no result in the period
        {"host": "pacs-01", "check": null, "item": null, "label": "...",
         "last_seen": "2026-11-20T02:00:00.000000Z" | null, "remark": "..."}
      ],
      "anomalies": [                          # every item not normal at the end, or bad during the period
        {"host": ..., "check": ..., "item": ..., "label": ..., "verdict": "abnormal",
         "worst": "abnormal", "bad": 3, "summary": "...", "suggestion": "...",
         "recovered": false}
      ],
      "tickets": [                            # opened, acknowledged or resolved in the period,
        {"id": 17, "host": ..., "check": ..., "item": ..., "severity": 2, "level_name": "...",
         "summary": ..., "state": "resolved", "opened_at": ..., "acknowledged_at": ...,
         "resolved_at": ..., "closed_at": ..., "response_due": ..., "resolve_due": ...,
         "events": ["opened", "acknowledged", "resolved"],   # which of these fell in the period
         "response": "met" | "breached" | "pending",
         "resolution": "met" | "breached" | "pending",
         "onsite_requested_at": ... | null, "onsite_due": ... | null,
         "onsite": "met" | "breached" | "pending" | null,    # null: no on-site visit requested
         "response_term": "工作时间2小时", "resolve_term": "3个工作日"}   # "" for tickets without terms
      ],                                      # every field as the ticket stood at the period's end
      "backup_evidence": [                    # each backup item's newest good backup in the period
        {"host": ..., "check": "db_backup", "item": "HIS/full", "label": ...,
         "last_good_at": "..." | null, "size_bytes": 123456789 | null, "size": "117.7 MiB" | "",
         "verdict": "normal" | "warning" | "abnormal" | "no_data", "remark": "..."}
      ],
      "sections": [                           # extra titled tables (the annual report adds its own)
        {"key": "sla", "title": "...", "columns": ["...", ...], "rows": [[cell, ...], ...],
         "note": "..."}                       # cells are str, int, float or null
      ]
    }

Verdicts (``VERDICTS``): ``normal`` (OK), ``warning`` (WARNING), ``abnormal``
(CRITICAL), ``no_data`` (no result in the period, or UNKNOWN: a result that
could not be judged — its summary is the remark).  Renderers translate them
through the catalogs (正常 / 警告 / 异常 / 无数据).

Ticket SLA outcome (:func:`collector.ticket_history.outcomes`): ``met`` when
the deadline was kept (acknowledged or resolved before it, and not marked
breached), ``breached`` when it was marked breached, kept late or passed
unanswered, ``pending`` when the deadline is still running at the end of the
period.  A ticket line shows the ticket as it stood at the end of the period,
from its history (:mod:`collector.ticket_history`), whenever the record is
issued.

A builder (:mod:`collector.records.kinds`) returns a :class:`RecordContent`;
:func:`canonical` and :func:`digest` define the stored form.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import orjson

from checks.languages import LANGUAGES
from collector import record_kinds

__all__ = [
    "KINDS",
    "LANGUAGES",
    "SCHEMA",
    "VERDICTS",
    "Anomaly",
    "BackupEvidence",
    "Gap",
    "Header",
    "RecordContent",
    "Row",
    "Section",
    "Signature",
    "TicketLine",
    "Verdict",
    "canonical",
    "digest",
    "verdict_of_status",
    "worse",
]

SCHEMA = 1
KINDS = record_kinds.NAMES  # declared in collector/record_kinds.py
Verdict = Literal["normal", "warning", "abnormal", "no_data"]
VERDICTS: tuple[Verdict, ...] = ("normal", "warning", "abnormal", "no_data")
# How bad a verdict is ("the worst in the period"): abnormal > no_data (not judged) > warning > normal.
_RANK = {"normal": 0, "warning": 1, "no_data": 2, "abnormal": 3}


def verdict_of_status(status: int) -> Verdict:
    """OK → normal, WARNING → warning, CRITICAL → abnormal, UNKNOWN (or anything else) → no_data."""
    # the dict literal widens to str; every value is a Verdict
    return {0: "normal", 1: "warning", 2: "abnormal"}.get(int(status), "no_data")  # type: ignore[return-value]  # see above


def worse(a: Verdict, b: Verdict) -> Verdict:
    """The worse of two verdicts (abnormal > no_data > warning > normal)."""
    return a if _RANK[a] >= _RANK[b] else b


@dataclass(slots=True)
class Header:
    site: str
    customer: str
    systems: list[str]
    hosts: list[str]
    kind: str
    period_from: str
    period_to: str
    period_start: str
    period_end: str
    timezone: str
    inspector: str
    generated_at: str
    language: str
    origin: str = "manual"
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(VERDICTS, 0))


@dataclass(slots=True)
class Row:
    host: str
    check: str
    item: str
    label: str
    standard: str
    value: float | None
    unit: str
    measured: str
    verdict: Verdict
    remark: str
    summary: str
    at: str | None
    results: int
    bad: int
    worst: Verdict


@dataclass(slots=True)
class Gap:
    host: str
    check: str | None
    item: str | None
    label: str
    last_seen: str | None
    remark: str


@dataclass(slots=True)
class Anomaly:
    host: str
    check: str
    item: str
    label: str
    verdict: Verdict
    worst: Verdict
    bad: int
    summary: str
    suggestion: str
    recovered: bool


@dataclass(slots=True)
class TicketLine:
    id: int
    host: str
    check: str
    item: str
    severity: int
    level_name: str
    summary: str
    state: str
    opened_at: str
    acknowledged_at: str | None
    resolved_at: str | None
    closed_at: str | None
    response_due: str
    resolve_due: str
    events: list[str]
    response: str
    resolution: str
    onsite_requested_at: str | None = None
    onsite_due: str | None = None
    onsite: str | None = None  # met | breached | pending; None: no on-site visit requested
    response_term: str = ""  # the terms as the policy wrote them, in the record's language ("" if unknown)
    resolve_term: str = ""


@dataclass(slots=True)
class BackupEvidence:
    host: str
    check: str
    item: str
    label: str
    last_good_at: str | None
    size_bytes: float | None
    size: str
    verdict: Verdict
    remark: str


@dataclass(slots=True)
class Section:
    """A titled table any kind may add; renderers show it as it is (text already in the record's language)."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[str | int | float | None]]
    note: str = ""


@dataclass(slots=True)
class RecordContent:
    """What a record says.  ``to_json()`` is what is stored and digested."""

    header: Header
    rows: list[Row] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    tickets: list[TicketLine] = field(default_factory=list)
    backup_evidence: list[BackupEvidence] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["schema"] = SCHEMA
        return out


@dataclass(frozen=True, slots=True)
class Signature:
    """One sign-off, appended after issue: who, as what, when, and the digest they signed."""

    signer: str
    role: str  # engineer | customer
    signed_at: str
    note: str
    digest: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def canonical(content: dict[str, Any]) -> bytes:
    """The stored form: JSON with sorted keys, UTF-8, no whitespace."""
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS)


def digest(data: bytes) -> str:
    """SHA-256 of the canonical bytes, lowercase hex."""
    return hashlib.sha256(data).hexdigest()
