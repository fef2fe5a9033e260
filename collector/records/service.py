"""Issuing, reading, signing and verifying inspection records (what the API and the scheduler call).

Life of a record::

    build (kinds.builder(kind), read-only) → stamp header → canonical JSON + SHA-256
      → INSERT (a scheduled one: ON CONFLICT DO NOTHING on (site, kind, period_start))
        + the collector key's signature over every field + an audit entry, one transaction
      → read: check the digest, the signatures and the audit log at every read (integrity.check)
      → sign: append (signer, role, note, time, the digest signed), signed and chained to the
        record and the sign-off before it, + an audit entry — the content never changes

Periods are whole days in the site's time zone (its business calendar's
zone): ``daily`` one day, ``weekly`` Monday to Sunday, ``monthly`` a
calendar month, ``quarterly`` a calendar quarter, ``annual`` a calendar year.
An engineer may give any ``from``/``to`` range (both days included, at most
366 days) or one ``date`` (the period of the kind containing it); with
neither, the last complete period.  A period reaching past now is read up to
now (``period_end`` in the header says so).

Scheduled issue (:meth:`Records.issue_due`): for each site with hosts and
each kind with a cron in the site's ``records.schedule``, the last complete
period (and the one before it, after a downtime) is issued once its first
fire time after the period's end has passed, unless it is stored already or
the site had no host yet when the period ended.  Several collectors may run
it at once: the unique index lets one INSERT through.

Exceptions (each knows its HTTP status)::

    RecordError
    ├── RecordNotFound   404
    └── RecordInvalid    422: bad site, kind, period, language, signer or role
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Engine

from checks.result import format_time, is_name
from collector import audit, record_kinds
from collector.dates import DateError, parse_day
from collector.errors import Invalid, NotFound, ServiceError
from collector.keys import Keyring, PublicKey, default_keyring
from collector.messages import date_said, tsay
from collector.policy import Policies, SitePolicy, default_policies
from collector.records import integrity, kinds
from collector.records.i18n import normalise_language, text
from collector.records.model import KINDS, canonical, digest
from collector.retention import MIN_RESULTS
from collector.store import audit as audit_store
from collector.store import records as store
from collector.store import rollups
from collector.store.db import DatabaseClock, reading, writing
from collector.store.tables import record_signatures
from collector.store.tables import records as records_table

__all__ = [
    "ROLES",
    "Period",
    "RecordError",
    "RecordInvalid",
    "RecordNotFound",
    "Records",
    "StoredRecord",
    "containing_period",
    "last_complete_period",
    "range_period",
]

log = logging.getLogger(__name__)

#: record kinds built from roll-ups (collector/store/rollups.py) rather than raw results
READS_ROLLUPS = frozenset({"annual"})

ROLES = ("engineer", "customer")
MAX_SPAN_DAYS = 366
MAX_NAME = 100
MAX_NOTE = 2000


class RecordError(ServiceError):
    pass


class RecordNotFound(RecordError, NotFound):
    pass


class RecordInvalid(RecordError, Invalid):
    pass


@dataclass(frozen=True, slots=True)
class Period:
    """Whole days ``first``..``last`` (inclusive) in ``zone``; ``start``/``end`` are the instants."""

    first: date
    last: date
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), self.zone)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), self.zone)


def containing_period(kind: str, day: date, zone: ZoneInfo) -> Period:
    """The period of ``kind`` that contains ``day`` (the kind's rule: collector/record_kinds.py)."""
    declared = record_kinds.BY_NAME.get(kind)
    if declared is None:
        raise RecordInvalid(tsay("errors.record.kind", kinds=", ".join(KINDS), got=repr(kind)))
    first, last = declared.period(day)
    return Period(first, last, zone)


def last_complete_period(kind: str, zone: ZoneInfo, now: datetime) -> Period:
    """The newest period of ``kind`` that ended at or before ``now``."""
    current = containing_period(kind, now.astimezone(zone).date(), zone)
    return containing_period(kind, current.first - timedelta(days=1), zone)


def range_period(first: date, last: date, zone: ZoneInfo) -> Period:
    if last < first:
        raise RecordInvalid(tsay("errors.record.period_order"))
    if (last - first).days + 1 > MAX_SPAN_DAYS:
        raise RecordInvalid(tsay("errors.record.period_span", max=MAX_SPAN_DAYS))
    return Period(first, last, zone)


def _date(value: Any, where: str) -> date:
    try:
        return parse_day(value, where)
    except DateError as exc:
        raise RecordInvalid(date_said(exc)) from None


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record as stored, checked at read: what the renderers and the API are given.

    ``integrity`` is ``verified``, ``digest_only`` or ``failed``
    (:mod:`collector.records.integrity`); ``key`` the trusted key that signed it.
    """

    id: int
    site: str
    kind: str
    period_from: str
    period_to: str
    language: str
    origin: str
    issued_by: str
    issued_at: datetime
    content: dict[str, Any]
    digest: str
    computed: str
    signatures: list[dict[str, Any]]
    integrity: str = integrity.FAILED
    problems: tuple[str, ...] = ()
    key_id: str | None = None
    key: PublicKey | None = None

    @property
    def verified(self) -> bool:
        """Every field and sign-off signed by a trusted key (a digest-only record is not verified)."""
        return self.integrity == integrity.VERIFIED

    def summary(self) -> dict[str, Any]:
        counts = self.content.get("header", {}).get("counts", {}) if isinstance(self.content, dict) else {}
        return {
            "id": self.id, "site": self.site, "kind": self.kind,
            "period": {"from": self.period_from, "to": self.period_to}, "language": self.language,
            "origin": self.origin, "issued_by": self.issued_by, "issued_at": format_time(self.issued_at),
            "digest": self.digest, "verified": self.verified, "integrity": self.integrity,
            "key_id": self.key_id, "counts": counts, "signatures": self.signatures,
            "links": {fmt: f"/api/v1/records/{self.id}.{fmt}" for fmt in ("html", "pdf", "csv")},
        }

    def to_json(self) -> dict[str, Any]:
        return {**self.summary(), "content": self.content}


def _signature_view(s: Any) -> dict[str, Any]:
    return {"signer": s.signer, "role": s.role, "signed_at": format_time(s.signed_at), "note": s.note,
            "digest": s.digest, "signed_by": s.signed_by, "key_id": s.key_id}


def _stored(row: Any, sigs: list[Any], entries: list[Any], keys: Keyring) -> StoredRecord:
    about = [{"action": e.action, "detail": audit.entry_view(e)["detail"]} for e in entries]
    checked = integrity.check(integrity.record_fields(row), [integrity.signoff_fields(s) for s in sigs],
                              keys.trusted, about)
    try:
        content = orjson.loads(row.content)
    except orjson.JSONDecodeError:
        content = {}
    if checked.status == integrity.FAILED:
        log.error("record %s FAILS verification: %s", row.id, "; ".join(checked.problems))
    return StoredRecord(
        id=int(row.id), site=row.site, kind=row.kind, period_from=row.period_from, period_to=row.period_to,
        language=row.language, origin=row.origin, issued_by=row.issued_by, issued_at=row.issued_at,
        content=content if isinstance(content, dict) else {}, digest=row.digest, computed=checked.computed,
        signatures=[{**_signature_view(s), "status": status} for s, status in zip(sigs, checked.signoffs,
                                                                                   strict=True)],
        integrity=checked.status, problems=tuple(checked.problems), key_id=row.key_id, key=checked.key)


class Records:
    """The record service over one database, the site policies and the collector key.

    ``keys`` default to the key file of the environment (:func:`collector.keys.default_keyring`).
    """

    def __init__(self, engine: Engine, policies: Policies | None = None,
                 clock: Callable[[], datetime] | None = None, keys: Keyring | None = None) -> None:
        self.engine = engine
        self.policies = policies or default_policies()
        self.clock = clock or DatabaseClock(engine)  # issue times and due periods: the shared clock
        self.keys = keys if keys is not None else default_keyring()

    # -- periods ------------------------------------------------------------
    def zone(self, site: str) -> ZoneInfo:
        return self.policies.for_site(site).calendar.zone

    def period(self, site: str, kind: str, raw: Any, now: datetime) -> Period:
        """The period an engineer asked for: ``{"from", "to"}``, ``{"date"}``, a date string, or None."""
        zone = self.zone(site)
        if raw is None:
            return last_complete_period(kind, zone, now)
        if isinstance(raw, str):
            return containing_period(kind, _date(raw, "period"), zone)
        if not isinstance(raw, dict):
            raise RecordInvalid(tsay("errors.record.period_shape"))
        unknown = sorted(set(raw) - {"from", "to", "date"})
        if unknown:
            raise RecordInvalid(tsay("errors.record.period_unknown", fields=", ".join(unknown)))
        if "date" in raw:
            if "from" in raw or "to" in raw:
                raise RecordInvalid(tsay("errors.record.period_both"))
            return containing_period(kind, _date(raw["date"], "period.date"), zone)
        if "from" not in raw or "to" not in raw:
            raise RecordInvalid(tsay("errors.record.period_pair"))
        return range_period(_date(raw["from"], "period.from"), _date(raw["to"], "period.to"), zone)

    # -- issuing ------------------------------------------------------------
    def _known_site(self, site: str) -> bool:
        if site in self.policies.sites:
            return True
        with reading(self.engine) as conn:
            return any(h for h in store.site_hosts(conn, site))

    def issue(self, *, site: Any, kind: Any, period: Any = None, language: Any = None,
              inspector: Any = None, actor: str) -> StoredRecord:
        """Issue a record by hand now (an engineer's request); every field checked."""
        if not is_name(site):
            raise RecordInvalid(tsay("errors.record.site", got=repr(str(site)[:64])))
        if kind not in KINDS:
            raise RecordInvalid(tsay("errors.record.kind", kinds=", ".join(KINDS), got=repr(str(kind)[:32])))
        if kind not in kinds.registered():
            raise RecordInvalid(tsay("errors.record.kind_unissuable", kind=kind))
        lang = None
        if language is not None:
            lang = normalise_language(language)
            if lang is None:
                raise RecordInvalid(tsay("errors.record.language", got=repr(str(language)[:16])))
        if inspector is not None and (not isinstance(inspector, str) or not inspector.strip()
                                      or len(inspector) > MAX_NAME):
            raise RecordInvalid(tsay("errors.record.inspector", max=MAX_NAME))
        if not self._known_site(site):
            raise RecordInvalid(tsay("errors.record.site_unknown", site=repr(site)))
        now = self.clock()
        p = self.period(site, kind, period, now)
        if p.start > now:
            raise RecordInvalid(tsay("errors.record.not_started"))
        record_id = self._issue(site, kind, p, lang=lang, inspector=inspector.strip() if inspector else actor,
                                actor=actor, origin="manual", now=now)
        assert record_id is not None
        return self.get(record_id)

    def _issue(self, site: str, kind: str, p: Period, *, lang: str | None, inspector: str, actor: str,
               origin: str, now: datetime) -> int | None:
        policy = self.policies.for_site(site)
        lang = lang or policy.records.language
        end = min(p.end, now.astimezone(p.zone))
        build = kinds.builder(kind)
        # a patrol period older than the shortest raw retention is rebuilt from its day roll-ups
        extra = {"from_rollups": True} if kind not in READS_ROLLUPS and p.start < now - MIN_RESULTS else {}
        if kind in READS_ROLLUPS or extra:  # bring the roll-ups up to the period's end first
            rollups.refresh(self.engine, lambda s: self.policies.for_site(s).calendar.zone, before=end,
                            not_before=now - MIN_RESULTS, wait=True)
        with reading(self.engine) as conn:
            content = build(conn, site=site, period_start=p.start, period_end=end, lang=lang,
                            inspector=inspector, policy=policy, **extra)
        h = content.header
        h.customer = policy.records.customer or site
        h.systems = list(policy.records.systems)
        h.generated_at = format_time(now)
        h.origin = origin
        h.kind, h.language, h.inspector = kind, lang, inspector
        h.period_from, h.period_to = p.first.isoformat(), p.last.isoformat()
        data = canonical(content.to_json())
        values = {
            "site": site, "kind": kind, "period_start": p.start, "period_end": end,
            "period_from": p.first.isoformat(), "period_to": p.last.isoformat(), "language": lang,
            "origin": origin, "issued_by": actor, "issued_at": now, "content": data.decode("utf-8"),
            "digest": digest(data),
        }
        with writing(self.engine) as conn:
            record_id = store.insert_record(conn, values)
            if record_id is not None:
                signature = integrity.sign_record(self.keys, integrity.record_fields({**values, "id": record_id}))
                store.set_signature(conn, records_table, record_id, signature=signature, key_id=self.keys.key_id)
                audit.append(conn, self.keys, actor=actor, action="record.issue", target=f"record:{record_id}",
                             detail={"site": site, "kind": kind, "period_from": values["period_from"],
                                     "period_to": values["period_to"], "origin": origin,
                                     "digest": values["digest"], "signature": signature}, at=now)
        if record_id is not None:
            log.info("issued %s record %s for %s %s..%s (%s rows, %s)", kind, record_id, site, p.first,
                     p.last, len(content.rows), origin)
        return record_id

    def issue_due(self, now: datetime | None = None) -> list[int]:
        """Issue every scheduled record that is due and not stored yet; the ids this call stored."""
        now = now or self.clock()
        issued: list[int] = []
        available = kinds.registered()
        with reading(self.engine) as conn:
            sites = store.sites(conn)
        for site, first_seen in sites:
            policy = self.policies.for_site(site)
            for kind in available:
                for p in self._due_periods(site, kind, policy, now, first_seen):
                    record_id = self._issue(site, kind, p, lang=None,
                                            inspector=policy.records.inspector
                                            or text(policy.records.language, "inspector.automatic"),
                                            actor="system", origin="scheduled", now=now)
                    if record_id is not None:
                        issued.append(record_id)
        return issued

    def _due_periods(self, site: str, kind: str, policy: SitePolicy, now: datetime,
                     first_seen: datetime) -> list[Period]:
        zone = policy.calendar.zone
        trigger = policy.records.trigger(kind, zone)
        if trigger is None:
            return []
        latest = last_complete_period(kind, zone, now)
        candidates = [latest, last_complete_period(kind, zone, latest.start)]
        out = []
        for p in reversed(candidates):
            if p.end <= first_seen:
                continue
            fire = trigger.next(p.end)
            if fire is None or fire > now:
                continue
            with reading(self.engine) as conn:
                if store.record_exists(conn, site, kind, p.start):
                    continue
            out.append(p)
        return out

    # -- reading, signing, verifying ------------------------------------------
    def _load(self, record_id: int) -> tuple[Any, list[Any], list[Any]]:
        """The stored row, its sign-offs (oldest first) and the audit entries about it."""
        with reading(self.engine) as conn:
            row = store.get_record(conn, record_id)
            if row is None:
                raise RecordNotFound(tsay("errors.record.not_found", id=record_id))
            sigs = store.signatures(conn, [record_id]).get(record_id, [])
            entries = audit_store.for_target(conn, f"record:{record_id}")
        return row, sigs, entries

    def get(self, record_id: int) -> StoredRecord:
        return _stored(*self._load(record_id), self.keys)

    def export(self, record_id: int) -> bytes:
        """The record, its sign-offs and the signed bytes as one JSON file to check offline."""
        row, sigs, _ = self._load(record_id)
        return integrity.export(integrity.record_fields(row), [integrity.signoff_fields(s) for s in sigs],
                                self.keys.trusted(row.key_id))

    def list(self, f: store.RecordFilter) -> list[dict[str, Any]]:
        """Records matching ``f`` (without content; ``verified`` is checked when one is read)."""
        with reading(self.engine) as conn:
            rows = store.find_records(conn, f)
            sigs = store.signatures(conn, [int(r.id) for r in rows])
        return [{
            "id": int(r.id), "site": r.site, "kind": r.kind,
            "period": {"from": r.period_from, "to": r.period_to},
            "language": r.language, "origin": r.origin, "issued_by": r.issued_by,
            "issued_at": format_time(r.issued_at), "digest": r.digest,
            "signatures": [_signature_view(s) for s in sigs.get(int(r.id), [])],
            "links": {"json": f"/api/v1/records/{r.id}",
                      **{fmt: f"/api/v1/records/{r.id}.{fmt}" for fmt in ("html", "pdf", "csv")}},
        } for r in rows]

    def sign(self, record_id: int, *, signer: Any, role: Any, note: Any = None, actor: str) -> StoredRecord:
        """Append a signature; refused (422) on a record that fails verification."""
        if not isinstance(signer, str) or not signer.strip() or len(signer) > MAX_NAME:
            raise RecordInvalid(tsay("errors.record.signer", max=MAX_NAME))
        if role not in ROLES:
            raise RecordInvalid(tsay("errors.record.role", got=repr(str(role)[:32])))
        if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE):
            raise RecordInvalid(tsay("errors.record.note", max=MAX_NOTE))
        record = self.get(record_id)
        if record.integrity == integrity.FAILED:
            raise RecordInvalid(tsay("errors.record.unverified", id=record_id, problems=list(record.problems)))
        now = self.clock()
        with writing(self.engine) as conn:
            store.lock_record(conn, record_id)
            previous = store.last_signature(conn, record_id)
            fields = {"record_id": record_id, "signer": signer.strip(), "role": role, "signed_at": now,
                      "note": (note or "").strip(), "digest": record.digest, "signed_by": actor}
            sid = store.add_signature(conn, **fields)
            row = store.get_record(conn, record_id)
            assert row is not None
            signature = integrity.sign_signoff(self.keys, integrity.signoff_fields({**fields, "id": sid}),
                                               record_signature=row.signature, previous=previous)
            store.set_signature(conn, record_signatures, sid, signature=signature, key_id=self.keys.key_id)
            audit.append(conn, self.keys, actor=actor, action="record.sign", target=f"record:{record_id}",
                         detail={"signature_id": sid, "signer": fields["signer"], "role": role,
                                 "signature": signature}, at=now)
        log.info("record %s signed as %s by %s", record_id, role, actor)
        return self.get(record_id)

    def verify(self, record_id: int) -> dict[str, Any]:
        r = self.get(record_id)
        return {"id": r.id, "verified": r.verified, "status": r.integrity, "digest": r.digest,
                "computed": r.computed, "key_id": r.key_id,
                "fingerprint": r.key.fingerprint if r.key is not None else None, "problems": list(r.problems),
                "signatures": [{**s, "matches": s["digest"] == r.computed} for s in r.signatures]}
