"""The wire shapes of the HTTP API as pydantic models: what ``/openapi.json`` documents.

The handlers answer with orjson-rendered dicts (no model in the hot path) and
read bodies themselves (size caps, gzip); these models *describe* those
shapes, and tests hold them to it: every answer in the schemathesis run
(tests/collector/test_api_fuzz.py) must validate against its model, and
:class:`WireResult` — the schema of a check result — is proved by a property
test to accept exactly what ``checks.result.Result.from_wire`` (the fast
validator ingest uses) accepts (tests/collector/test_api_models.py).

Response models forbid members they do not name, so an answer that grows a
field the document does not mention fails the schema test.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from checks.result import (
    MAX_ITEM_LEN,
    MAX_METRICS,
    MAX_NAME_LEN,
    MAX_STANDARD_LEN,
    MAX_SUMMARY_LEN,
    NAME_PATTERN,
    UNITS,
    parse_time,
)

__all__ = [
    "AgentConfig", "AgentTokenInfo", "AgentTokenList", "EnrolIn", "EnrolKey", "EnrolKeyIn", "EnrolKeyList",
    "EnrolKeyMade", "EnrolKeyRevoked", "Enrolled", "FleetApplied", "FleetIn", "FleetShow", "FleetVersion",
    "HostApproved", "HostRef", "HostRetired", "Person", "PersonList", "PersonState", "PersonToken", "Revoked",
    "TokenHandOver", "TokenRotate",
    "AgentReport", "ArchiveEntry", "ArchiveEntryIn", "ArchiveList", "AuditEntry", "AuditList", "Error", "Followup",
    "Health", "Host", "HostList", "IngestAnswer", "RecordFull", "RecordIssue", "RecordList", "RecordSign",
    "RecordSummary", "ResultBatch", "ResultList", "StoredResult", "Ticket", "TicketFollowedUp", "TicketFollowup",
    "TicketList", "TicketNote", "TicketOpen", "TicketWithHistory", "Verification", "WireMetric", "WireResult",
]

_STRICT = ConfigDict(strict=True, extra="forbid")
_ANSWER = ConfigDict(extra="forbid")

Name = Annotated[str, StringConstraints(pattern=f"^{NAME_PATTERN}$", max_length=MAX_NAME_LEN)]
Time = Annotated[str, Field(description="ISO-8601 UTC with a Z suffix, e.g. 2026-11-23T08:00:00.123456Z")]
Status = Annotated[int, Field(ge=0, le=3, description="0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN")]
Number = Annotated[float, Field(allow_inf_nan=False)]


def _iso_time(value: str) -> str:
    parse_time(value)  # ISO-8601 with an offset, within Python's calendar after conversion to UTC
    return value


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):  # JSON's true is not the number 1
        raise ValueError("expected the number 1")
    return value


def _finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError("expected a finite number")
    return value


# -- a check result on the wire ---------------------------------------------------------------

class WireMetric(BaseModel):
    """One measured value: base units (bytes, seconds) except percentages (0-100)."""

    model_config = _STRICT
    name: Name
    value: Annotated[Number | None, AfterValidator(_finite)] = None
    unit: Literal[tuple(sorted(UNITS))] = ""  # type: ignore[valid-type]
    warn: Number | None = None
    crit: Number | None = None
    min: Number | None = None
    max: Number | None = None


class WireResult(BaseModel):
    """A check result as the agent sends it (``checks/result.py``, wire version 1)."""

    model_config = _STRICT
    v: Annotated[Literal[1], BeforeValidator(_not_bool)] = 1
    id: Annotated[str, StringConstraints(pattern="^[0-9a-f]{32}$")] = Field(
        description="unique, assigned by the agent, stable across retries (32 lowercase hex digits)")
    site: Name
    host: Name
    check: Name
    item: Annotated[str, StringConstraints(max_length=MAX_ITEM_LEN)] = ""
    status: Status
    summary: Annotated[str, StringConstraints(max_length=MAX_SUMMARY_LEN)]
    standard: Annotated[str, StringConstraints(max_length=MAX_STANDARD_LEN)] = ""
    metrics: Annotated[list[WireMetric], Field(max_length=MAX_METRICS)] = []
    details: dict[str, Any] = {}
    started_at: Annotated[str, AfterValidator(_iso_time), Field(
        json_schema_extra={"format": "date-time"},
        description="ISO-8601 with a UTC offset; the collector refuses one before 2000-01-01 or more than "
                    "1 day ahead of its clock")]
    duration_ms: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0


class AgentReport(BaseModel):
    """What the agent says about itself; a member that does not fit is ignored, never a reason to refuse."""

    time: Time | None = None
    spool_backlog: int | None = Field(None, ge=0)
    version: str | None = Field(None, max_length=64)
    config_version: str | None = Field(None, max_length=64, description="the central config the agent runs")


class ResultBatch(BaseModel):
    """``POST /api/v1/results``: all or nothing (see docs/api.md)."""

    results: list[WireResult]
    agent: AgentReport | None = None


class IngestAnswer(BaseModel):
    model_config = _ANSWER
    accepted: list[str] = Field(description="ids this request stored")
    duplicates: list[str] = Field(description="ids that were stored already")
    server_time: Time


class StoredResult(BaseModel):
    model_config = _ANSWER
    v: Literal[1]
    id: str
    site: str
    host: str
    check: str
    item: str
    status: Status
    summary: str
    standard: str
    metrics: list[dict[str, Any]]
    details: dict[str, Any]
    started_at: Time
    duration_ms: float
    received_at: Time


class ResultList(BaseModel):
    model_config = _ANSWER
    results: list[StoredResult]


# -- hosts ---------------------------------------------------------------------------------------

class Host(BaseModel):
    """A host of the inventory (docs/fleet.md): enrolled, or known from its results."""

    model_config = _ANSWER
    site: str
    host: str
    roles: list[str]
    facts: dict[str, Any] = Field(description="OS, version, addresses, agent version as the host said at enrolment")
    enrolled: bool = Field(description="false: known only from its results (checked through another's token)")
    enrolled_at: Time | None
    enrolled_via: str | None = Field(description="key N, token, or report")
    approval: Literal["approved", "awaiting"] | None
    retired_at: Time | None
    never_reported: bool
    last_seen: Time | None
    first_seen: Time | None
    worst_status: Status | None
    worst_status_name: Literal["OK", "WARNING", "CRITICAL", "UNKNOWN"] | None
    checks: int
    status_counts: dict[str, int]
    clock_offset_s: float | None
    spool_backlog: int | None
    agent_version: str | None
    config_version: str | None = Field(description="the central config (ETag) the agent reported running")
    config: Literal["current", "behind", "none"]


class HostList(BaseModel):
    model_config = _ANSWER
    hosts: list[Host]


# -- tickets -------------------------------------------------------------------------------------

TicketState = Literal["open", "acknowledged", "resolved", "closed"]


class Term(BaseModel):
    model_config = _ANSWER
    within: str = Field(examples=["2 hours", "3 working days"])
    clock: Literal["24x7", "business"]


class Ticket(BaseModel):
    model_config = _ANSWER
    id: int
    site: str
    host: str
    check: str
    item: str
    severity: int = Field(description="the current level, 1 most severe")
    level_name: str
    initial_severity: int
    priority: int = Field(description="1 for a key customer's ticket, else 0")
    key_customer: bool
    state: TicketState
    summary: str
    reported_via: str
    reported_by: str
    occurrences: int
    last_result_id: str | None
    last_status: Status | None
    flapping: bool
    response_breached: bool
    resolve_breached: bool
    onsite_breached: bool
    reopened_count: int
    breached: bool
    opened_at: Time
    response_due: Time | None
    resolve_due: Time | None
    acknowledged_at: Time | None
    resolved_at: Time | None
    closed_at: Time | None
    last_seen_at: Time | None
    onsite_requested_at: Time | None
    onsite_due: Time | None
    updated_at: Time
    terms: dict[str, Term] | None = Field(description="the contract's terms behind the deadlines, as written "
                                                        "(response, resolve, onsite)")
    assignee: str | None = Field(description="the person the ticket is for when it is not the engineers' queue's "
                                             "(a service complaint: the site's account manager)")
    followup_due: Time | None = Field(None, description="while a resolved ticket waits for its customer "
                                                        "follow-up: when it is due (site policy followup.within)")
    followup_overdue: bool | None = Field(None, description="the follow-up is past followup_due")


class TicketEvent(BaseModel):
    model_config = _ANSWER
    at: Time
    actor: str
    action: str
    from_state: TicketState | None
    to_state: TicketState | None
    note: str | None


class Followup(BaseModel):
    """The customer follow-up (回访) recorded for a resolved ticket."""

    model_config = _ANSWER
    at: Time
    by: str = Field(description="the engineer who recorded it")
    satisfaction: int = Field(ge=1, le=5, description="1 very dissatisfied ... 5 very satisfied")
    contact: str = Field(description="who was spoken to")
    note: str
    complaint_ticket: int | None = Field(description="the service complaint a satisfaction of 2 or less opened")


class TicketWithHistory(Ticket):
    history: list[TicketEvent]
    followup: Followup | None


class TicketFollowedUp(TicketWithHistory):
    """The answer of ``POST /api/v1/tickets/{id}/followup``."""

    complaint: Ticket | None = Field(description="the service complaint opened for the account manager "
                                                 "(satisfaction 2 or less), or null")


class TicketList(BaseModel):
    model_config = _ANSWER
    tickets: list[Ticket]


class TicketOpen(BaseModel):
    """``POST /api/v1/tickets``: a ticket from people (hotline call, customer feedback)."""

    model_config = ConfigDict(extra="forbid")
    site: Name
    host: Name
    severity: int = Field(ge=1, description="within the site's level scheme (3 or 4 levels)")
    summary: str = Field(min_length=1, max_length=1000)
    reported_via: str = Field(pattern="^[a-z][a-z0-9_\\-]{0,31}$", examples=["hotline", "email", "customer"])
    check: Name | None = Field(None, description="default manual")
    item: str | None = Field(None, min_length=1, max_length=255,
                             description="default a new unique one, so each call is its own ticket")
    note: str | None = Field(None, max_length=4000)


class TicketFollowup(BaseModel):
    """``POST /api/v1/tickets/{id}/followup``: the customer follow-up of a resolved (or closed) ticket."""

    model_config = ConfigDict(extra="forbid")
    satisfaction: int = Field(ge=1, le=5, description="a whole number: 1 very dissatisfied ... 5 very satisfied; "
                                                      "2 or less opens a service complaint")
    contact: str = Field(min_length=1, max_length=100, examples=["信息科 王主任"], description="who was spoken to")
    note: str | None = Field(None, max_length=4000, description="what the customer said")


class TicketNote(BaseModel):
    """The optional body of ack/resolve/close/onsite, and the required one of comments."""

    model_config = ConfigDict(extra="allow")
    note: str | None = Field(None, max_length=4000)
    text: str | None = Field(None, max_length=4000, description="the same as note")


# -- records -------------------------------------------------------------------------------------

RecordKind = Literal["daily", "weekly", "monthly", "quarterly", "annual"]
Day = Annotated[str, Field(pattern="^\\d{4}-\\d{2}-\\d{2}$", examples=["2026-11-22"],
                           description="a day between 2000-01-01 and 2999-12-31")]


class PeriodRange(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: Day = Field(alias="from")
    to: Day


class PeriodDay(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date: Day


class RecordIssue(BaseModel):
    """``POST /api/v1/records``: issue a record now."""

    model_config = ConfigDict(extra="forbid")
    site: Name
    kind: RecordKind
    period: Day | PeriodRange | PeriodDay | None = Field(
        None, description="the period of the kind containing a day, or from-to (at most 366 days); "
                          "default the last complete period")
    date: Day | None = Field(None, description="the same as period: <date>")
    language: Literal["zh_CN", "en"] | None = None
    inspector: str | None = None


Integrity = Literal["verified", "digest_only", "failed"]


class Signature(BaseModel):
    model_config = _ANSWER
    signer: str
    role: Literal["engineer", "customer"]
    signed_at: Time
    note: str | None
    digest: str
    signed_by: str
    key_id: str | None = Field(description="the collector key that signed it; null: stored before keyed signatures")


class CheckedSignature(Signature):
    status: Integrity


class RecordPeriod(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: str = Field(alias="from")
    to: str


class RecordLinks(BaseModel):
    model_config = _ANSWER
    html: str
    pdf: str
    csv: str


class ListedLinks(RecordLinks):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    json_: str = Field(alias="json")


class _Record(BaseModel):
    model_config = _ANSWER
    id: int
    site: str
    kind: RecordKind
    period: RecordPeriod
    language: str
    origin: str
    issued_by: str
    issued_at: Time
    digest: str = Field(description="SHA-256 of the content as issued")


class RecordListed(_Record):
    """A record in a listing: without content; ``verified`` is checked when one is read."""

    signatures: list[Signature]
    links: ListedLinks


class RecordSummary(_Record):
    verified: bool = Field(description="the record, its metadata and every sign-off verify with the collector's "
                                       "key (docs/records.md)")
    integrity: Integrity
    key_id: str | None
    counts: dict[str, int]
    signatures: list[CheckedSignature]
    links: RecordLinks


class RecordFull(RecordSummary):
    content: dict[str, Any]


class RecordList(BaseModel):
    model_config = _ANSWER
    records: list[RecordListed]


class RecordSign(BaseModel):
    """``POST /api/v1/records/{id}/sign``: append a signature; the content never changes."""

    model_config = ConfigDict(extra="forbid")
    signer: str = Field(min_length=1, max_length=100)
    role: Literal["engineer", "customer"]
    note: str | None = Field(None, max_length=2000)


class SignatureCheck(CheckedSignature):
    matches: bool


class Verification(BaseModel):
    model_config = _ANSWER
    id: int
    verified: bool
    status: Integrity
    digest: str
    computed: str
    key_id: str | None
    fingerprint: str | None
    problems: list[str]
    signatures: list[SignatureCheck]


# -- service archive -----------------------------------------------------------------------------

ArchiveKind = Literal["visit", "remote", "phone", "change", "upgrade"]


class ArchiveEntry(BaseModel):
    model_config = _ANSWER
    id: int
    site: str
    host: str | None
    kind: ArchiveKind
    at: Time
    phenomenon: str
    action: str
    parts: str | None
    version: str | None
    signer: str | None
    ticket: int | None
    corrects: int | None
    corrected_by: int | None
    engineer: str
    created_at: Time


class ArchiveList(BaseModel):
    model_config = _ANSWER
    entries: list[ArchiveEntry]


class ArchiveEntryIn(BaseModel):
    """``POST /api/v1/archive``: a service call or visit, appended for good."""

    model_config = ConfigDict(extra="forbid")
    site: Name
    kind: ArchiveKind
    at: str = Field(description="ISO-8601; without an offset the site's local time; at most 10 minutes ahead",
                     examples=["2026-11-22T14:30:00+08:00"])
    phenomenon: str = Field(min_length=1, max_length=4000)
    action: str = Field(min_length=1, max_length=4000)
    host: Name | None = None
    parts: str | None = Field(None, max_length=4000)
    version: str | None = Field(None, max_length=255, description="required for an upgrade")
    signer: str | None = Field(None, max_length=128)
    ticket: int | None = Field(None, ge=1, description="a ticket of the same site")
    corrects: int | None = Field(None, ge=1, description="the entry of the same site this one replaces")


# -- audit log ---------------------------------------------------------------------------------

class AuditEntry(BaseModel):
    model_config = _ANSWER
    seq: int
    at: Time
    actor: str
    action: str = Field(examples=["ticket.ack", "record.sign", "login"])
    outcome: str
    target: str
    source: str
    detail: Any
    hash: str
    prev_hash: str
    key_id: str


class AuditList(BaseModel):
    model_config = _ANSWER
    entries: list[AuditEntry]
    next: str | None = Field(description="the URL of the next (older) page, or null")


# -- the fleet: enrolment, central config, credentials (docs/fleet.md) -----------------------------

Grace = Annotated[str, Field(max_length=32, examples=["24h", "7d"], description="a duration like 30s, 5m, 26h, 7d")]


class EnrolIn(BaseModel):
    """The name rule (1-64 letters, digits, '.', '_', '-') is checked after, with a message saying so."""

    model_config = _STRICT
    host: Annotated[str, StringConstraints(max_length=255)]
    roles: Annotated[list[Annotated[str, StringConstraints(max_length=255)]], Field(max_length=16)] = []
    facts: dict[str, Any] = Field({}, description="os, os_version, kernel, arch, hostname, ips, agent_version")
    replace: bool = False


class Enrolled(BaseModel):
    model_config = _ANSWER
    site: str
    host: str
    roles: list[str]
    token: str = Field(description="the agent token, shown this once")
    approval: Literal["approved", "awaiting"]


class AgentConfig(BaseModel):
    model_config = _ANSWER
    version: int = Field(description="the fleet file's version; 0 before any")
    etag: str
    site: str
    host: str
    roles: list[str]
    templates: list[str]
    checks: list[dict[str, Any]] = Field(description="check entries exactly as in agent.yaml")


class TokenHandOver(BaseModel):
    model_config = _ANSWER
    token: str
    old_token_expires_at: str


class AgentTokenInfo(BaseModel):
    model_config = _ANSWER
    id: int
    site: str
    host: str
    state: Literal["active", "rotating", "expired", "revoked"]
    created_at: Time
    revoked_at: Time | None
    expires_at: Time | None
    replaced_by: int | None
    also_hosts: int


class AgentTokenList(BaseModel):
    model_config = _ANSWER
    tokens: list[AgentTokenInfo]


class HostRef(BaseModel):
    model_config = _STRICT
    site: Name
    host: Name


class TokenRotate(HostRef):
    grace: Grace = "24h"


class Revoked(BaseModel):
    model_config = _ANSWER
    revoked: list[int]


class Person(BaseModel):
    model_config = _ANSWER
    name: str
    role: Literal["viewer", "engineer", "admin"]
    state: Literal["active", "disabled"]
    created_at: Time
    disabled_at: Time | None


class PersonList(BaseModel):
    model_config = _ANSWER
    users: list[Person]


class PersonState(BaseModel):
    model_config = _ANSWER
    name: str
    state: Literal["disabled"]


class PersonToken(BaseModel):
    model_config = _ANSWER
    name: str
    token: str = Field(description="shown this once")


class EnrolKey(BaseModel):
    model_config = _ANSWER
    id: int
    site: str
    roles: list[str]
    uses: int
    max_uses: int
    approve: Literal["auto", "manual"]
    state: Literal["usable", "used up", "expired", "revoked"]
    created_at: Time
    created_by: str
    expires_at: Time
    revoked_at: Time | None


class EnrolKeyList(BaseModel):
    model_config = _ANSWER
    enrol_keys: list[EnrolKey]


class EnrolKeyIn(BaseModel):
    model_config = _STRICT
    site: Name
    roles: Annotated[list[Name], Field(max_length=16)] = []
    uses: Annotated[int, Field(ge=1, le=100_000)] = 1
    expires: Grace = "7d"
    approve: Literal["auto", "manual"] = "auto"


class EnrolKeyMade(BaseModel):
    model_config = _ANSWER
    site: str
    key: str = Field(description="the enrolment key, shown this once")


class EnrolKeyRevoked(BaseModel):
    model_config = _ANSWER
    id: int
    state: Literal["revoked"]


class FleetVersion(BaseModel):
    model_config = _ANSWER
    version: int
    applied_at: Time
    applied_by: str
    file: str
    digest: str
    source: str = Field(description="the fleet file as applied (YAML)")


class FleetShow(BaseModel):
    model_config = _ANSWER
    fleet: FleetVersion | None


class FleetIn(BaseModel):
    model_config = _STRICT
    source: Annotated[str, Field(description="the fleet file (YAML), at most 1 MiB")]


class FleetApplied(BaseModel):
    model_config = _ANSWER
    version: int
    new: bool = Field(description="false: the file is the newest version already")


class HostRetired(BaseModel):
    model_config = _ANSWER
    site: str
    host: str
    state: Literal["retired"]
    revoked_tokens: list[int]


class HostApproved(BaseModel):
    model_config = _ANSWER
    site: str
    host: str
    approval: Literal["approved"]
    changed: bool


# -- the rest ------------------------------------------------------------------------------------

class ValidationProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class BatchProblem(BaseModel):
    index: int
    id: str | None
    error: str


class Error(BaseModel):
    """Every error answer: ``detail`` says what is wrong, as text or as a list of problems."""

    detail: str | list[ValidationProblem] | list[BatchProblem]


class Health(BaseModel):
    model_config = _ANSWER
    status: Literal["ok", "unavailable"]
    detail: str | None = None
