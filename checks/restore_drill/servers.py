"""Which server is which: never restore onto the production server and database."""

from __future__ import annotations

import socket

from checks import _odbc
from checks._params.restore_drill import DEFAULT_PORTS, RestoreDrillParams
from checks.messages import say
from checks.restore_drill.dumps import DrillError, Dump
from checks.result import Status

_LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "(local)", ".", "(localdb)"}


def server_of(dsn: str, engine: str) -> tuple[str, int] | None:
    """``(host, port)`` of a connection string, local names made one; None when it names no server."""
    f = _odbc.dsn_fields(dsn)
    host = f.get("SERVER") or f.get("HOST") or f.get("SERVERNAME") or ""
    if not host:
        return None
    return normal_server(host, f.get("PORT", ""), engine)


def normal_server(host: str, port: str | int, engine: str) -> tuple[str, int]:
    host = host.strip().lower()
    for prefix in ("tcp:", "np:", "lpc:"):
        host = host.removeprefix(prefix)
    if "," in host:  # SQL Server: host,port
        host, _, port = host.partition(",")
    instance = ""
    if "\\" in host:
        host, _, instance = host.partition("\\")
    if host in _LOCAL_NAMES or host in (socket.gethostname().lower(), socket.getfqdn().lower()):
        host = "localhost"
    try:
        number = int(str(port).strip()) if str(port).strip() else DEFAULT_PORTS[engine]
    except ValueError:
        number = DEFAULT_PORTS[engine]
    return (f"{host}\\{instance}" if instance else host, number)


def _database_of(dsn: str) -> str:
    f = _odbc.dsn_fields(dsn)
    return (f.get("DATABASE") or f.get("DB") or "").strip()


def refuse_production(params: RestoreDrillParams, dump: Dump, target_server: str = "") -> None:
    """DrillError (UNKNOWN) when the target is the source's own server and database."""
    target = server_of(params.target_dsn, params.engine)
    target_db = _database_of(params.target_dsn).lower()
    source = server_of(params.source_dsn, params.engine) if params.source_dsn else None
    source_dbs = {d.lower() for d in (_database_of(params.source_dsn), dump.database) if d}
    if target_server and dump.host:  # SQL Server: @@SERVERNAME against the backup's ServerName
        same_server = target_server.lower() == dump.host.lower()
    elif source is None and dump.host and target is not None:  # mysqldump's header names the host, not the port
        same_server = normal_server(dump.host, "", params.engine)[0] == target[0]
    else:
        same_server = source is None or target is None or source == target
    if target_db and target_db in source_dbs and same_server:
        where = f"{target[0]}:{target[1]}" if target else (target_server or say("restore_drill.the_target"))
        raise DrillError(Status.UNKNOWN, say("restore_drill.refused", param="target_dsn", db=target_db, where=where,
                                             maintenance="postgres, mysql, master"))


