"""A check result on the wire, a batch of them, what ingest answers, stored results."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, StringConstraints, model_validator

from checks.result import (
    MAX_DURATION_MS,
    MAX_ITEM_LEN,
    MAX_MESSAGE_ARGS,
    MAX_MESSAGE_DEPTH,
    MAX_METRICS,
    MAX_NAME_LEN,
    MAX_STANDARD_LEN,
    MAX_SUMMARY_LEN,
    UNITS,
    Message,
    ResultError,
)
from collector.api.models.common import ANSWER, STRICT, Name, Number, Status, Time, finite, iso_time, not_bool


class WireMetric(BaseModel):
    """One measured value: base units (bytes, seconds) except percentages (0-100)."""

    model_config = STRICT
    name: Name
    value: Annotated[Number | None, AfterValidator(finite)] = None
    unit: Literal[tuple(sorted(UNITS))] = ""  # type: ignore[valid-type]  # a Literal built from the wire model's units
    warn: Number | None = None
    crit: Number | None = None
    min: Number | None = None
    max: Number | None = None


class WireMessage(BaseModel):
    """A summary or standard as a message key with its arguments (``checks/messages``)."""

    model_config = STRICT
    key: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$", max_length=MAX_NAME_LEN)] = Field(
        description="e.g. backup_files.missed; a key the collector does not know shows the summary")
    args: dict[Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")], Any] = Field(
        {}, max_length=MAX_MESSAGE_ARGS,
        description=f"scalars (finite numbers; strings of at most {MAX_SUMMARY_LEN} characters), nested messages "
                    f"or lists of at most {MAX_MESSAGE_ARGS} of them, at most {MAX_MESSAGE_DEPTH} levels deep")

    @model_validator(mode="before")
    @classmethod
    def _as_the_wire_reads_it(cls, data: Any) -> Any:
        # the nested arguments' rules (depth, names, finite numbers) are the wire reader's, not repeated here
        try:
            Message.from_wire(data)
        except ResultError as exc:
            raise ValueError(str(exc)) from None
        return data


class WireResult(BaseModel):
    """A check result as the agent sends it (``checks/result.py``, wire version 1)."""

    model_config = STRICT
    v: Annotated[Literal[1], BeforeValidator(not_bool)] = 1
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
    started_at: Annotated[str, AfterValidator(iso_time), Field(
        json_schema_extra={"format": "date-time"},
        description="ISO-8601 with a UTC offset; the collector refuses one before 2000-01-01 or more than "
                    "1 day ahead of its clock")]
    duration_ms: Annotated[float, Field(ge=0, le=MAX_DURATION_MS, allow_inf_nan=False)] = 0.0
    message: WireMessage | None = None
    standard_message: WireMessage | None = None


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
    model_config = ANSWER
    accepted: list[str] = Field(description="ids this request stored")
    duplicates: list[str] = Field(description="ids that were stored already")
    server_time: Time


class StoredResult(BaseModel):
    model_config = ANSWER
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
    message: WireMessage | None = None
    standard_message: WireMessage | None = None


class ResultList(BaseModel):
    model_config = ANSWER
    results: list[StoredResult]
