"""Inspection records: issue, list, summary, full, sign, verify."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from collector import record_kinds
from collector.api.models.common import ANSWER, Name, Time

RecordKind = Literal[record_kinds.NAMES]  # type: ignore[valid-type]  # a Literal of the declared names
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
    model_config = ANSWER
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
    model_config = ANSWER
    html: str
    pdf: str
    csv: str


class ListedLinks(RecordLinks):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    json_: str = Field(alias="json")


class _Record(BaseModel):
    model_config = ANSWER
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
    model_config = ANSWER
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
    model_config = ANSWER
    id: int
    verified: bool
    status: Integrity
    digest: str
    computed: str
    key_id: str | None
    fingerprint: str | None
    problems: list[str]
    signatures: list[SignatureCheck]
