"""Browser sessions of people and the CSRF tokens of their forms.

A person logs in with their API token (``wru_...``); the collector checks it
against the users table and answers with a session cookie holding a fresh
random session id.  Only the SHA-256 of the id is stored (``web_sessions``),
so a copy of the database opens no session.  The cookie is ``HttpOnly``,
``SameSite=Strict``, ``Secure`` when the page came over HTTPS, and lives
:data:`SESSION_TTL`.  The person's role is read from the users table at
every request, so a changed or removed user takes effect at once.

Every form that changes something carries a CSRF token derived from the
session id (HMAC-SHA256 with a fixed label): an attacker's page can
neither read it nor, with ``SameSite=Strict``, send the cookie.

States of a session: *live* until it expires or its person logs out; an
expired row is deleted at the next login of anybody.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from collector.auth import Person, Role, authenticate
from collector.store import archive as store
from collector.store.db import reading, writing

__all__ = ["COOKIE", "SESSION_TTL", "Sessions", "csrf_ok", "csrf_token"]

log = logging.getLogger(__name__)

COOKIE = "wardround_session"
SESSION_TTL = timedelta(hours=12)


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


def csrf_token(session_id: str) -> str:
    """The CSRF token of the forms of this session."""
    key = session_id.encode("utf-8", "surrogatepass")
    return hmac.new(key, b"wardround-csrf", hashlib.sha256).hexdigest()


def csrf_ok(session_id: str, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(csrf_token(session_id), token or "")


class Sessions:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.clock = clock

    def login(self, token: str) -> tuple[str, Person] | None:
        """A new session id for the person ``token`` belongs to; None for anything else."""
        token = token.strip()
        if not token or len(token) > 200:
            return None
        principal = authenticate(self.engine, token)
        if not isinstance(principal, Person):
            return None
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        with writing(self.engine) as conn:
            store.delete_expired_sessions(conn, now)
            store.insert_session(conn, id_hash=_hash(session_id), user_name=principal.name, created_at=now,
                                 expires_at=now + SESSION_TTL)
        log.info("web login: %s", principal.name)
        return session_id, principal

    def person(self, session_id: str | None) -> Person | None:
        """Who a session belongs to, or None (missing, unknown, expired, user removed)."""
        if not session_id or len(session_id) > 100:
            return None
        with reading(self.engine) as conn:
            row = store.session_person(conn, _hash(session_id), self.clock())
        if row is None or row.role not in Role.__members__:
            return None
        return Person(name=row.name, role=Role[row.role])

    def logout(self, session_id: str) -> None:
        with writing(self.engine) as conn:
            store.delete_session(conn, _hash(session_id))
