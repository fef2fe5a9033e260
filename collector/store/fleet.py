"""Queries of the fleet: enrolment keys, the host inventory, fleet file versions, token lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, insert, or_, select, update

from collector.store.db import reading
from collector.store.queries import _insert
from collector.store.tables import (
    agent_token_hosts,
    agent_tokens,
    enrol_keys,
    fleet_hosts,
    fleet_versions,
    hosts,
    latest,
    users,
    web_sessions,
)

__all__ = [
    "add_host", "claim_key_use", "find_key", "fleet_version", "host_row", "insert_key", "insert_version",
    "inventory", "list_keys", "list_tokens", "live_tokens", "newest_version", "revoke_key", "revoke_tokens",
    "set_host", "token_hosts", "user_row", "list_users", "set_user", "insert_token", "token_by_hash",
    "insert_user", "user_by_hash", "set_token", "token_row", "end_sessions",
]


def _lock(q: Any, conn: Connection) -> Any:
    return q.with_for_update() if conn.dialect.name == "postgresql" else q


# -- enrolment keys ---------------------------------------------------------------------------

def insert_key(conn: Connection, values: dict[str, Any]) -> int:
    # a one-row INSERT always has its key
    return int(conn.execute(insert(enrol_keys).values(**values)).inserted_primary_key[0])  # type: ignore[index]  # see above


def find_key(conn: Connection, key_hash: str) -> Any | None:
    """The key row with this hash, locked for the enrolment's transaction."""
    return conn.execute(_lock(select(enrol_keys).where(enrol_keys.c.key_hash == key_hash), conn)).first()


def claim_key_use(conn: Connection, key_id: int) -> bool:
    """Count one use of the key, unless it is used up (a second collector may have taken the last)."""
    done = conn.execute(update(enrol_keys).where(enrol_keys.c.id == key_id, enrol_keys.c.uses < enrol_keys.c.max_uses)
                        .values(uses=enrol_keys.c.uses + 1))
    return bool(done.rowcount)


def list_keys(conn: Connection, site: str | None) -> list[Any]:
    q = select(enrol_keys).order_by(enrol_keys.c.id)
    if site is not None:
        q = q.where(enrol_keys.c.site == site)
    return list(conn.execute(q))


def revoke_key(conn: Connection, key_id: int, now: datetime) -> Any | None:
    row = conn.execute(select(enrol_keys).where(enrol_keys.c.id == key_id)).first()
    if row is not None and row.revoked_at is None:
        conn.execute(update(enrol_keys).where(enrol_keys.c.id == key_id).values(revoked_at=now))
    return row


# -- the inventory ----------------------------------------------------------------------------

def host_row(conn: Connection, site: str, host: str, *, lock: bool = False) -> Any | None:
    q = select(fleet_hosts).where(fleet_hosts.c.site == site, fleet_hosts.c.host == host)
    return conn.execute(_lock(q, conn) if lock else q).first()


def add_host(conn: Connection, values: dict[str, Any]) -> None:
    """Enrol a host, or enrol it afresh (its roles, facts, approval; no longer retired)."""
    ins = _insert(conn, fleet_hosts).values(**values)
    keep = ("site", "host")
    conn.execute(ins.on_conflict_do_update(index_elements=list(keep),
                                           set_={k: ins.excluded[k] for k in values if k not in keep}))


def set_host(conn: Connection, site: str, host: str, values: dict[str, Any]) -> int:
    done = conn.execute(update(fleet_hosts).where(fleet_hosts.c.site == site, fleet_hosts.c.host == host)
                        .values(**values))
    return int(done.rowcount)


def inventory(conn: Connection, site: str | None = None) -> list[dict[str, Any]]:
    """Every host that is enrolled or has reported: the inventory row and the reporting row joined.

    Keys: site, host, roles, facts, enrolled_at, enrolled_via, approved_at, retired_at (None for a host
    that reported without being enrolled: a host checked remotely), first_seen, last_seen,
    agent_version, config_version, clock_offset_s, spool_backlog (None for a host that never reported),
    statuses {status: number of items}.
    """
    out: dict[tuple[str, str], dict[str, Any]] = {}
    q = select(fleet_hosts)
    if site is not None:
        q = q.where(fleet_hosts.c.site == site)
    for r in conn.execute(q):
        out[(r.site, r.host)] = {**r._mapping, "enrolled": True}
    q = select(hosts)
    if site is not None:
        q = q.where(hosts.c.site == site)
    for r in conn.execute(q):
        row = out.setdefault((r.site, r.host), {
            "site": r.site, "host": r.host, "roles": "[]", "facts": "{}", "enrolled_at": None,
            "enrolled_via": None, "approved_at": None, "retired_at": None, "enrolled": False})
        row.update(first_seen=r.first_seen, last_seen=r.last_seen, agent_version=r.agent_version,
                   config_version=r.config_version, clock_offset_s=r.clock_offset_s,
                   spool_backlog=r.spool_backlog)
    q2 = select(latest.c.site, latest.c.host, latest.c.status, func.count()).group_by(
        latest.c.site, latest.c.host, latest.c.status)
    if site is not None:
        q2 = q2.where(latest.c.site == site)
    for s, h, status, n in conn.execute(q2):
        if (s, h) in out:
            out[(s, h)].setdefault("statuses", {})[int(status)] = int(n)
    for row in out.values():
        for k in ("first_seen", "last_seen", "agent_version", "config_version", "clock_offset_s",
                  "spool_backlog"):
            row.setdefault(k, None)
        row.setdefault("statuses", {})
    return [out[k] for k in sorted(out)]


# -- agent tokens -----------------------------------------------------------------------------

def insert_token(conn: Connection, values: dict[str, Any], also_hosts: list[str]) -> int:
    """Store an agent token (its hash in ``values``) and the extra hosts it may write for; its id."""
    # inserted_primary_key is typed Row | None: a one-row INSERT always has its key
    token_id = int(conn.execute(insert(agent_tokens).values(**values)).inserted_primary_key[0])  # type: ignore[index]  # see above
    if also_hosts:
        conn.execute(insert(agent_token_hosts), [{"token_id": token_id, "host": h} for h in also_hosts])
    return token_id


def token_by_hash(engine: Engine, token_hash: str) -> list[Any]:
    """The unrevoked agent token with this hash, in one query: one row per host granted (or one with
    ``also_host`` NULL), with its host's approval and enrolment times.

    Each statement on its own, as :func:`~collector.store.db.reading` with ``statements`` gives it.  On
    PostgreSQL on a pooled driver connection, without a SQLAlchemy ``Connection`` (autocommit for the
    statement, prepared, rows with the same names, ``expires_at`` in UTC as
    :class:`~collector.store.tables.UTCDateTime` gives it): it runs for every batch, and SQLAlchemy's
    connection, execution and row processing were most of its CPU."""
    if engine.dialect.name != "postgresql":
        with reading(engine, statements=True) as conn:
            return list(conn.execute(_TOKEN_BY_HASH, {"token_hash": token_hash}))
    from psycopg.rows import namedtuple_row

    pooled = engine.raw_connection()  # the pool's checkout guards (ping, watchdog) as for any connection
    try:
        driver: Any = pooled.driver_connection
        driver.autocommit = True
        try:
            with driver.cursor(row_factory=namedtuple_row) as cursor:
                cursor.execute(_pg_token_by_hash(engine), {"token_hash": token_hash}, prepare=True)
                rows = cursor.fetchall()
        except Exception as exc:
            if driver.closed:  # lost (e.g. the server went away): never returned to the pool as it was
                pooled.invalidate(exc)
            raise
        finally:
            if not driver.closed:
                driver.autocommit = False
    finally:
        pooled.close()
    return [r if r.expires_at is None else r._replace(expires_at=r.expires_at.astimezone(UTC)) for r in rows]


# read for every request with an agent's token (each batch of results): built once
_TOKEN_BY_HASH = (
    select(agent_tokens.c.id, agent_tokens.c.site, agent_tokens.c.host, agent_tokens.c.token_hash,
           agent_tokens.c.expires_at, agent_token_hosts.c.host.label("also_host"),
           fleet_hosts.c.approved_at, fleet_hosts.c.enrolled_at)
    .select_from(agent_tokens.outerjoin(agent_token_hosts, agent_token_hosts.c.token_id == agent_tokens.c.id)
                 .outerjoin(fleet_hosts, and_(fleet_hosts.c.site == agent_tokens.c.site,
                                              fleet_hosts.c.host == agent_tokens.c.host)))
    .where(agent_tokens.c.token_hash == bindparam("token_hash"), agent_tokens.c.revoked_at.is_(None)))
_PG_TOKEN_BY_HASH: list[str] = []  # its text for psycopg, compiled at the first use


def _pg_token_by_hash(engine: Engine) -> str:
    if not _PG_TOKEN_BY_HASH:
        _PG_TOKEN_BY_HASH.append(str(_TOKEN_BY_HASH.compile(dialect=engine.dialect)))
    return _PG_TOKEN_BY_HASH[0]


def set_token(conn: Connection, token_id: int, values: dict[str, Any]) -> None:
    conn.execute(update(agent_tokens).where(agent_tokens.c.id == token_id).values(**values))


def token_row(conn: Connection, token_id: int) -> Any | None:
    return conn.execute(select(agent_tokens).where(agent_tokens.c.id == token_id)).first()


def live_tokens(conn: Connection, site: str, host: str, now: datetime) -> list[Any]:
    """The host's tokens that still authenticate (not revoked, not expired), oldest first."""
    q = (select(agent_tokens).where(agent_tokens.c.site == site, agent_tokens.c.host == host,
                                    agent_tokens.c.revoked_at.is_(None),
                                    or_(agent_tokens.c.expires_at.is_(None), agent_tokens.c.expires_at > now))
         .order_by(agent_tokens.c.id))
    return list(conn.execute(_lock(q, conn)))


def token_hosts(conn: Connection, token_id: int) -> list[str]:
    q = select(agent_token_hosts.c.host).where(agent_token_hosts.c.token_id == token_id)
    return sorted(conn.execute(q).scalars())


def revoke_tokens(conn: Connection, site: str, host: str, now: datetime) -> list[int]:
    """Revoke every token of ``site``/``host`` that still authenticates; their ids."""
    ids = [r.id for r in live_tokens(conn, site, host, now)]
    if ids:
        conn.execute(update(agent_tokens).where(agent_tokens.c.id.in_(ids))
                     .values(revoked_at=now, successor_box=None))
    return ids


def list_tokens(conn: Connection, site: str | None) -> list[Any]:
    """Every agent token of ``site`` (or all), one row per host it also writes for (``also_host``; None
    for none), by site, host, id and that host."""
    q = select(agent_tokens.c.id, agent_tokens.c.site, agent_tokens.c.host, agent_tokens.c.created_at,
               agent_tokens.c.revoked_at, agent_tokens.c.expires_at, agent_tokens.c.successor_id,
               agent_token_hosts.c.host.label("also_host")).select_from(
        agent_tokens.outerjoin(agent_token_hosts, agent_token_hosts.c.token_id == agent_tokens.c.id))
    if site is not None:
        q = q.where(agent_tokens.c.site == site)
    q = q.order_by(agent_tokens.c.site, agent_tokens.c.host, agent_tokens.c.id, agent_token_hosts.c.host)
    return list(conn.execute(q))


# -- people -----------------------------------------------------------------------------------

def user_row(conn: Connection, name: str) -> Any | None:
    return conn.execute(_lock(select(users).where(users.c.name == name), conn)).first()


def insert_user(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(users).values(**values))


def user_by_hash(conn: Connection, token_hash: str) -> Any | None:
    """The enabled person whose API token has this hash."""
    return conn.execute(select(users.c.name, users.c.role, users.c.token_hash)
                        .where(users.c.token_hash == token_hash, users.c.disabled_at.is_(None))).first()


def end_sessions(conn: Connection, name: str) -> None:
    """End every page session of person ``name``."""
    conn.execute(web_sessions.delete().where(web_sessions.c.user_name == name))


def list_users(conn: Connection) -> list[Any]:
    return list(conn.execute(select(users.c.name, users.c.role, users.c.created_at, users.c.disabled_at)
                             .order_by(users.c.name)))


def set_user(conn: Connection, name: str, values: dict[str, Any]) -> None:
    conn.execute(update(users).where(users.c.name == name).values(**values))


# -- fleet file versions ----------------------------------------------------------------------

def newest_version(conn: Connection) -> Any | None:
    return conn.execute(select(fleet_versions).order_by(fleet_versions.c.version.desc()).limit(1)).first()


def fleet_version(conn: Connection) -> int:
    """The newest fleet file's version number (0: none applied): one index probe."""
    return int(conn.execute(select(func.coalesce(func.max(fleet_versions.c.version), 0))).scalar_one())


def insert_version(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(fleet_versions).values(**values))
