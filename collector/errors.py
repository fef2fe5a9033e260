"""The one base of the services' refusals: what a client asked cannot be done, and why.

``str(exc)`` says what is wrong in words a client can act on; ``status_code`` is the HTTP
answer (404 not found, 409 not in a state that allows it, 422 a bad value).  The app answers
every one the same way, ``{"detail": str(exc)}`` with its status (one handler in
:mod:`collector.app`); the pages show it on their own error page.  The tickets, the records
and the service archive raise their subclasses (TicketError, RecordError, ArchiveError).
"""

from __future__ import annotations

__all__ = ["ServiceError"]


class ServiceError(Exception):
    status_code = 400
