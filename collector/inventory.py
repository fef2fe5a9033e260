"""The inventory: every host of the fleet, whether it reported or not.

A host is *enrolled* by an enrolment key (``POST /api/v1/enrol``) or by ``token create``;
a host that reports through another's token (checked remotely, ``--also-host``) is known
from its results.  Each shows its roles, facts, enrolment, approval, last delivery, agent
version and the central config version it runs, or ``never reported``.  A host awaiting
approval has its results refused (403) until :func:`approve`; a *retired* host leaves
inspection records and silence rules, and its tokens are revoked (:func:`retire`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine

from checks.result import Status, format_time
from collector import audit
from collector.credentials import CredentialNotFound
from collector.keys import Keyring, default_keyring
from collector.messages import tsay
from collector.store import fleet as store
from collector.store.db import reading, writing

__all__ = ["approve", "list_hosts", "retire"]


def list_hosts(engine: Engine, site: str | None = None, *, retired: bool = False,
               fleet_version: int | None = None) -> list[dict[str, Any]]:
    """The inventory as JSON-ready dicts, by site and host; retired hosts only if ``retired``.

    ``config`` says how the host's config version compares with the fleet's newest
    (``current``, ``behind``, ``none`` when it reported none).
    """
    with reading(engine) as conn:
        rows = store.inventory(conn, site)
        newest = store.fleet_version(conn) if fleet_version is None else fleet_version
    out = []
    for r in rows:
        if r["retired_at"] is not None and not retired:
            continue
        statuses = r["statuses"]
        worst = Status.worst(statuses) if statuses else None
        version = r["config_version"]
        out.append({
            "site": r["site"], "host": r["host"], "roles": orjson.loads(r["roles"]), "facts": orjson.loads(r["facts"]),
            "enrolled": r["enrolled"], "enrolled_at": format_time(r["enrolled_at"]), "enrolled_via": r["enrolled_via"],
            "approval": None if not r["enrolled"] else ("approved" if r["approved_at"] else "awaiting"),
            "retired_at": format_time(r["retired_at"]),
            "never_reported": r["last_seen"] is None,
            "first_seen": format_time(r["first_seen"]), "last_seen": format_time(r["last_seen"]),
            "worst_status": int(worst) if worst is not None else None,
            "worst_status_name": worst.name if worst is not None else None,
            "checks": sum(statuses.values()),
            "status_counts": {Status(s).name: n for s, n in sorted(statuses.items())},
            "clock_offset_s": r["clock_offset_s"], "spool_backlog": r["spool_backlog"],
            "agent_version": r["agent_version"], "config_version": version,
            "config": _config_state(version, newest),
        })
    return out


def _config_state(version: str | None, newest: int) -> str:
    if version is None:
        return "none"
    number = version.partition("-")[0].lstrip("v")
    return "current" if number.isdigit() and int(number) >= newest else "behind"


def approve(engine: Engine, *, site: str, host: str, actor: str | None = None, keys: Keyring | None = None) -> bool:
    """Approve a host that enrolled with an approval key; False if it was approved already."""
    now = datetime.now(UTC)
    with writing(engine) as conn:
        row = store.host_row(conn, site, host, lock=True)
        if row is None or row.retired_at is not None:
            raise CredentialNotFound(tsay("errors.auth.no_enrolled_host", site=site, host=host))
        if row.approved_at is not None:
            return False
        store.set_host(conn, site, host, {"approved_at": now})
        audit.append(conn, keys or default_keyring(), actor=actor or audit.local_actor(), action="host.approve",
                     target=f"host:{site}/{host}", at=now)
    return True


def retire(engine: Engine, *, site: str, host: str, actor: str | None = None, keys: Keyring | None = None) -> list[int]:
    """Retire a host: it leaves records and silence rules, and its tokens are revoked (their ids).

    A host that only ever reported (checked remotely) is put in the inventory as retired.
    Enrolling it again (a key, or ``token create``) brings it back.
    """
    now = datetime.now(UTC)
    with writing(engine) as conn:
        row = store.host_row(conn, site, host, lock=True)
        known = row is not None or any(r["host"] == host for r in store.inventory(conn, site))
        if not known:
            raise CredentialNotFound(tsay("errors.auth.no_host", site=site, host=host))
        if row is not None and row.retired_at is not None:
            raise CredentialNotFound(tsay("errors.auth.retired", site=site, host=host, at=format_time(row.retired_at)))
        if row is None:
            store.add_host(conn, {"site": site, "host": host, "roles": "[]", "facts": "{}", "enrolled_at": now,
                                  "enrolled_via": "report", "approved_at": now, "retired_at": now})
        else:
            store.set_host(conn, site, host, {"retired_at": now})
        revoked = store.revoke_tokens(conn, site, host, now)
        audit.append(conn, keys or default_keyring(), actor=actor or audit.local_actor(), action="host.retire",
                     target=f"host:{site}/{host}", detail={"revoked": revoked}, at=now)
    return revoked
