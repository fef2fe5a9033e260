"""The one base of the services' refusals: what a client asked cannot be done, and why.

``str(exc)`` says what is wrong in words a client can act on; ``status_code`` is the HTTP
answer.  The app answers every one the same way, ``{"detail": str(exc)}`` with its status (one
handler in :mod:`collector.app`); the pages show it on their own error page.  The tickets, the
records and the service archive raise their subclasses (TicketError, RecordError,
ArchiveError), each of which takes its status from one of the kinds here::

    ServiceError   400
    ├── NotFound   404  no such thing
    ├── Conflict   409  not in a state that allows it
    └── Invalid    422  a bad value; the message names it

A service's own refusal of a kind is both: ``class TicketNotFound(TicketError, NotFound)``.

The refusals of :mod:`collector.auth` (tokens, people, enrolments: not ServiceErrors, they carry
exit codes for the commands) are answered by :func:`refusal`: when the words carry a message key
(a :class:`checks.messages.Said`: an enrolment refused, ``cli.enrol.*``) the body is
``{"detail": "...", "message": {"key": ..., "args": {...}}}`` — the detail stays the English text
every client reads, and a client that knows the key (the agent's ``enrol``) says it in its
reader's language.  An HTTPException's or an IngestError's detail made with ``cli_said`` (``cli.refusal.*``:
a token of the wrong kind, a foreign batch, a body too large) is answered the same way (:func:`said_body`).
A ServiceError's body stays ``{"detail": ...}``.
"""

from __future__ import annotations

from typing import Any

from checks.messages import answer_body

__all__ = ["Conflict", "Invalid", "NotFound", "ServiceError", "refusal"]


def refusal(exc: Exception) -> dict[str, Any]:
    """The JSON body of a refused request: its words, and their message key when they carry one."""
    body: dict[str, Any] = {"detail": str(exc)}
    return said_body(exc.args[0] if exc.args else "", body)


def said_body(detail: Any, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"detail": detail}`` (or ``body``), with ``"message"`` when ``detail`` is a keyed text (a
    :class:`checks.messages.Said`: an HTTPException's or IngestError's detail made with ``cli_said``)."""
    return answer_body(detail, body)


class ServiceError(Exception):
    status_code = 400


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    status_code = 409


class Invalid(ServiceError):
    status_code = 422
