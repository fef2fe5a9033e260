"""Relays and the file ferry: relay rows, their batches and bundles (collector/relays.py, ferry.py, auth.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, update

from collector.store.tables import (
    agent_token_hosts,
    agent_tokens,
    ferry_refused,
    fleet_hosts,
    hosts,
    relay_batches,
    relay_bundles,
    relay_results,
    relays,
)

__all__ = ["add_batch", "add_bundle", "add_refused", "approved_hosts", "bundle_counts", "bundle_held", "bundle_seqs",
           "gateway_relays", "held_bundles", "hosts_seen_until", "insert_relay", "live_hosts", "live_relay",
           "live_relays", "live_site_tokens", "relay_by_name", "relay_by_token", "revoke", "roles", "set_held",
           "set_relay"]


def relay_by_name(conn: Connection, site: str, name: str) -> Any | None:
    """(id, revoked_at) of relay ``name`` of ``site``, live or revoked."""
    return conn.execute(select(relays.c.id, relays.c.revoked_at).where(
        relays.c.site == site, relays.c.name == name)).first()


def live_relay(conn: Connection, site: str, name: str) -> Any | None:
    """The row of relay ``name`` of ``site`` if its token is live."""
    return conn.execute(select(relays).where(relays.c.site == site, relays.c.name == name,
                                             relays.c.revoked_at.is_(None))).first()


def relay_by_token(conn: Connection, token_hash: str) -> Any | None:
    """(id, site, name, token_hash) of the live relay whose token hashes to ``token_hash``."""
    return conn.execute(select(relays.c.id, relays.c.site, relays.c.name, relays.c.token_hash)
                        .where(relays.c.token_hash == token_hash, relays.c.revoked_at.is_(None))).first()


def live_relays(conn: Connection, site: str | None = None, *, contacted: bool = False) -> list[Any]:
    """Every relay with a live token (of ``site``; only those that made contact), by site and name."""
    q = select(relays).where(relays.c.revoked_at.is_(None)).order_by(relays.c.site, relays.c.name)
    if site is not None:
        q = q.where(relays.c.site == site)
    if contacted:
        q = q.where(relays.c.last_contact.is_not(None))
    return list(conn.execute(q).all())


def insert_relay(conn: Connection, *, site: str, name: str, token_hash: str, now: datetime) -> int:
    return int(conn.execute(insert(relays).values(
        site=site, name=name, token_hash=token_hash, created_at=now)).inserted_primary_key[0])  # type: ignore[index]  # one-row INSERT: it has its key


def set_relay(conn: Connection, relay_id: int, values: dict[str, Any]) -> None:
    conn.execute(update(relays).where(relays.c.id == relay_id).values(**values))


def revoke(conn: Connection, site: str, name: str, now: datetime) -> int:
    """Revoke the live relay ``name`` of ``site``; how many rows changed (0 or 1)."""
    return int(conn.execute(update(relays).where(relays.c.site == site, relays.c.name == name,
                                                 relays.c.revoked_at.is_(None)).values(revoked_at=now)).rowcount)


def add_batch(conn: Connection, values: dict[str, Any], accepted: Sequence[str]) -> int:
    """A batch the relay carried, and the uids of its results that were new."""
    batch_id = int(conn.execute(insert(relay_batches).values(**values)).inserted_primary_key[0])  # type: ignore[index]  # one-row INSERT: it has its key
    if accepted:
        conn.execute(insert(relay_results), [{"uid": uid, "batch_id": batch_id} for uid in accepted])
    return batch_id


def live_site_tokens(conn: Connection, site: str, now: datetime) -> list[Any]:
    """The site's live, unexpired agent tokens, one row per extra host (``also_host``), by id."""
    return list(conn.execute(
        select(agent_tokens.c.id, agent_tokens.c.host, agent_tokens.c.token_hash, agent_tokens.c.expires_at,
               agent_token_hosts.c.host.label("also_host"))
        .select_from(agent_tokens.outerjoin(agent_token_hosts, agent_token_hosts.c.token_id == agent_tokens.c.id))
        .where(agent_tokens.c.site == site, agent_tokens.c.revoked_at.is_(None),
               or_(agent_tokens.c.expires_at.is_(None), agent_tokens.c.expires_at > now))
        .order_by(agent_tokens.c.id)).all())


def live_hosts(conn: Connection, site: str) -> list[str]:
    """The site's hosts in the inventory that are not retired."""
    return list(conn.execute(select(fleet_hosts.c.host).where(
        fleet_hosts.c.site == site, fleet_hosts.c.retired_at.is_(None))).scalars().all())


def approved_hosts(conn: Connection, site: str) -> list[str]:
    """The site's enrolled, approved, live hosts (those a relay writes for)."""
    return list(conn.execute(select(fleet_hosts.c.host).where(
        fleet_hosts.c.site == site, fleet_hosts.c.retired_at.is_(None),
        fleet_hosts.c.approved_at.is_not(None))).scalars().all())


def roles(conn: Connection, site: str) -> list[Any]:
    """(host, roles JSON) of every host of ``site`` in the inventory."""
    return list(conn.execute(select(fleet_hosts.c.host, fleet_hosts.c.roles).where(fleet_hosts.c.site == site)))


def hosts_seen_until(conn: Connection, site: str, until: datetime) -> list[str]:
    """The site's hosts last seen no later than ``until``."""
    return list(conn.execute(select(hosts.c.host).where(
        hosts.c.site == site, hosts.c.last_seen <= until)).scalars().all())


def bundle_held(conn: Connection, relay_id: int, seq: int) -> list[str] | None:
    """Bundle ``seq`` of the relay: None if never imported, else the hosts (``site/host``) whose results it held
    back (empty: everything in it was stored)."""
    row = conn.execute(select(relay_bundles.c.held).where(relay_bundles.c.relay_id == relay_id,
                                                          relay_bundles.c.seq == seq)).first()
    return None if row is None else (row.held or "").splitlines()


def add_bundle(conn: Connection, values: dict[str, Any], held: Sequence[str] = ()) -> None:
    conn.execute(insert(relay_bundles).values(**values, held="\n".join(held) or None))


def set_held(conn: Connection, relay_id: int, seq: int, held: Sequence[str]) -> None:
    """The hosts whose results bundle ``seq`` still holds back, after it was imported again."""
    conn.execute(update(relay_bundles).where(relay_bundles.c.relay_id == relay_id, relay_bundles.c.seq == seq)
                 .values(held="\n".join(held) or None))


def add_refused(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(ferry_refused).values(**values))


def bundle_seqs(conn: Connection) -> list[Any]:
    """(site, relay name, seq) of every imported bundle, by site, relay and seq."""
    return list(conn.execute(select(relays.c.site, relays.c.name, relay_bundles.c.seq)
                             .select_from(relay_bundles.join(relays))
                             .order_by(relays.c.site, relays.c.name, relay_bundles.c.seq)).all())


def gateway_relays(conn: Connection, site: str) -> list[str]:
    """The live relays of ``site`` that have delivered by bundle file (a file gateway), by name."""
    return list(conn.execute(select(relays.c.name).where(
        relays.c.site == site, relays.c.revoked_at.is_(None),
        relays.c.id.in_(select(relay_bundles.c.relay_id))).order_by(relays.c.name)).scalars().all())


def held_bundles(conn: Connection) -> list[Any]:
    """(site, relay name, bundles) of each relay with imported bundles that still hold results back."""
    return list(conn.execute(select(relays.c.site, relays.c.name, func.count())
                             .select_from(relay_bundles.join(relays)).where(relay_bundles.c.held.is_not(None))
                             .group_by(relays.c.site, relays.c.name)).all())


def bundle_counts(conn: Connection) -> tuple[int, int]:
    """(bundles imported, bundles refused)."""
    imported = conn.execute(select(func.count()).select_from(relay_bundles)).scalar_one()
    refused = conn.execute(select(func.count()).select_from(ferry_refused)).scalar_one()
    return int(imported), int(refused)
