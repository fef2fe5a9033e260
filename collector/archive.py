"""The service archive: what engineers did for a site, kept as evidence.

Besides tickets and inspection records, every service call and visit is
logged (the contracts' 服务记录): when, the fault phenomenon, what was done,
parts replaced, the version upgraded to, and the customer who signed. The
archive is what the annual service report (:mod:`collector.records.annual`)
and an auditor read.

Kinds of entry (``KINDS``)::

    visit    an on-site visit (counts towards the contract's on-site inspections)
    remote   a remote session
    phone    a phone call
    change   a configuration or hardware change
    upgrade  a software version upgrade (``version`` says to what)

The archive is **append-only**: an entry is never edited or deleted.  A
mistake is corrected by a new, complete entry that names the one it replaces
(``corrects``); the old one stays, marked ``corrected_by``, and reports read
only current entries.  An entry can be corrected once (correct the
correction to change it again), enforced by the database.

Exceptions (each knows its HTTP status)::

    ArchiveError
    ├── ArchiveNotFound   404  no such entry
    ├── ArchiveConflict   409  the entry was corrected already
    └── ArchiveInvalid    422  a bad field; the message names every one
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from checks.result import format_time, is_name
from collector import audit
from collector.dates import DateError, check_time
from collector.errors import Conflict, Invalid, NotFound, ServiceError
from collector.keys import Keyring, default_keyring
from collector.messages import date_said, tsay
from collector.policy import Policies, default_policies
from collector.store import archive as store
from collector.store import tickets as ticket_store
from collector.store.db import DatabaseClock, reading, writing
from collector.store.tables import MAX_ROW_ID

__all__ = [
    "KINDS",
    "Archive",
    "ArchiveConflict",
    "ArchiveError",
    "ArchiveInvalid",
    "ArchiveNotFound",
    "ArchiveQuery",
    "entry_view",
]

log = logging.getLogger(__name__)

KINDS = ("visit", "remote", "phone", "change", "upgrade")
FIELDS = ("site", "host", "kind", "at", "phenomenon", "action", "parts", "version", "signer", "ticket",
          "corrects")
MAX_TEXT = 4000
MAX_SHORT = 255
MAX_SIGNER = 128
FUTURE_SKEW = timedelta(minutes=10)


class ArchiveError(ServiceError):
    pass


class ArchiveNotFound(ArchiveError, NotFound):
    pass


class ArchiveConflict(ArchiveError, Conflict):
    pass


class ArchiveInvalid(ArchiveError, Invalid):
    pass


def entry_view(row: Any) -> dict[str, Any]:
    """An entry as the API shows it; times are ISO-8601 UTC."""
    return {
        "id": row.id, "site": row.site, "host": row.host, "kind": row.kind, "at": format_time(row.at),
        "phenomenon": row.phenomenon, "action": row.action, "parts": row.parts, "version": row.version,
        "signer": row.signer, "ticket": row.ticket_id, "corrects": row.corrects_id,
        "corrected_by": row.corrected_by, "engineer": row.engineer,
        "created_at": format_time(row.created_at),
    }


@dataclass(frozen=True, slots=True)
class ArchiveQuery:
    """A listing: ``day_from``/``day_to`` are whole days in the site's time zone (inclusive)."""

    site: str | None = None
    host: str | None = None
    kinds: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    day_from: date | None = None
    day_to: date | None = None
    current_only: bool = False
    limit: int = 500


def _text(doc: Mapping[str, Any], key: str, cap: int, problems: list[str], *, required: bool) -> str:
    value = doc.get(key)
    if value is None or (isinstance(value, str) and not value.strip() and not required):
        if required:
            problems.append(tsay("errors.archive.required", field=f"errors.field.{key}"))
        return ""
    if not isinstance(value, str) or not value.strip() or len(value) > cap or "\x00" in value:
        problems.append(tsay("errors.archive.text", field=f"errors.field.{key}", max=cap))
        return ""
    return value.strip()


def _id(doc: Mapping[str, Any], key: str, problems: list[str]) -> int | None:
    value = doc.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ROW_ID:
        problems.append(tsay(f"errors.archive.{key}", got=repr(value)))
        return None
    return value


def parse_at(value: Any, zone: ZoneInfo) -> datetime:
    """An ISO-8601 time; without a UTC offset it is read as ``zone``'s local time."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(tsay("errors.archive.at"))
    text = value.strip()
    try:
        dt = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError as exc:
        raise ValueError(tsay("errors.archive.at_got", got=repr(text[:40]))) from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone)
    return check_time(dt, "at").astimezone(UTC)


class Archive:
    """Log and read service archive entries.  ``clock`` is injectable for tests."""

    def __init__(self, engine: Engine, policies: Policies | None = None,
                 clock: Callable[[], datetime] | None = None, keys: Keyring | None = None) -> None:
        self.engine = engine
        self.policies = policies or default_policies()
        self.clock = clock or DatabaseClock(engine)
        self.keys = keys if keys is not None else default_keyring()  # for the audit log

    def zone(self, site: str | None) -> ZoneInfo:
        """The site's time zone (its policy's business calendar); the default policy's without a site."""
        policy = self.policies.for_site(site) if site else self.policies.default
        return policy.calendar.zone

    def add(self, doc: Mapping[str, Any], *, engineer: str) -> dict[str, Any]:
        """Append an entry from ``doc`` (the API's JSON or a form); every bad field is named at once."""
        problems: list[str] = []
        unknown = sorted(set(doc) - set(FIELDS))
        if unknown:
            problems.append(tsay("errors.archive.unknown", fields=", ".join(map(str, unknown)),
                                 expected=", ".join(FIELDS)))
        site = doc.get("site")
        if not is_name(site):
            problems.append(tsay("tickets.invalid.name", field="tickets.field.site", got=repr(site)))
            site = None
        host = doc.get("host") or None
        if host is not None and not is_name(host):
            problems.append(tsay("tickets.invalid.name", field="tickets.field.host", got=repr(host)))
            host = None
        kind = doc.get("kind")
        if kind not in KINDS:
            problems.append(tsay("errors.archive.kind", kinds=", ".join(KINDS), got=repr(kind)))
        now = self.clock()
        at: datetime | None = None
        try:
            at = parse_at(doc.get("at"), self.zone(site))
        except DateError as exc:
            problems.append(date_said(exc))
        except ValueError as exc:
            problems.append(exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc))
        if at is not None and at > now + FUTURE_SKEW:
            problems.append(tsay("errors.archive.future", at=format_time(at)))
        values = {
            "phenomenon": _text(doc, "phenomenon", MAX_TEXT, problems, required=True),
            "action": _text(doc, "action", MAX_TEXT, problems, required=True),
            "parts": _text(doc, "parts", MAX_TEXT, problems, required=False),
            "version": _text(doc, "version", MAX_SHORT, problems, required=False),
            "signer": _text(doc, "signer", MAX_SIGNER, problems, required=False),
        }
        if kind == "upgrade" and not values["version"] and "version" not in " ".join(problems):
            problems.append(tsay("errors.archive.version"))
        ticket_id = _id(doc, "ticket", problems)
        corrects = _id(doc, "corrects", problems)
        if problems:
            raise ArchiveInvalid(tsay("tickets.invalid", problems=problems))
        assert site is not None and at is not None
        try:
            with writing(self.engine) as conn:
                if ticket_id is not None:
                    t = ticket_store.get_ticket(conn, ticket_id)
                    if t is None or t.site != site:
                        raise ArchiveInvalid(tsay("errors.archive.ticket_none", id=ticket_id, site=site))
                if corrects is not None:
                    old = store.get_entry(conn, corrects)
                    if old is None or old.site != site:
                        raise ArchiveInvalid(tsay("errors.archive.corrects_none", id=corrects, site=site))
                    if old.corrected_by is not None:
                        raise ArchiveConflict(tsay("errors.archive.corrected", id=corrects, by=old.corrected_by))
                new_id = store.insert_entry(conn, {
                    "site": site, "host": host, "kind": kind, "at": at, **values, "ticket_id": ticket_id,
                    "corrects_id": corrects, "engineer": engineer, "created_at": now})
                row = store.get_entry(conn, new_id)
                audit.append(conn, self.keys, actor=engineer, action="archive.add", target=f"archive:{new_id}",
                             detail={"site": site, "kind": kind, "corrects": corrects}, at=now)
        except IntegrityError as exc:  # another collector corrected the same entry a moment ago
            raise ArchiveConflict(tsay("errors.archive.corrected_meanwhile", id=corrects)) from exc
        log.info("archive entry %s logged for site %s by %s (%s)", new_id, site, engineer, kind)
        return entry_view(row)

    def get(self, entry_id: int) -> dict[str, Any]:
        with reading(self.engine) as conn:
            row = store.get_entry(conn, entry_id)
        if row is None:
            raise ArchiveNotFound(tsay("errors.archive.not_found", id=entry_id))
        return entry_view(row)

    def bounds(self, q: ArchiveQuery) -> tuple[datetime | None, datetime | None]:
        """The UTC instants a query's days (in the site's time zone) or times cover."""
        zone = self.zone(q.site)
        since = q.since
        until = q.until
        if q.day_from is not None:
            start = datetime.combine(q.day_from, time(0), zone).astimezone(UTC)
            since = max(since, start) if since else start
        if q.day_to is not None:
            end = datetime.combine(q.day_to + timedelta(days=1), time(0), zone).astimezone(UTC)
            until = min(until, end) if until else end
        return since, until

    def list(self, q: ArchiveQuery) -> list[dict[str, Any]]:
        """Entries matching ``q``, oldest service time first."""
        since, until = self.bounds(q)
        f = store.ArchiveFilter(site=q.site, host=q.host, kinds=q.kinds, since=since, until=until,
                                current_only=q.current_only, limit=q.limit)
        with reading(self.engine) as conn:
            return [entry_view(r) for r in store.find_entries(conn, f)]
