"""The SQL of the service archive and of the people's browser sessions.

Archive entries are only ever inserted.  A correction is a new row whose
``corrects_id`` names the row it replaces; the unique constraint on
``corrects_id`` makes "correct the same entry twice" fail in the database
(two collectors racing on one correction: one wins, the other gets
:class:`sqlalchemy.exc.IntegrityError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.orm import aliased

from collector.store.tables import archive_entries, users, web_sessions

__all__ = [
    "ArchiveFilter",
    "delete_expired_sessions",
    "delete_session",
    "find_entries",
    "get_entry",
    "insert_entry",
    "insert_session",
    "session_person",
]


@dataclass(frozen=True, slots=True)
class ArchiveFilter:
    site: str | None = None
    host: str | None = None
    kinds: tuple[str, ...] = ()
    since: datetime | None = None  # inclusive, on ``at``
    until: datetime | None = None  # exclusive, on ``at``
    current_only: bool = False  # leave out entries a later correction replaced
    limit: int = 500


_later = aliased(archive_entries, name="later")


def _with_corrected_by() -> Any:
    """Archive rows with ``corrected_by``: the id of the entry that corrects each, or NULL."""
    return (select(archive_entries, _later.c.id.label("corrected_by"))
            .select_from(archive_entries.outerjoin(_later, _later.c.corrects_id == archive_entries.c.id)))


def insert_entry(conn: Connection, values: Mapping[str, Any]) -> int:
    # a one-row INSERT always has its key
    return int(conn.execute(insert(archive_entries).values(**values)).inserted_primary_key[0])  # type: ignore[index]  # see above


def get_entry(conn: Connection, entry_id: int) -> Any | None:
    return conn.execute(_with_corrected_by().where(archive_entries.c.id == entry_id)).first()


def find_entries(conn: Connection, f: ArchiveFilter) -> list[Any]:
    """Entries matching ``f``, oldest service time first (then by id)."""
    q = _with_corrected_by()
    if f.site is not None:
        q = q.where(archive_entries.c.site == f.site)
    if f.host is not None:
        q = q.where(archive_entries.c.host == f.host)
    if f.kinds:
        q = q.where(archive_entries.c.kind.in_(f.kinds))
    if f.since is not None:
        q = q.where(archive_entries.c.at >= f.since)
    if f.until is not None:
        q = q.where(archive_entries.c.at < f.until)
    if f.current_only:
        q = q.where(_later.c.id.is_(None))
    q = q.order_by(archive_entries.c.at, archive_entries.c.id).limit(f.limit)
    return list(conn.execute(q))


# -- browser sessions -----------------------------------------------------------------------

def insert_session(conn: Connection, *, id_hash: str, user_name: str, created_at: datetime,
                   expires_at: datetime) -> None:
    conn.execute(insert(web_sessions).values(id_hash=id_hash, user_name=user_name, created_at=created_at,
                                             expires_at=expires_at))


def session_person(conn: Connection, id_hash: str, now: datetime) -> Any | None:
    """(name, role) of the person a live session belongs to, or None (unknown, expired, user gone)."""
    q = (select(users.c.name, users.c.role)
         .select_from(web_sessions.join(users, users.c.name == web_sessions.c.user_name))
         .where(web_sessions.c.id_hash == id_hash, web_sessions.c.expires_at > now,
                users.c.disabled_at.is_(None)))
    return conn.execute(q).first()


def delete_session(conn: Connection, id_hash: str) -> None:
    conn.execute(delete(web_sessions).where(web_sessions.c.id_hash == id_hash))


def delete_expired_sessions(conn: Connection, now: datetime) -> int:
    return int(conn.execute(delete(web_sessions).where(web_sessions.c.expires_at <= now)).rowcount or 0)
