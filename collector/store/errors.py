"""Which database errors are the database's fault and which are ours.

:func:`classify` looks at any exception raised while talking to the database,
whether SQLAlchemy wrapped it or the driver raised it directly (the bulk
insert paths talk to psycopg and sqlite3 themselves), and answers a
:class:`Fault`, or None for an exception that is not a database error::

    Fault.kind == "unavailable"   the database cannot serve now; the request may
                                  succeed later or on a healthy database:
                                  answer 503 with Retry-After
    Fault.kind == "bug"           our SQL or our data is wrong; retrying will not
                                  help: answer a logged 500

``Fault.storage`` is True when the error says the database cannot store
(disk full, I/O error, read-only): ``/healthz`` reports it until a write
succeeds again.

PostgreSQL errors are sorted by SQLSTATE (the driver's own class is too
coarse: psycopg raises ``ReadOnlySqlTransaction`` as an InternalError and a
missing privilege as a ProgrammingError):

=========================  ===============================================  ===========
SQLSTATE                   what                                             kind
=========================  ===============================================  ===========
08xxx                      connection refused, lost or failed               unavailable
28xxx, 3D000               login refused, database missing (deployment)     unavailable
40001, 40P01, 40xxx        serialization failure, deadlock                  unavailable
53xxx                      disk full, out of memory, too many connections   unavailable
55P03, 55006               lock timeout, object in use                      unavailable
57014, 57Pxx               statement timeout or cancel, shutdown            unavailable
58xxx                      I/O error                                        unavailable
25006, 25P03               read-only (a standby), idle-in-transaction kill  unavailable
42501                      privilege missing (deployment)                   unavailable
XXxxx                      internal error, data or index corrupted          unavailable
no SQLSTATE (client side)  connect timeout, connection closed under us      unavailable
anything else              syntax, undefined table or column, constraint,   bug
                           bad value, failed transaction reused
=========================  ===============================================  ===========

SQLite errors are sorted by their primary result code: BUSY, LOCKED, NOMEM,
READONLY, INTERRUPT, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL and NOTADB are
``unavailable``; ERROR (syntax, no such table), CONSTRAINT, MISMATCH, MISUSE,
RANGE and TOOBIG are bugs.

SQLAlchemy's own faults: a pool that hands out no connection in time
(``TimeoutError``) and a connection found dead (``DisconnectionError``, or
any error that invalidated its connection) are ``unavailable``; the rest of
its exceptions are bugs.
"""

from __future__ import annotations

import sqlite3
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from sqlalchemy import exc as sa_exc

if TYPE_CHECKING:  # imported by whoever talks to PostgreSQL, not by a command on SQLite (a fast start)
    import psycopg

__all__ = ["DatabaseBusy", "Fault", "classify", "describe"]

Kind = Literal["unavailable", "bug"]

_PG_UNAVAILABLE_CLASSES = ("08", "28", "40", "53", "57", "58", "XX")
_PG_UNAVAILABLE_CODES = {"3D000", "55P03", "55006", "25006", "25P03", "42501"}
_PG_STORAGE_CODES = {"53100", "58030", "25006", "58P01", "58P02"}

# SQLite primary result codes (https://sqlite.org/rescode.html)
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_NOMEM, _SQLITE_READONLY, _SQLITE_INTERRUPT = 5, 6, 7, 8, 9
_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_PROTOCOL = 10, 11, 13, 14, 15
_SQLITE_NOTADB = 26
_SQLITE_UNAVAILABLE = {_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_NOMEM, _SQLITE_READONLY, _SQLITE_INTERRUPT,
                       _SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_PROTOCOL,
                       _SQLITE_NOTADB}
_SQLITE_STORAGE = {_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN}


class DatabaseBusy(Exception):
    """The database did not let us in within our bound (SQLite's in-process write lock)."""


@dataclass(frozen=True, slots=True)
class Fault:
    kind: Kind
    storage: bool = False
    code: str = ""  # SQLSTATE, SQLite result code name, or the exception's class name


def classify(exc: BaseException) -> Fault | None:
    """The fault ``exc`` stands for, or None if it is not a database error."""
    if isinstance(exc, sa_exc.DBAPIError):
        inner = classify(exc.orig) if exc.orig is not None else None
        if exc.connection_invalidated:
            return Fault("unavailable", inner.storage if inner else False,
                         inner.code if inner else type(exc).__name__)
        return inner or Fault("bug", code=type(exc).__name__)
    if isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError | DatabaseBusy):
        return Fault("unavailable", code=type(exc).__name__)
    if isinstance(exc, sa_exc.SQLAlchemyError):
        return Fault("bug", code=type(exc).__name__)
    pg = sys.modules.get("psycopg")  # an error of psycopg's exists only once psycopg is imported
    if pg is not None and isinstance(exc, pg.Error):
        return _postgresql(exc)
    if isinstance(exc, sqlite3.Error):
        return _sqlite(exc)
    return None


def _postgresql(exc: psycopg.Error) -> Fault:
    import psycopg

    state = exc.sqlstate
    if not state:  # raised on our side of the wire: connect timeout, connection lost or closed
        kind: Kind = "unavailable" if isinstance(exc, psycopg.OperationalError) else "bug"
        return Fault(kind, code=type(exc).__name__)
    unavailable = state[:2] in _PG_UNAVAILABLE_CLASSES or state in _PG_UNAVAILABLE_CODES
    return Fault("unavailable" if unavailable else "bug", state in _PG_STORAGE_CODES, state)


def _sqlite(exc: sqlite3.Error) -> Fault:
    code = getattr(exc, "sqlite_errorcode", None)
    name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    if code is None:  # raised by the sqlite3 module itself, not by SQLite
        kind: Kind = "unavailable" if isinstance(exc, sqlite3.OperationalError) else "bug"
        return Fault(kind, code=name)
    primary = code & 0xFF
    if primary in _SQLITE_UNAVAILABLE:
        return Fault("unavailable", primary in _SQLITE_STORAGE, name)
    return Fault("bug", code=name)


def describe(exc: BaseException) -> str:
    """One line for a log: the class, the code and the first line of the driver's message.

    Only for ``unavailable`` faults, whose messages hold no row data (a
    constraint violation's message can; bugs are logged with their traceback).
    """
    inner = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
    fault = classify(exc)
    first = (str(inner).strip().splitlines() or [""])[0][:200]
    code = f" {fault.code}" if fault and fault.code and fault.code != type(inner).__name__ else ""
    return f"{type(inner).__name__}{code}: {first}" if first else f"{type(inner).__name__}{code}"
