"""Tickets, their history, follow-ups, and the bodies people send."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from collector.api.models.common import ANSWER, Name, Status, Time

TicketState = Literal["open", "acknowledged", "resolved", "closed"]


class Term(BaseModel):
    model_config = ANSWER
    within: str = Field(examples=["2 hours", "3 working days"])
    clock: Literal["24x7", "business"]


class Ticket(BaseModel):
    model_config = ANSWER
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
    model_config = ANSWER
    at: Time
    actor: str
    action: str
    from_state: TicketState | None
    to_state: TicketState | None
    note: str | None


class Followup(BaseModel):
    """The customer follow-up (回访) recorded for a resolved ticket."""

    model_config = ANSWER
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
    model_config = ANSWER
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
