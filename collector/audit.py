"""The audit log of people's actions: append-only, hash-chained, signed with the collector key.

What is logged (GB/T 22239-2019 level 3, 安全审计: who, when, what, on what,
from where, and whether it succeeded), by the service function that does
the action — so the API, the pages and the command line all log the same::

    login           a person logs in to the pages (outcome ``failed`` for a refused token)
    logout          a person logs out
    ticket.open     a ticket opened by hand (``created: false`` when it was reported again)
    ticket.ack / ticket.resolve / ticket.close / ticket.onsite / ticket.comment
    ticket.followup the customer follow-up of a resolved ticket (satisfaction, contact, note, the
                    service complaint it opened)
    record.issue    an inspection record issued (by hand, or by the schedule: actor ``system``)
    record.sign     a sign-off appended to a record
    archive.add     a service archive entry logged
    token.create    an agent token made (site, host; never the token)
    token.revoke / token.rotate   an agent token revoked, or replaced with a grace period
    relay.create / relay.revoke   a site relay's token made (never the token), or revoked
    relay.import    ferry bundles imported, or a bundle refused (outcome ``failed``: forged, corrupt)
    user.create     a person made (name, role; never the token)
    user.disable / user.token     a person disabled, or given a new token (the old one stops)
    enrolkey.create / enrolkey.revoke   a site enrolment key made or revoked (never the key)
    host.enrol      a host enrolled with a key (outcome ``failed`` for a refused key, with the reason)
    host.approve / host.retire    a host approved, or retired from records and silence rules
    fleet.apply     a fleet file stored as a new version (its digest)
    audit.prune     the retention prune's checkpoint (actor ``system``): entries below ``before_seq``
                    are removed; ``last_hash`` is the hash of the last one removed (:func:`prune_before`)

Adding an action is one call inside the transaction that performs it, as its
last statement::

    audit.append(conn, keys, actor=name, action="token.revoke", target=f"token:{site}/{host}")

An entry is ``seq`` (1, 2, 3... without gaps), ``at``, ``actor``, ``action``,
``outcome`` (``ok``/``failed``), ``target`` (``ticket:17``, ``record:12``,
``user:alice``...), ``source`` (``api 10.0.0.5``, ``web 10.0.0.5``, ``cli``,
``scheduler``) and ``detail`` (a small JSON object; never a token, password
or key: :func:`append` refuses such fields).  Its bytes (:func:`entry_bytes`)
include the previous entry's hash; ``hash`` is their SHA-256 and
``signature`` the collector key's Ed25519 signature of them.  So an entry
edited in the database fails its hash or, with the hash recomputed, its
signature; a deleted one leaves a gap in ``seq`` and a broken link; an
inserted one cannot be signed.  The newest entries could be cut off without
a trace in the database alone: every append is also logged (``audit #N
<action> ... hash <first 16>``) to the collector's log, outside the
database, to compare the head with.  :func:`verify_chain` walks the chain
(``wardround-collector audit verify``).
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import re
import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine

from checks.messages.reader import cli_said
from checks.result import format_time
from collector.keys import Keyring
from collector.store import audit as store
from collector.store import prune as prune_sql
from collector.store.db import database_time, reading, writing

__all__ = [
    "CHECKPOINT",
    "GENESIS",
    "AuditPrune",
    "SOURCE",
    "ChainReport",
    "append",
    "entry_bytes",
    "entry_view",
    "list_entries",
    "local_actor",
    "prune_before",
    "verify_chain",
]

log = logging.getLogger(__name__)

GENESIS = "0" * 64  # the "previous hash" of the first entry
CHECKPOINT = "audit.prune"  # the entry the retention prune appends before it removes the oldest entries
SOURCE: ContextVar[str] = ContextVar("wardround_audit_source", default="cli")
_ACTION_RE = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)?$")
_SECRET_FIELDS = re.compile(r"token|password|secret|private|key$", re.IGNORECASE)
_SECRET_VALUES = ("wra_", "wru_", "wre_", "-----BEGIN")
MAX_ACTOR, MAX_TARGET, MAX_SOURCE = 64, 128, 128


def local_actor() -> str:
    """Who acts from the command line: ``cli:<the operating-system user>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"[:MAX_ACTOR]


def _check_detail(detail: Mapping[str, Any]) -> dict[str, Any]:
    """``detail`` as written: a secret-named field is a programming error (raised); a value a person
    typed that looks like a token or a key (a note, a comment) is kept out as ``[redacted]``."""
    out = {}
    for key, value in detail.items():
        if _SECRET_FIELDS.search(key):
            raise ValueError(f"audit detail {key!r}: secrets are never written to the audit log")
        out[key] = "[redacted]" if isinstance(value, str) and value.lstrip().startswith(_SECRET_VALUES) else value
    return out


def entry_bytes(*, seq: int, at: datetime, actor: str, action: str, outcome: str, target: str, source: str,
                detail: str, prev_hash: str) -> bytes:
    """What an entry's hash and signature cover: every field and the previous entry's hash."""
    return orjson.dumps({"v": 1, "seq": seq, "at": format_time(at), "actor": actor, "action": action,
                         "outcome": outcome, "target": target, "source": source, "detail": detail,
                         "prev": prev_hash}, option=orjson.OPT_SORT_KEYS)


def append(conn: Connection, keys: Keyring, *, actor: str, action: str, target: str = "", outcome: str = "ok",
           detail: Mapping[str, Any] | None = None, at: datetime | None = None) -> int:
    """Append one entry in ``conn``'s write transaction (call it last there); its ``seq``."""
    if not _ACTION_RE.match(action):
        raise ValueError(f"audit action {action!r}: expected a name like ticket.ack")
    if outcome not in ("ok", "failed"):
        raise ValueError(f"audit outcome {outcome!r}: expected ok or failed")
    detail = _check_detail(detail or {})
    store.lock_head(conn)
    previous = store.head(conn)
    seq, prev_hash = (previous[0] + 1, previous[1]) if previous else (1, GENESIS)
    fields: dict[str, Any] = {
        "seq": seq, "at": at or database_time(conn), "actor": actor[:MAX_ACTOR], "action": action,
        "outcome": outcome, "target": target[:MAX_TARGET], "source": SOURCE.get()[:MAX_SOURCE],
        "detail": orjson.dumps(detail, option=orjson.OPT_SORT_KEYS).decode("utf-8"),
        "prev_hash": prev_hash}
    data = entry_bytes(**fields)
    digest = hashlib.sha256(data).hexdigest()
    store.insert_entry(conn, {**fields, "hash": digest, "key_id": keys.key_id, "signature": keys.sign(data)})
    log.info("audit #%d %s %s by %s on %s from %s, hash %s", seq, action, outcome, fields["actor"],
             fields["target"] or "-", fields["source"], digest[:16])
    return seq


def _row_bytes(row: Any) -> bytes:
    return entry_bytes(seq=int(row.seq), at=row.at, actor=row.actor, action=row.action, outcome=row.outcome,
                       target=row.target, source=row.source, detail=row.detail, prev_hash=row.prev_hash)


def entry_view(row: Any) -> dict[str, Any]:
    """An entry as the API shows it."""
    try:
        detail = orjson.loads(row.detail)
    except orjson.JSONDecodeError:
        detail = row.detail
    return {"seq": int(row.seq), "at": format_time(row.at), "actor": row.actor, "action": row.action,
            "outcome": row.outcome, "target": row.target, "source": row.source, "detail": detail,
            "hash": row.hash, "prev_hash": row.prev_hash, "key_id": row.key_id}


def list_entries(engine: Engine, f: store.AuditFilter) -> list[dict[str, Any]]:
    with reading(engine) as conn:
        return [entry_view(r) for r in store.find_entries(conn, f)]


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of walking the chain: intact, or where it first breaks and why."""

    entries: int
    head_seq: int | None
    head_hash: str | None
    broken_seq: int | None = None
    problem: str | None = None
    first_seq: int | None = None  # above 1 when the retention prune removed the oldest entries

    @property
    def intact(self) -> bool:
        return self.problem is None


def _entry_problem(row: Any, expected: int, prev_hash: str, keys: Keyring) -> str | None:
    seq = int(row.seq)
    if seq != expected:
        return (cli_said("cli.collector.audit.missing", seq=expected, next=seq) if seq > expected
                else cli_said("cli.collector.audit.out_of_order", seq=seq))
    if row.prev_hash != prev_hash:
        return cli_said("cli.collector.audit.not_following", seq=seq, previous=seq - 1)
    data = _row_bytes(row)
    if hashlib.sha256(data).hexdigest() != row.hash:
        return cli_said("cli.collector.audit.changed", seq=seq)
    if not keys.verify(row.key_id, data, row.signature):
        return cli_said("cli.collector.audit.forged", seq=seq, key_id=str(row.key_id))
    return None


def verify_chain(engine: Engine, keys: Keyring) -> ChainReport:
    """Walk every entry in order; stop at the first that is missing, edited, inserted or forged.

    A chain may start above #1 only where a signed ``audit.prune`` checkpoint (:func:`prune_before`)
    says the entries below were removed by retention, and names the hash the first kept entry follows.
    """
    expected, prev_hash, count, first, start_prev = 1, GENESIS, 0, None, GENESIS
    marks: list[tuple[int, int, str]] = []  # (checkpoint seq, before_seq, last hash) of verified checkpoints
    with reading(engine) as conn:
        for row in store.walk(conn):
            if first is None:
                first = int(row.seq)
                if first > 1:  # proven below by a checkpoint, or reported as missing
                    expected, prev_hash = first, str(row.prev_hash)
                start_prev = prev_hash
            problem = _entry_problem(row, expected, prev_hash, keys)
            if problem is not None:
                return ChainReport(count, expected - 1 if count else None, prev_hash if count else None,
                                   expected, problem, first)
            if row.action == CHECKPOINT:
                detail = orjson.loads(row.detail)
                marks.append((int(row.seq), int(detail["before_seq"]), str(detail["last_hash"])))
            count, expected, prev_hash = count + 1, expected + 1, row.hash
        if first is not None and first > 1:
            problem = _start_problem(conn, first, start_prev, marks)
            if problem is not None:
                return ChainReport(0, None, None, 1, problem, first)
    return ChainReport(count, expected - 1 if count else None, prev_hash if count else None, first_seq=first)


def _start_problem(conn: Connection, first: int, start_prev: str, marks: list[tuple[int, int, str]]) -> str | None:
    """Why a chain starting at #``first`` is not accounted for by its retention checkpoints, or None."""
    covering = [m for m in marks if m[1] >= first]
    if not covering:
        return cli_said("cli.collector.audit.start_missing", last=first - 1, action="audit.prune")
    for at, before, last_hash in covering:
        seen = start_prev if before == first else store.hash_of(conn, before - 1)
        if seen != last_hash:
            return cli_said("cli.collector.audit.checkpoint", seq=before - 1, at=at)
    return None


@dataclass(frozen=True, slots=True)
class AuditPrune:
    """What the audit part of a prune removed (or would): entries below ``before_seq``."""

    before_seq: int | None
    removed: int
    batches: int


def prune_before(engine: Engine, keys: Keyring | None, cutoff: datetime, *, dry_run: bool = False,
                 batch: int = 5000, pause: float = 0.0) -> AuditPrune:
    """Remove the entries older than ``cutoff``, oldest first, after a signed ``audit.prune`` checkpoint.

    The checkpoint (appended to the chain first, in its own transaction) names the first entry kept and
    the hash of the last one removed, so ``audit verify`` still proves the chain from there; each batch
    is its own transaction and a run cut short is finished by the next (the checkpoint is not repeated).
    """
    with writing(engine) as conn:
        store.lock_head(conn)
        last = store.newest_before(conn, cutoff)
        if last is None or store.lowest_seq(conn) > last[0]:
            return AuditPrune(None, 0, 0)
        before = last[0] + 1
        if dry_run:
            return AuditPrune(before, prune_sql.count_audit(conn, before), 0)
        if store.checkpoint_before(conn, CHECKPOINT) < before:
            if keys is None:
                raise ValueError("the audit log is pruned only with the signing key (the checkpoint is signed)")
            append(conn, keys, actor="system", action=CHECKPOINT, target=f"audit:1-{last[0]}",
                   detail={"before_seq": before, "last_hash": last[1], "cutoff": format_time(cutoff)})
    removed = batches = 0
    while True:
        with writing(engine) as conn:
            n = prune_sql.audit_batch(conn, before, batch)
        if not n:
            return AuditPrune(before, removed, batches)
        removed, batches = removed + n, batches + 1
        if pause:
            time.sleep(pause)
