"""Enrolment: site keys, and a host joining its site with one (``POST /api/v1/enrol``).

A key (``wre_`` + 256 random bits, stored as its SHA-256) belongs to one site, may carry
roles, is good for ``max_uses`` enrolments (default 1) until it expires (default 7 days),
and may require approval (``approve: manual``).  An enrolment, in one transaction:

1. the key must be known (else 401), not revoked, not expired, not used up (else 403,
   saying which), and, through a site relay (``Wardround-Relay-Site``), of the relay's site (else 403:
   a host of another site would meet 401 at that relay for ever);
2. the host name must be a valid name (422) and, in the key's site, not enrolled already
   unless ``replace`` (409): ``replace`` revokes the host's old tokens;
3. one use of the key is counted (a row lock: two collectors cannot both spend the last);
4. the host is put in the inventory with the key's roles plus the ones it asked for, its
   facts (OS, version, addresses, agent version), approved now or awaiting approval;
5. a new agent token is made and answered once.

A refused enrolment changes nothing but the audit log (``host.enrol``, outcome ``failed``,
with the reason; never the key).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine

from checks.entries import NAME_HINT, is_name
from checks.messages.reader import cli_said
from checks.result import format_time
from collector import audit
from collector.access import APPROVE
from collector.auth import AGENT_PREFIX, ENROL_PREFIX, AuthError, hash_token, insert_agent_token, new_token
from collector.keys import Keyring, default_keyring
from collector.messages import tsay
from collector.store import fleet as store
from collector.store.db import reading, writing

__all__ = ["APPROVE", "RELAY_SITE_HEADER", "EnrolError", "Enrolled", "create_key", "enrol", "list_keys",
           "parse_request", "refuse_unknown_key", "revoke_key"]

#: the header a site relay adds to an enrolment it passes on: the site it serves (agent/relay_http.py)
RELAY_SITE_HEADER = "Wardround-Relay-Site"

DEFAULT_EXPIRY = timedelta(days=7)
MAX_EXPIRY = timedelta(days=365)
MAX_USES = 100_000
MAX_ROLES = 16
_FACT_KEYS = {"os": 64, "os_version": 128, "kernel": 128, "arch": 32, "hostname": 255, "agent_version": 64,
              "python": 32}
MAX_IPS = 32


class EnrolError(AuthError):
    """An enrolment or key request that is refused; ``status_code`` for the API."""

    status_code = 422

    def __init__(self, message: str, status_code: int = 422):
        super().__init__(message)
        self.status_code = status_code
        self.exit_code = 2 if status_code == 422 else 1


@dataclass(frozen=True, slots=True)
class Enrolled:
    site: str
    host: str
    roles: tuple[str, ...]
    token: str
    approved: bool

    def to_json(self) -> dict[str, Any]:
        return {"site": self.site, "host": self.host, "roles": list(self.roles), "token": self.token,
                "approval": "approved" if self.approved else "awaiting"}


def _roles(values: Any, where: str) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list | tuple) or len(values) > MAX_ROLES:
        raise EnrolError(tsay("errors.auth.roles_count", where=where, max=MAX_ROLES))
    for v in values:
        if not is_name(v):
            raise EnrolError(tsay("errors.auth.role_name", where=where, got=repr(str(v)[:70])))
    return sorted(set(values))


def create_key(engine: Engine, *, site: str, roles: Sequence[str] = (), uses: int = 1,
               expires: timedelta = DEFAULT_EXPIRY, approve: str = "auto", actor: str | None = None,
               keys: Keyring | None = None) -> str:
    """A new enrolment key for ``site`` (shown once; stored hashed)."""
    if not is_name(site):
        raise EnrolError(tsay("errors.auth.site", got=repr(site)))
    role_list = _roles(list(roles), "role")
    if not 1 <= uses <= MAX_USES:
        raise EnrolError(tsay("errors.auth.uses", max=MAX_USES))
    if not timedelta(minutes=1) <= expires <= MAX_EXPIRY:
        raise EnrolError(tsay("errors.auth.expires", days=MAX_EXPIRY.days, got=expires.total_seconds()))
    if approve not in APPROVE:
        raise EnrolError(tsay("errors.auth.approve", got=repr(approve)))
    key = new_token(ENROL_PREFIX)
    now = datetime.now(UTC)
    actor = actor or audit.local_actor()
    with writing(engine) as conn:
        key_id = store.insert_key(conn, {
            "site": site, "roles": orjson.dumps(role_list).decode(), "key_hash": hash_token(key),
            "max_uses": uses, "uses": 0, "approve": approve, "created_at": now, "created_by": actor[:64],
            "expires_at": now + expires, "revoked_at": None})
        audit.append(conn, keys or default_keyring(), actor=actor, action="enrolkey.create",
                     target=f"enrolkey:{key_id}",
                     detail={"site": site, "roles": role_list, "uses": uses, "approve": approve,
                             "expires_at": format_time(now + expires)}, at=now)
    return key


def list_keys(engine: Engine, site: str | None = None) -> list[dict[str, Any]]:
    """Every enrolment key (never the key): id, site, roles, uses, state, expiry."""
    now = datetime.now(UTC)
    with reading(engine) as conn:
        rows = store.list_keys(conn, site)
    return [{"id": r.id, "site": r.site, "roles": orjson.loads(r.roles), "uses": r.uses, "max_uses": r.max_uses,
             "approve": r.approve, "state": _key_state(r, now) or "usable", "created_at": format_time(r.created_at),
             "created_by": r.created_by, "expires_at": format_time(r.expires_at),
             "revoked_at": format_time(r.revoked_at) if r.revoked_at else None} for r in rows]


def revoke_key(engine: Engine, key_id: int, *, actor: str | None = None, keys: Keyring | None = None) -> None:
    now = datetime.now(UTC)
    with writing(engine) as conn:
        row = store.revoke_key(conn, key_id, now)
        if row is None:
            raise EnrolError(tsay("errors.auth.no_key", id=key_id), 404)
        audit.append(conn, keys or default_keyring(), actor=actor or audit.local_actor(), action="enrolkey.revoke",
                     target=f"enrolkey:{key_id}", detail={"site": row.site}, at=now)


def _key_state(row: Any, now: datetime) -> str | None:
    """Why the key cannot be used (revoked, expired, used up), or None."""
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at <= now:
        return "expired"
    if row.uses >= row.max_uses:
        return "used up"
    return None


@dataclass(frozen=True, slots=True)
class EnrolRequest:
    host: str
    roles: tuple[str, ...]
    facts: Mapping[str, Any]
    replace: bool


def parse_request(body: Any) -> EnrolRequest:
    """The enrolment request's body, checked; EnrolError (422) says what is wrong."""
    if not isinstance(body, dict):
        raise EnrolError('body: expected an object {"host": ..., "roles": [...], "facts": {...}}')
    unknown = set(body) - {"host", "roles", "facts", "replace"}
    if unknown:
        raise EnrolError(f"{sorted(unknown)[0][:40]}: unknown field (known: facts, host, replace, roles)")
    host = body.get("host")
    if not is_name(host):
        raise EnrolError(f"host: expected {NAME_HINT} (got {str(host)[:70]!r}); "
                         "give the agent --host NAME")
    assert isinstance(host, str)
    roles = _roles(body.get("roles"), "roles")
    replace = body.get("replace", False)
    if not isinstance(replace, bool):
        raise EnrolError("replace: expected true or false")
    raw_facts = body.get("facts") or {}
    if not isinstance(raw_facts, dict):
        raise EnrolError("facts: expected an object")
    facts: dict[str, Any] = {}
    for key, limit in _FACT_KEYS.items():
        value = raw_facts.get(key)
        if isinstance(value, str) and "\x00" not in value:
            facts[key] = value[:limit]
    ips = raw_facts.get("ips")
    if isinstance(ips, list):
        facts["ips"] = [ip[:64] for ip in ips[:MAX_IPS] if isinstance(ip, str) and "\x00" not in ip]
    return EnrolRequest(host=host, roles=tuple(roles), facts=facts, replace=replace)


_CREATE = "wardround-collector enrol-key create"


def _unknown() -> str:
    return cli_said("cli.enrol.unknown_key", command=_CREATE)


def refuse_unknown_key(engine: Engine, key: str, *, keys: Keyring | None = None) -> None:
    """EnrolError 401 (audited) unless ``key`` is a key the collector made: before the body is read."""
    if key.startswith(ENROL_PREFIX):
        with reading(engine) as conn:
            if store.find_key(conn, hash_token(key)) is not None:
                return
    with writing(engine) as conn:
        audit.append(conn, keys or default_keyring(), actor="", action="host.enrol", outcome="failed",
                     target="host:?/?", detail={"reason": "unknown enrolment key"})
    raise EnrolError(_unknown(), 401)


def enrol(engine: Engine, key: str, request: EnrolRequest, *, keys: Keyring | None = None,
          relay_site: str | None = None) -> Enrolled:
    """Enrol ``request.host`` with ``key`` (see the module docstring); EnrolError when refused.
    ``relay_site``: the site of the relay the request came through, if any."""
    keys = keys or default_keyring()
    now = datetime.now(UTC)
    site = "?"
    try:
        with writing(engine) as conn:
            row = store.find_key(conn, hash_token(key)) if key.startswith(ENROL_PREFIX) else None
            if row is None:
                raise EnrolError(_unknown(), 401)
            site = row.site
            if relay_site is not None and relay_site != site:
                raise EnrolError(cli_said("cli.enrol.other_site", site=repr(site), relay_site=repr(relay_site),
                                          command=f"{_CREATE} --site {relay_site}"), 403)
            why = _key_state(row, now)
            if why == "used up":
                raise EnrolError(cli_said("cli.enrol.used_up", uses=row.uses, max_uses=row.max_uses,
                                          command=f"{_CREATE} --site {row.site}"), 403)
            if why == "expired":
                raise EnrolError(cli_said("cli.enrol.expired", at=format_time(row.expires_at),
                                          command=f"{_CREATE} --site {row.site}"), 403)
            if why == "revoked":
                raise EnrolError(cli_said("cli.enrol.revoked"), 403)
            existing = store.host_row(conn, site, request.host, lock=True)
            enrolled = existing is not None and existing.retired_at is None
            if enrolled and not request.replace:
                raise EnrolError(cli_said("cli.enrol.enrolled", host=repr(request.host), site=site,
                                          replace="--replace", option="--host"), 409)
            if not store.claim_key_use(conn, row.id):
                raise EnrolError(cli_said("cli.enrol.used_up_now"), 403)
            revoked = store.revoke_tokens(conn, site, request.host, now) if request.replace else []
            roles = tuple(sorted(set(orjson.loads(row.roles)) | set(request.roles)))
            approved = row.approve == "auto"
            store.add_host(conn, {
                "site": site, "host": request.host, "roles": orjson.dumps(list(roles)).decode(),
                "facts": orjson.dumps(dict(request.facts)).decode(), "enrolled_at": now,
                "enrolled_via": f"key {row.id}", "approved_at": now if approved else None, "retired_at": None})
            token = new_token(AGENT_PREFIX)
            token_id = insert_agent_token(conn, site=site, host=request.host, token=token, also_hosts=(), now=now)
            audit.append(conn, keys, actor=f"enrolkey:{row.id}", action="host.enrol",
                         target=f"host:{site}/{request.host}",
                         detail={"roles": list(roles), "id": token_id, "replaced": revoked,
                                 "approval": "approved" if approved else "awaiting"}, at=now)
    except EnrolError as exc:
        with writing(engine) as conn:
            audit.append(conn, keys, actor="", action="host.enrol", outcome="failed",
                         target=f"host:{site}/{request.host}", detail={"reason": str(exc)[:200]}, at=now)
        raise
    return Enrolled(site=site, host=request.host, roles=roles, token=token, approved=approved)
