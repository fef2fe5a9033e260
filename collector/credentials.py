"""The lifecycle of credentials: agent tokens (list, revoke, rotate) and people (list, disable, new token).

Every change is audited in its own transaction (``token.revoke``, ``token.rotate``,
``user.disable``, ``user.token``); a token is never written anywhere but to the caller.

**Revocation** takes effect at the next request on every collector: tokens are looked up
in the database at each request (:func:`collector.auth.authenticate`), nothing is cached.

**Rotation** makes a new token with the old one's hosts and gives the old one an expiry
(the grace period, default 24 h).  The new token is printed once, as ever, and also
*sealed* for the agent: encrypted (AES-GCM) with a key derived from the collector's
signing key (:meth:`collector.keys.Keyring.derive`), which is not in the database, and
bound to the old token's row.  While the grace runs, every answer to the old token carries
``Wardround-Token-Expires``; the agent then calls ``GET /api/v1/agent/token`` with the old
token, receives the new one, writes it to its ``token_file`` and uses it.  So rotation
needs no hand work, a database dump alone yields no token, and once the grace is over the
old token (and its sealed successor) is useless.  A token that may have leaked is revoked,
not rotated: its holder could fetch the successor.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from checks.result import format_time
from collector import audit
from collector.auth import AGENT_PREFIX, USER_PREFIX, Agent, AuthError, hash_token, insert_agent_token, new_token
from collector.keys import Keyring, default_keyring
from collector.messages import tsay
from collector.store import fleet as store
from collector.store.db import reading, writing

__all__ = [
    "DEFAULT_GRACE",
    "ROTATION_HEADER",
    "CredentialNotFound",
    "Rotated",
    "disable_user",
    "list_tokens",
    "list_users",
    "new_user_token",
    "revoke_token",
    "rotate_token",
    "successor",
]

DEFAULT_GRACE = timedelta(hours=24)
MAX_GRACE = timedelta(days=90)
ROTATION_HEADER = "Wardround-Token-Expires"
_PURPOSE = "agent token rotation"


class CredentialNotFound(AuthError):
    """No such token, host or person (HTTP 404, exit code 1)."""

    status_code = 404
    exit_code = 1


@dataclass(frozen=True, slots=True)
class Rotated:
    token: str
    old_expires_at: datetime
    also_hosts: tuple[str, ...]


def _seal(keys: Keyring, token: str, old_id: int) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    box = AESGCM(keys.derive(_PURPOSE)).encrypt(nonce, token.encode(), f"token:{old_id}".encode())
    return base64.b64encode(nonce + box).decode("ascii")


def _open(keys: Keyring, sealed: str, old_id: int) -> str | None:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        raw = base64.b64decode(sealed)
        return AESGCM(keys.derive(_PURPOSE)).decrypt(raw[:12], raw[12:], f"token:{old_id}".encode()).decode()
    except (InvalidTag, ValueError):  # sealed with a key since rotated, or damaged
        return None


def _state(row: Any, now: datetime) -> str:
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None:
        return "expired" if row.expires_at <= now else "rotating"
    return "active"


def list_tokens(engine: Engine, site: str | None = None) -> list[dict[str, Any]]:
    """Every agent token (never its secret): id, site, host, state, created/revoked/expires, and the names
    of the further hosts it writes for (``also_hosts``, ``--also-host``; sorted)."""
    now = datetime.now(UTC)
    with reading(engine) as conn:
        rows = store.list_tokens(conn, site)
    tokens: dict[int, dict[str, Any]] = {}
    for r in rows:
        t = tokens.setdefault(r.id, {"id": r.id, "site": r.site, "host": r.host, "state": _state(r, now),
                                     "created_at": format_time(r.created_at),
                                     "revoked_at": format_time(r.revoked_at) if r.revoked_at else None,
                                     "expires_at": format_time(r.expires_at) if r.expires_at else None,
                                     "replaced_by": r.successor_id, "also_hosts": []})
        if r.also_host is not None:
            t["also_hosts"].append(r.also_host)
    return list(tokens.values())


def revoke_token(engine: Engine, *, site: str, host: str, actor: str | None = None,
                 keys: Keyring | None = None) -> list[int]:
    """Revoke every token of ``site``/``host`` that still works (at once: 401); their ids."""
    now = datetime.now(UTC)
    with writing(engine) as conn:
        ids = store.revoke_tokens(conn, site, host, now)
        if not ids:
            raise CredentialNotFound(tsay("errors.auth.no_token", site=site, host=host))
        audit.append(conn, keys or default_keyring(), actor=actor or audit.local_actor(), action="token.revoke",
                     target=f"token:{site}/{host}", detail={"ids": ids}, at=now)
    return ids


def rotate_token(engine: Engine, *, site: str, host: str, grace: timedelta = DEFAULT_GRACE,
                 actor: str | None = None, keys: Keyring | None = None) -> Rotated:
    """A new token for ``site``/``host``; the current ones work for ``grace`` more, and hand it on."""
    if not timedelta(0) <= grace <= MAX_GRACE:
        raise AuthError(tsay("errors.auth.grace", days=MAX_GRACE.days))
    keys = keys or default_keyring()
    now = datetime.now(UTC)
    token = new_token(AGENT_PREFIX)
    with writing(engine) as conn:
        current = [r for r in store.live_tokens(conn, site, host, now) if r.successor_id is None]
        if not current:
            raise CredentialNotFound(tsay("errors.auth.no_token_rotate", site=site, host=host))
        also = sorted({h for r in current for h in store.token_hosts(conn, r.id)})
        new_id = insert_agent_token(conn, site=site, host=host, token=token, also_hosts=also, now=now)
        expires = now + grace
        for r in current:
            store.set_token(conn, r.id, {"expires_at": expires, "successor_id": new_id,
                                         "successor_box": _seal(keys, token, r.id)})
        audit.append(conn, keys, actor=actor or audit.local_actor(), action="token.rotate",
                     target=f"token:{site}/{host}",
                     detail={"old": [r.id for r in current], "new": new_id, "old_expires_at": format_time(expires)},
                     at=now)
    return Rotated(token=token, old_expires_at=expires, also_hosts=tuple(also))


def successor(engine: Engine, agent: Agent, keys: Keyring | None = None) -> str | None:
    """The token that replaces ``agent``'s rotated one (for the agent itself), or None."""
    if agent.token_id is None or agent.expires_at is None:
        return None
    with reading(engine) as conn:
        row = store.token_row(conn, agent.token_id)
    if row is None or row.successor_box is None:
        return None
    return _open(keys or default_keyring(), row.successor_box, row.id)


# -- people -----------------------------------------------------------------------------------

def list_users(engine: Engine) -> list[dict[str, Any]]:
    with reading(engine) as conn:
        rows = store.list_users(conn)
    return [{"name": r.name, "role": r.role, "created_at": format_time(r.created_at),
             "disabled_at": format_time(r.disabled_at) if r.disabled_at else None,
             "state": "disabled" if r.disabled_at else "active"} for r in rows]


def disable_user(engine: Engine, name: str, *, actor: str | None = None, keys: Keyring | None = None) -> None:
    """Disable a person: their token and their open page sessions stop working at once."""
    now = datetime.now(UTC)
    with writing(engine) as conn:
        row = store.user_row(conn, name)
        if row is None:
            raise CredentialNotFound(tsay("errors.auth.no_person", name=repr(name)))
        if row.disabled_at is None:
            store.set_user(conn, name, {"disabled_at": now})
        store.end_sessions(conn, name)
        audit.append(conn, keys or default_keyring(), actor=actor or audit.local_actor(), action="user.disable",
                     target=f"user:{name}", at=now)


def new_user_token(engine: Engine, name: str, *, actor: str | None = None, keys: Keyring | None = None) -> str:
    """A new API token for ``name`` (shown once); the old one and their page sessions stop working.

    A disabled person is enabled again by this: issuing them a token is the decision to let them in.
    """
    token = new_token(USER_PREFIX)
    now = datetime.now(UTC)
    with writing(engine) as conn:
        row = store.user_row(conn, name)
        if row is None:
            raise CredentialNotFound(tsay("errors.auth.no_person", name=repr(name)))
        store.set_user(conn, name, {"token_hash": hash_token(token), "disabled_at": None})
        store.end_sessions(conn, name)
        audit.append(conn, keys or default_keyring(), actor=actor or audit.local_actor(), action="user.token",
                     target=f"user:{name}", detail={"enabled_again": row.disabled_at is not None}, at=now)
    return token
