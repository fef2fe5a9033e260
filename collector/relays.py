"""Site relays: the one machine of a closed hospital network that forwards its agents' results.

A relay has a token of its own (``wardround-collector token create --relay --site S``,
``wrr_``, stored hashed like every token).  With it the relay

* forwards batches to ``POST /api/v1/results``: the collector accepts results of its site's
  enrolled, approved, not retired hosts only (:attr:`collector.auth.Agent.relay`), and records
  which relay carried each batch (:func:`record_batch`: ``relay_batches``, ``relay_results``,
  beside the results table);
* syncs the site's agent token hashes (``GET /api/v1/relay/sync``, :func:`sync_document`), so it
  refuses a wrong token at once and a revoked one within its sync interval.

Every call of a relay is its *contact*: the inventory (``host list``) shows each relay with its
backlog and last contact, and a relay silent past its site's agent-silent grace opens one
"relay silent" ticket for its site (:func:`silent_relays`), not one per agent behind it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from checks.messages.reader import cli_said
from checks.result import format_time, is_name
from collector import audit
from collector.auth import RELAY_PREFIX, Agent, AuthConflict, AuthError, hash_token, new_token
from collector.keys import Keyring, default_keyring
from collector.messages import grace_words, local_minute, tsay
from collector.store import relays as relay_store
from collector.store import tickets as ticket_store
from collector.store.db import reading, writing

if TYPE_CHECKING:
    from collector.tickets import Tickets

__all__ = ["DEFAULT_NAME", "RelayReport", "create_relay_token", "list_relays", "record_batch", "revoke_relay",
           "sweep_silent", "sync_document", "touch"]

DEFAULT_NAME = "relay"


@dataclass(frozen=True)
class RelayReport:
    """What a relay says about itself with a batch or a sync (all optional)."""

    backlog: int | None = None
    version: str | None = None


def create_relay_token(engine: Engine, *, site: str, name: str = DEFAULT_NAME, actor: str | None = None,
                       keys: Keyring | None = None) -> str:
    """A new token for relay ``name`` of ``site`` (shown once); a second relay of the same name is refused."""
    for what, value in (("site", site), ("name", name)):
        if not is_name(value):
            raise AuthError(cli_said("cli.collector.bad_name", what=what, got=repr(value)))
    token = new_token(RELAY_PREFIX)
    now = datetime.now(UTC)
    try:
        with writing(engine) as conn:
            row = relay_store.relay_by_name(conn, site, name)
            if row is not None and row.revoked_at is None:
                raise AuthConflict(f"site {site} has a relay {name!r} already: give this one another name "
                                   f"(--host NAME), or revoke that one's token first (token revoke --relay "
                                   f"--site {site} --host {name})")
            if row is not None:  # a revoked relay of that name comes back with a new token
                relay_store.set_relay(conn, row.id, {"token_hash": hash_token(token), "revoked_at": None,
                                                     "created_at": now})
                relay_id = row.id
            else:
                relay_id = relay_store.insert_relay(conn, site=site, name=name, token_hash=hash_token(token), now=now)
            audit.append(conn, keys or default_keyring(), actor=actor or audit.local_actor(),
                         action="relay.create", target=f"relay:{site}/{name}", detail={"id": relay_id})
    except IntegrityError as exc:  # two at once
        raise AuthConflict(f"site {site} has a relay {name!r} already") from exc
    return token


def revoke_relay(engine: Engine, *, site: str, name: str, actor: str | None = None,
                 keys: Keyring | None = None) -> None:
    """Revoke relay ``name`` of ``site`` at once; CredentialNotFound when it has no live token."""
    from collector.credentials import CredentialNotFound

    now = datetime.now(UTC)
    with writing(engine) as conn:
        done = relay_store.revoke(conn, site, name, now)
        if not done:
            raise CredentialNotFound(cli_said("cli.collector.no_live_relay", relay=repr(name), site=site,
                                              command="wardround-collector host list"))
        audit.append(conn, keys or default_keyring(), actor=actor or audit.local_actor(), action="relay.revoke",
                     target=f"relay:{site}/{name}", at=now)


def touch(conn: Connection, relay_id: int, now: datetime, report: RelayReport) -> None:
    """The relay made contact at ``now``; it ends a silence episode."""
    values: dict[str, Any] = {"last_contact": now, "silent_since": None}
    if report.backlog is not None:
        values["backlog"] = report.backlog
    if report.version is not None:
        values["version"] = report.version[:64]
    relay_store.set_relay(conn, relay_id, values)


def record_batch(engine: Engine, relay: Agent, *, accepted: Sequence[str], total: int, report: RelayReport,
                 via: str = "http", seq: int | None = None, now: datetime | None = None) -> None:
    """Note that ``relay`` carried a batch of ``total`` results, of which ``accepted`` were new."""
    assert relay.token_id is not None
    now = now or datetime.now(UTC)
    with writing(engine) as conn:
        relay_store.add_batch(conn, {"relay_id": relay.token_id, "received_at": now, "via": via, "seq": seq,
                                     "results": total, "accepted": len(accepted)}, accepted)
        touch(conn, relay.token_id, now, report)


def sync_document(engine: Engine, relay: Agent, report: RelayReport | None) -> dict[str, Any]:
    """The site's live agent tokens (hashes only) for the relay, and its contact noted (unless ``report``
    is None: a sync bundle for the file ferry is no contact)."""
    assert relay.token_id is not None
    now = datetime.now(UTC)
    with writing(engine) as conn:
        if report is not None:
            touch(conn, relay.token_id, now, report)
        rows = relay_store.live_site_tokens(conn, relay.site, now)
    tokens: dict[int, dict[str, Any]] = {}
    for r in rows:
        if r.host not in relay.also_hosts:  # retired, awaiting approval: the collector would refuse it
            continue
        t = tokens.setdefault(r.id, {"hash": r.token_hash, "host": r.host, "also_hosts": [],
                                     "expires_at": format_time(r.expires_at)})
        if r.also_host is not None and r.also_host in relay.also_hosts:
            t["also_hosts"].append(r.also_host)
    return {"site": relay.site, "relay": relay.relay, "tokens": list(tokens.values()),
            "server_time": format_time(now)}


def list_relays(engine: Engine, site: str | None = None) -> list[dict[str, Any]]:
    """Every relay that has a live token, with its backlog, last contact and the hosts of its site."""
    with reading(engine) as conn:
        rows = relay_store.live_relays(conn, site)
        counts: dict[str, int] = {}
        for r in rows:
            if r.site not in counts:
                counts[r.site] = len(relay_store.live_hosts(conn, r.site))
    return [{"site": r.site, "relay": r.name, "created_at": format_time(r.created_at),
             "last_contact": format_time(r.last_contact), "never_contacted": r.last_contact is None,
             "backlog": r.backlog, "version": r.version, "site_hosts": counts[r.site]} for r in rows]


def gateway_relays(engine: Engine, site: str) -> list[str]:
    """The relays of ``site`` behind a file gateway (they delivered by bundle): its agents cannot reach the
    collector through them, so they cannot fetch a rotated token themselves."""
    with reading(engine) as conn:
        return relay_store.gateway_relays(conn, site)


RELAY_CHECK, SILENT_ITEM = "relay", "silent"


def sweep_silent(tickets: Tickets, now: datetime) -> set[tuple[str, str]]:
    """One "relay silent" ticket (check ``relay``, item ``silent``, host = the relay's name) for each
    relay silent past its site's agent-silent grace; resolved at its next contact.

    Returns the hosts behind silent relays — those of its site last seen no later than a grace
    after the relay's last contact: they fell silent with it, and are not reported one by one.
    """
    hidden: set[tuple[str, str]] = set()
    with reading(tickets.engine) as conn:
        rows = relay_store.live_relays(conn, contacted=True)
    for r in rows:
        policy = tickets.policies.for_site(r.site)
        if policy.silent_grace is None:
            continue
        grace = policy.silent_grace.time
        if r.last_contact >= now - grace:
            _resolve_silent(tickets, r)
            continue
        with reading(tickets.engine) as conn:
            behind = relay_store.hosts_seen_until(conn, r.site, r.last_contact + grace)
        hidden.update((r.site, h) for h in behind)
        if r.silent_since is not None and r.silent_since >= r.last_contact:
            continue  # this silence has its ticket already
        summary = tsay("tickets.summary.relay_silent", relay=r.name, site=r.site, n=len(behind),
                       since=local_minute(r.last_contact, policy.calendar.zone), **grace_words(policy.silent_grace))
        tickets.open_manual(actor="system", site=r.site, host=r.name, severity=policy.silent_level, summary=summary,
                            reported_via="monitoring", check=RELAY_CHECK, item=SILENT_ITEM)
        with writing(tickets.engine) as conn:
            relay_store.set_relay(conn, r.id, {"silent_since": r.last_contact})
    return hidden


def _resolve_silent(tickets: Tickets, r: Any) -> None:
    with reading(tickets.engine) as conn:
        live = ticket_store.live_ticket(conn, r.site, r.name, RELAY_CHECK, SILENT_ITEM)
    if live is not None:
        from collector.tickets import TicketError

        try:
            tickets.resolve(live.id, "system", tsay("tickets.note.relay_back", at=format_time(r.last_contact)))
        except TicketError:  # resolved by hand meanwhile
            pass
