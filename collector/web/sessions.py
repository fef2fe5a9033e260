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

Every login, refused ones included, and every logout is written to the
audit log (:mod:`collector.audit`) — who (for a refused token: nobody known),
from where, and why it was refused; never the token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine

from collector import audit
from collector.auth import Agent, Person, Role, authenticate
from collector.keys import Keyring, default_keyring
from collector.store import archive as store
from collector.store.db import DatabaseClock, reading, time_on, writing

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
    def __init__(self, engine: Engine, clock: Callable[[], datetime] | None = None,
                 keys: Keyring | None = None) -> None:
        self.engine = engine
        self.clock = clock or DatabaseClock(engine)  # expiry is decided by the clock all collectors share
        self.keys = keys if keys is not None else default_keyring()

    def login(self, token: str) -> tuple[str, Person] | None:
        """A new session id for the person ``token`` belongs to; None for anything else."""
        token = token.strip()
        principal = authenticate(self.engine, token) if token and len(token) <= 200 else None
        now = self.clock()
        if not isinstance(principal, Person):
            refused = ("no token" if not token else "not a token" if len(token) > 200
                       else "an agent's token" if isinstance(principal, Agent) else "unknown or revoked token")
            with writing(self.engine) as conn:
                audit.append(conn, self.keys, actor="", action="login", outcome="failed", target="",
                             detail={"reason": refused}, at=now)
            log.info("web login refused: %s", refused)
            return None
        session_id = secrets.token_urlsafe(32)
        with writing(self.engine) as conn:
            store.delete_expired_sessions(conn, now)
            store.insert_session(conn, id_hash=_hash(session_id), user_name=principal.name, created_at=now,
                                 expires_at=now + SESSION_TTL)
            audit.append(conn, self.keys, actor=principal.name, action="login", target=f"user:{principal.name}",
                         at=now)
        log.info("web login: %s", principal.name)
        return session_id, principal

    def person(self, session_id: str | None) -> Person | None:
        """Who a session belongs to, or None (missing, unknown, expired, user removed)."""
        if not session_id or len(session_id) > 100:
            return None
        with reading(self.engine) as conn:
            row = store.session_person(conn, _hash(session_id), time_on(self.clock, conn))
        if row is None or row.role not in Role.__members__:
            return None
        return Person(name=row.name, role=Role[row.role])

    def logout(self, session_id: str, person: Person) -> None:
        with writing(self.engine) as conn:
            store.delete_session(conn, _hash(session_id))
            audit.append(conn, self.keys, actor=person.name, action="logout", target=f"user:{person.name}",
                         at=self.clock())
