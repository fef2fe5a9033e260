"""Tokens for agents and people.

A token is ``secrets.token_urlsafe(32)`` behind a recognisable prefix
(``wra_`` for an agent, ``wru_`` for a person), shown once and stored only
as its SHA-256 hex digest.  The tokens carry 256 bits of entropy, so a fast
hash is the right one: nothing to brute-force, and a lookup by digest is an
index probe.  Tokens are never logged.

An agent token writes results for its own site and host, and for the extra
hosts of the same site it was granted when it was made (``--also-host``):
the hosts its agent checks remotely, e.g. over SSH
(``agent_token_hosts``).

A relay token (``wrr_``, ``token create --relay --site S``; :mod:`collector.relays`) is an
:class:`Agent` with ``relay`` set: it writes results for every enrolled, approved host of its
site that is not retired, and nothing else an agent token may do (no agent config, no token
pickup).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from checks.result import is_name
from collector import audit
from collector.access import Role
from collector.keys import Keyring, default_keyring
from collector.store import fleet as fleet_store
from collector.store import relays as relay_store
from collector.store.db import reading, writing

__all__ = [
    "AGENT_PREFIX",
    "ENROL_PREFIX",
    "RELAY_PREFIX",
    "USER_PREFIX",
    "Agent",
    "AuthConflict",
    "AuthError",
    "Person",
    "Role",
    "authenticate",
    "create_agent_token",
    "create_user",
    "hash_token",
    "insert_agent_token",
    "new_token",
    "relay_principal",
]

AGENT_PREFIX = "wra_"
USER_PREFIX = "wru_"
ENROL_PREFIX = "wre_"
RELAY_PREFIX = "wrr_"


class AuthError(ValueError):
    """A request to create a token or user that cannot be honoured: a bad value (HTTP 422, exit code 2).

    Not a :class:`collector.errors.ServiceError`: the commands exit with ``exit_code``, and the
    app's own handler for these adds ``WWW-Authenticate`` to a 401 (an enrolment key refused).
    """

    status_code = 422
    exit_code = 2


class AuthConflict(AuthError):
    """It exists already (HTTP 409, exit code 1: the request was well formed)."""

    status_code = 409
    exit_code = 1


@dataclass(frozen=True, slots=True)
class Agent:
    """An authenticated agent: it writes results for this site, its host and ``also_hosts``.

    ``approved`` is False while its host awaits an administrator's approval (enrolled with a
    key made with ``--approve manual``).  ``expires_at`` is set when the token was rotated: it
    works until then, and the agent fetches its successor (``GET /api/v1/agent/token``).
    """

    site: str
    host: str
    also_hosts: frozenset[str] = frozenset()
    approved: bool = True
    token_id: int | None = field(default=None, compare=False)
    expires_at: datetime | None = field(default=None, compare=False)
    #: set for a site relay's token: its name (``host`` is the same name; it reports no host of its own)
    relay: str | None = None

    def may_write(self, site: str, host: str) -> bool:
        if self.relay is not None:  # a relay writes for its site's enrolled hosts, not for itself
            return site == self.site and host in self.also_hosts
        return site == self.site and (host == self.host or host in self.also_hosts)


@dataclass(frozen=True, slots=True)
class Person:
    """An authenticated person with a role."""

    name: str
    role: Role


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def check_name(kind: str, value: str) -> None:
    """The name rule for a site, host or person's name given on a command or in a request (AuthError, exit 2)."""
    if not is_name(value):
        from collector.messages import tsay

        raise AuthError(tsay("errors.auth.name", kind=kind, got=repr(value)))


def create_agent_token(engine: Engine, *, site: str, host: str, also_hosts: Sequence[str] = (),
                       actor: str | None = None, keys: Keyring | None = None) -> str:
    """Create and return a new agent token for ``site``/``host`` (shown once).

    ``also_hosts``: further hosts of the same site the token may write
    results for (hosts its agent checks remotely).  Every name is checked
    before anything is stored.  The audit log records ``actor`` (default: the
    local user, ``cli:<name>``) made it — never the token.
    """
    check_name("site", site)
    check_name("host", host)
    for extra in also_hosts:
        check_name("also-host", extra)
    extras = sorted(set(also_hosts) - {host})
    token = new_token(AGENT_PREFIX)
    with writing(engine) as conn:
        now = datetime.now(UTC)
        token_id = insert_agent_token(conn, site=site, host=host, token=token, also_hosts=extras, now=now)
        if fleet_store.host_row(conn, site, host) is None:  # a host with a token is enrolled
            fleet_store.add_host(conn, {"site": site, "host": host, "roles": "[]", "facts": "{}",
                                        "enrolled_at": now, "enrolled_via": "token", "approved_at": now,
                                        "retired_at": None})
        else:
            fleet_store.set_host(conn, site, host, {"retired_at": None})
        audit.append(conn, keys or default_keyring(), actor=actor or audit.local_actor(), action="token.create",
                     target=f"token:{site}/{host}", detail={"id": token_id, "also_hosts": extras})
    return token


def insert_agent_token(conn: Connection, *, site: str, host: str, token: str, also_hosts: Sequence[str],
                       now: datetime) -> int:
    """Store a new agent token (its hash) and its extra hosts; its id."""
    return fleet_store.insert_token(conn, {"site": site, "host": host, "token_hash": hash_token(token),
                                           "created_at": now}, list(also_hosts))


def new_token(prefix: str) -> str:
    """A fresh secret behind ``prefix`` (``wra_`` agent, ``wru_`` person, ``wre_`` enrolment key)."""
    return prefix + secrets.token_urlsafe(32)


def create_user(engine: Engine, *, name: str, role: str, actor: str | None = None,
                keys: Keyring | None = None) -> str:
    """Create a person with ``role`` and return their API token (shown once); audited like tokens."""
    check_name("name", name)
    if role not in Role.__members__:
        raise AuthError(f"role: expected one of {', '.join(Role.__members__)} (got {role!r})")
    token = new_token(USER_PREFIX)
    try:
        with writing(engine) as conn:
            fleet_store.insert_user(conn, {"name": name, "role": role, "token_hash": hash_token(token),
                                           "created_at": datetime.now(UTC)})
            audit.append(conn, keys or default_keyring(), actor=actor or audit.local_actor(),
                         action="user.create", target=f"user:{name}", detail={"role": role})
    except IntegrityError as exc:
        from collector.messages import tsay

        raise AuthConflict(tsay("errors.auth.user_exists", name=repr(name))) from exc
    return token


def authenticate(engine: Engine, token: str, now: datetime | None = None) -> Agent | Person | None:
    """The principal ``token`` belongs to, or None if it is unknown, revoked, expired or disabled.

    Every call asks the database, so a revocation holds at once on every collector (no cache).
    """
    digest = hash_token(token)
    if token.startswith(USER_PREFIX):
        with reading(engine, statements=True) as conn:
            row = fleet_store.user_by_hash(conn, digest)
        if row is not None and hmac.compare_digest(row.token_hash, digest):
            return Person(name=row.name, role=Role[row.role])
        return None
    if token.startswith(RELAY_PREFIX):
        with reading(engine, statements=True) as conn:
            return _relay(conn, digest)
    rows = fleet_store.token_by_hash(engine, digest)
    if not rows or not hmac.compare_digest(rows[0].token_hash, digest):
        return None
    first = rows[0]
    if first.expires_at is not None and first.expires_at <= (now or datetime.now(UTC)):
        return None
    also = frozenset(r.also_host for r in rows if r.also_host is not None)
    # a host enrolled (by key) and not approved waits; a token of a host not in the inventory
    # (made before it existed, or for a retired host) is approved as it always was
    approved = first.enrolled_at is None or first.approved_at is not None
    return Agent(site=first.site, host=first.host, also_hosts=also, approved=approved, token_id=first.id,
                 expires_at=first.expires_at)


def _relay(conn: Connection, digest: str) -> Agent | None:
    """The relay whose token hashes to ``digest``: it writes for its site's live enrolled hosts."""
    row = relay_store.relay_by_token(conn, digest)
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return relay_principal(conn, row.id, row.site, row.name)


def relay_principal(conn: Connection, relay_id: int, site: str, name: str) -> Agent:
    """Relay ``name`` of ``site`` as a principal: it writes for the site's enrolled, approved, live hosts."""
    hosts = relay_store.approved_hosts(conn, site)
    return Agent(site=site, host=name, also_hosts=frozenset(hosts), token_id=relay_id, relay=name)
