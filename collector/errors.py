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
"""

from __future__ import annotations

__all__ = ["Conflict", "Invalid", "NotFound", "ServiceError"]


class ServiceError(Exception):
    status_code = 400


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    status_code = 409


class Invalid(ServiceError):
    status_code = 422
