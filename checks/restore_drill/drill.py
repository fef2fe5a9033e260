"""The drill: create a throwaway database, restore, probe, size, always drop."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from checks import _logs, _odbc
from checks._files import (
    BackupFile,
)
from checks._params.restore_drill import PREFIX, RestoreDrillParams
from checks._verify import Verification
from checks.context import CheckContext
from checks.messages import say
from checks.restore_drill.dumps import ENGINE_OF_FORMAT, DrillError, Dump, identify, open_dump
from checks.restore_drill.servers import refuse_production, server_of
from checks.restore_drill.sql import (
    DEFAULT_PROBES,
    MYSQL_CREATE,
    MYSQL_DROP,
    MYSQL_KILL,
    MYSQL_LEFTOVERS,
    MYSQL_SIZE,
    MYSQL_THREADS,
    PG_CREATE,
    PG_DROP,
    PG_DROP_OLD,
    PG_LEFTOVERS,
    PG_SIZE,
    SQLSERVER_DROP,
    SQLSERVER_FILELISTONLY,
    SQLSERVER_HEADERONLY,
    SQLSERVER_LEFTOVERS,
    SQLSERVER_RESTORE,
    SQLSERVER_SERVER,
    SQLSERVER_SIZE,
    SQLSERVER_VERIFYONLY,
    SQLSERVER_VERIFYONLY_CHECKSUM,
)
from checks.restore_drill.tools import Finished, find_tool, mysql_lines, pg_plain_lines, run_tool
from checks.result import Metric, Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

log = _logs.get(__name__)  # logging itself only if a record needs it (checks/_logs.py)

@dataclass
class Drill:
    params: RestoreDrillParams
    ctx: CheckContext
    environ: Mapping[str, str]
    connect: Callable[..., Any] | None
    which: Callable[[str], str | None]
    deadline: float
    began: float
    name: str = ""
    password: str | None = None
    steps: dict[str, Any] = field(default_factory=dict)

    def timed(self, step: str, began: float, outcome: str = "ok") -> None:
        self.steps[step] = {"outcome": outcome, "seconds": round(time.monotonic() - began, 3)}

    def admin(self) -> Any:
        conn, self.password = _odbc.open_connection(
            self.params.target_dsn, self.params.password_file, self.params.password_env, self.environ,
            login_timeout=self.params.login_timeout, query_timeout=self.params.query_timeout,
            driver=self.connect, readonly=False)
        return conn

    def execute(self, conn: Any, sql: str, *args: Any, what: str) -> None:
        _odbc.execute(conn, sql, args, password=self.password, what=what)

    def fetch(self, conn: Any, sql: str, *args: Any, what: str) -> list[dict[str, Any]]:
        return _odbc.fetch(conn, sql, args, password=self.password, what=what)


def throwaway_name(tag_source: str, now: datetime) -> str:
    tag = hashlib.sha256(tag_source.encode("utf-8")).hexdigest()[:8]
    return f"{PREFIX}{tag}_{now.strftime('%Y%m%d%H%M%S')}_{secrets.token_hex(3)}"


_SQL = {
    "postgresql": {"create": PG_CREATE, "drop": PG_DROP, "size": PG_SIZE, "leftovers": PG_LEFTOVERS},
    "mysql": {"create": MYSQL_CREATE, "drop": MYSQL_DROP, "size": MYSQL_SIZE, "leftovers": MYSQL_LEFTOVERS},
    "sqlserver": {"create": "", "drop": SQLSERVER_DROP, "size": SQLSERVER_SIZE, "leftovers": SQLSERVER_LEFTOVERS},
}


def drop(d: Drill, conn: Any, name: str) -> None:
    if d.params.engine == "mysql":
        try:
            for row in d.fetch(conn, MYSQL_THREADS, name, what="threads of the throwaway database"):
                d.execute(conn, MYSQL_KILL.format(id=int(row["id"])), what="KILL")
        except _odbc.QueryFailed:
            pass  # a thread that ended meanwhile; DROP says whether anything still holds the database
    sql = _SQL[d.params.engine]["drop"].format(name=name)
    try:
        d.execute(conn, sql, what=f"DROP DATABASE {name}")
    except _odbc.QueryFailed:
        if d.params.engine != "postgresql":
            raise
        d.execute(conn, PG_DROP_OLD.format(name=name), what=f"DROP DATABASE {name}")


def drop_leftovers(d: Drill, conn: Any, tag_prefix: str) -> list[str]:
    """Throwaway databases of this drill that an interrupted run left behind: dropped now."""
    rows = d.fetch(conn, _SQL[d.params.engine]["leftovers"], tag_prefix + "%", what="leftover databases")
    names = [str(r["name"]) for r in rows if str(r["name"]).startswith(tag_prefix)]
    for name in names:
        drop(d, conn, name)
    return names


_PG_LIST_DBNAME = re.compile(r"^;\s+dbname: (.+)$", re.M)


def _pg_archive_database(d: Drill, f: BackupFile) -> str:
    """The source database's name from a custom archive's table of contents (``pg_restore --list``);
    a table of contents that cannot be read is a corrupt archive."""
    tool = find_tool(("pg_restore",), d.params.client_bin, d.which)
    step = time.monotonic()
    try:
        proc = subprocess.run([tool, "--list", f.path], capture_output=True, timeout=max(1.0, min(
            120.0, d.deadline - time.monotonic())), stdin=subprocess.DEVNULL, env={**d.environ, "LC_ALL": "C"})
    except subprocess.TimeoutExpired:
        d.timed("list", step, "time limit")
        return ""
    if proc.returncode != 0:
        d.timed("list", step, "failed")
        err = [ln for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
        raise DrillError(Status.CRITICAL, say("restore_drill.failed", name=f.name, why=say(
            "restore_drill.no_toc", tool="pg_restore", error=err[-1][:300] if err else say("results.no_message"))))
    d.timed("list", step)
    m = _PG_LIST_DBNAME.search(proc.stdout.decode("utf-8", "replace"))
    return m.group(1).strip() if m else ""


def _restore_pg(d: Drill, f: BackupFile, dump: Dump, env: dict[str, str]) -> Finished:
    target = _odbc.dsn_fields(d.params.target_dsn)
    conn_args = ["--host", target.get("SERVER") or target.get("HOST") or "localhost",
                 "--port", target.get("PORT") or "5432", "--username", target.get("UID") or target.get("USERNAME")
                 or "postgres", "--no-password"]
    if dump.format == "pg_custom":
        tool = find_tool(("pg_restore",), d.params.client_bin, d.which)
        argv = [tool, "--no-owner", "--no-privileges", "--exit-on-error", *conn_args, "--dbname", d.name]
        if not dump.compression:
            return run_tool([*argv, f.path], env, d.deadline)
        return run_tool(argv, env, d.deadline, _chunks(open_dump(f.path, dump.compression)))
    tool = find_tool(("psql",), d.params.client_bin, d.which)
    argv = [tool, "-X", "-q", "-v", "ON_ERROR_STOP=1", *conn_args, "--dbname", d.name, "-f", "-"]
    return run_tool(argv, env, d.deadline, pg_plain_lines(open_dump(f.path, dump.compression)))


def _restore_mysql(d: Drill, f: BackupFile, dump: Dump, env: dict[str, str], workdir: str) -> Finished:
    target = _odbc.dsn_fields(d.params.target_dsn)
    tool = find_tool(("mariadb", "mysql"), d.params.client_bin, d.which)
    options = os.path.join(workdir, "client.cnf")
    fd = os.open(options, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("[client]\n")
        if d.password is not None:
            escaped = d.password.replace("\\", "\\\\").replace('"', '\\"')
            fh.write(f'password="{escaped}"\n')
    argv = [tool, f"--defaults-extra-file={options}", "--batch", "--host",
            target.get("SERVER") or target.get("HOST") or "localhost", "--port", target.get("PORT") or "3306",
            "--user", target.get("UID") or target.get("USER") or "root", "--database", d.name]
    return run_tool(argv, env, d.deadline, mysql_lines(open_dump(f.path, dump.compression)))


def _chunks(stream: IO[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    with stream:
        while True:
            chunk = stream.read(size)
            if not chunk:
                return
            yield chunk


def _tool_failure(done: Finished, password: str | None, tool: str) -> str:
    """The tool's first error line (else its last line), with any password masked."""
    if done.stopped:
        return done.stopped
    lines = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    text = (_odbc.sanitise((errors or lines)[0 if errors else -1], password)[:400] if lines
            else say("results.no_message"))
    return say("results.tool_failed", command=tool, code=done.returncode, error=text)


def _restore_files(d: Drill, f: BackupFile, dump: Dump) -> tuple[str, Finished]:
    """Run the engine's client tool; (tool name, how it ended)."""
    env = {**d.environ, "LC_ALL": "C", "LANG": "C", "PGAPPNAME": "wardround-restore-drill",
           "PGCONNECT_TIMEOUT": str(int(d.params.login_timeout))}
    env.pop("PGPASSWORD", None)
    env.pop("MYSQL_PWD", None)
    if d.password is not None and d.params.engine == "postgresql":
        env["PGPASSWORD"] = d.password
    with tempfile.TemporaryDirectory(prefix="wardround-drill-") as workdir:
        if d.params.engine == "postgresql":
            tool = "pg_restore" if dump.format == "pg_custom" else "psql"
            return tool, _restore_pg(d, f, dump, env)
        return "mysql", _restore_mysql(d, f, dump, env, workdir)


def _restore_sqlserver(d: Drill, conn: Any, f: BackupFile, header: dict[str, Any], server: dict[str, Any]) -> None:
    device = server_file(d.params, f)
    position = int(header.get("position") or 1)
    files = d.fetch(conn, SQLSERVER_FILELISTONLY, device, position, what="RESTORE FILELISTONLY")
    moves: list[str] = []
    args: list[Any] = [device, position]
    data_dir = str(server.get("data_path") or "")
    log_dir = str(server.get("log_path") or data_dir)
    for i, row in enumerate(files):
        kind = str(row.get("type") or "D").upper()
        folder = log_dir if kind == "L" else data_dir
        ext = ".ldf" if kind == "L" else (".ndf" if i else ".mdf")
        sep = "\\" if "\\" in folder or not folder.startswith("/") else "/"
        moves.append("MOVE ? TO ?")
        args += [row.get("logicalname"), f"{folder.rstrip('/').rstrip(chr(92))}{sep}{d.name}_{i}{ext}"]
    sql = SQLSERVER_RESTORE.format(name=d.name, moves=", ".join(moves))
    try:
        conn.timeout = max(1, int(d.deadline - time.monotonic()))
    except Exception:
        pass
    d.execute(conn, sql, *args, what="RESTORE DATABASE")


def server_file(params: RestoreDrillParams, f: BackupFile) -> str:
    if not params.server_path:
        return f.path
    sep = "\\" if "\\" in params.server_path else "/"
    return params.server_path.rstrip("\\/") + sep + f.relative.replace("/", sep)



def drill(d: Drill, f: BackupFile, details: dict[str, Any], metrics: list[Metric], tag_prefix: str,
           verify: Callable[[str, float], Verification]) -> tuple[Status, str]:
    params = d.params
    began = time.monotonic()
    if params.engine == "sqlserver":
        dump = Dump("mssql")
    else:
        try:
            dump = identify(f.path)
        except OSError as exc:
            raise DrillError(Status.CRITICAL, say("accounts.unreadable", path=f.name,
                                                  error=exc.strerror or str(exc))) from None
        if ENGINE_OF_FORMAT[dump.format] != params.engine:
            raise DrillError(Status.UNKNOWN, say("restore_drill.wrong_engine", name=f.name, format=dump.format,
                                                 engine=params.engine, param="engine"))
        if dump.format == "pg_custom" and not dump.compression:
            dump.database = _pg_archive_database(d, f)
        details.update(format=dump.format, compression=dump.compression or None,
                       source_database=dump.database or None, source_host=dump.host or None)
        refuse_production(params, dump)
        if dump.format != "pg_custom":  # pg_restore reads custom archives whole; SQL text needs its end
            check = verify(f.path, max(1.0, d.deadline - time.monotonic()))
            d.timed("verify", began, "ok" if check.ok is not False else "failed")
            if check.ok is False:
                raise DrillError(Status.CRITICAL, say("restore_drill.not_restorable", name=f.name, text=check.text))
    try:
        conn = d.admin()
    except _odbc.ConfigError as exc:
        raise DrillError(Status.UNKNOWN, exc.summary) from None
    except _odbc.DbError as exc:
        raise DrillError(Status.CRITICAL, say("restore_drill.scratch", error=exc.summary)) from None
    target = server_of(params.target_dsn, params.engine)
    details.update(target=f"{target[0]}:{target[1]}" if target else None, throwaway_database=d.name)
    try:
        return _drill_on(d, conn, f, dump, details, metrics, tag_prefix)
    finally:
        _odbc.close_quietly(conn)


def _drill_on(d: Drill, conn: Any, f: BackupFile, dump: Dump, details: dict[str, Any], metrics: list[Metric],
              tag_prefix: str) -> tuple[Status, str]:
    params = d.params
    try:
        leftovers = drop_leftovers(d, conn, tag_prefix)
    except _odbc.QueryFailed as exc:
        raise DrillError(Status.UNKNOWN, say("restore_drill.scratch", error=exc.summary)) from None
    if leftovers:
        details["leftovers_dropped"] = leftovers
    header: dict[str, Any] = {}
    server: dict[str, Any] = {}
    if params.engine == "sqlserver":
        header, server = _sqlserver_prepare(d, conn, f, details)
        dump.database, dump.host = str(header.get("databasename") or ""), str(header.get("servername") or "")
        refuse_production(params, dump, target_server=str(server.get("server_name") or ""))
        if not params.restore:
            return Status.OK, say("restore_drill.verified_only", name=f.name, db=str(header.get("databasename")),
                                  finished=str(header.get("backupfinishdate")), setting="restore: false")
    created = False
    began = time.monotonic()
    outcome: tuple[Status, str] | None = None
    try:
        if params.engine != "sqlserver":
            d.execute(conn, _SQL[params.engine]["create"].format(name=d.name), what="CREATE DATABASE")
            created = True
            d.timed("create", began)
            step = time.monotonic()
            tool, done = _restore_files(d, f, dump)
            if done.returncode is None:
                d.timed("restore", step, "time limit")
                outcome = _late(d, f, tool)
            elif done.stopped and done.stopped_status is not Status.CRITICAL:
                d.timed("restore", step, "stopped")
                outcome = (done.stopped_status, say("restore_drill.file_said", name=f.name, text=done.stopped))
            elif done.returncode != 0:
                d.timed("restore", step, "failed")
                outcome = (Status.CRITICAL, say("restore_drill.failed", name=f.name,
                                                why=_tool_failure(done, d.password, tool)))
            else:
                d.timed("restore", step)
        else:
            step = time.monotonic()
            created = True
            try:
                _restore_sqlserver(d, conn, f, header, server)
                d.timed("restore", step)
            except _odbc.QueryFailed as exc:
                d.timed("restore", step, "failed")
                late = time.monotonic() >= d.deadline
                outcome = _late(d, f, "RESTORE DATABASE") if late else (
                    Status.CRITICAL, say("restore_drill.failed", name=f.name, why=exc.summary))
        if outcome is None:
            metrics.append(Metric("restore_seconds", d.steps["restore"]["seconds"], "s", min=0))
            outcome = _probe_and_size(d, conn, f, details, metrics)
    except _odbc.QueryFailed as exc:
        outcome = (Status.CRITICAL, say("restore_drill.scratch", error=exc.summary))
    finally:
        if created:
            step = time.monotonic()
            try:
                drop(d, conn, d.name)
                d.timed("drop", step)
                details["dropped"] = True
            except _odbc.QueryFailed as exc:
                d.timed("drop", step, "failed")
                details["dropped"] = False
                log.warning("restore_drill: could not drop %s", d.name)
                text = say("restore_drill.not_dropped", text=outcome[1] if outcome else say("restore_drill.stopped"),
                           name=d.name, error=exc.summary if len(exc.summary) <= 200 else exc.summary[:200])
                outcome = (Status.WARNING if outcome is None or outcome[0] is Status.OK else outcome[0], text)
    assert outcome is not None
    return outcome


def _late(d: Drill, f: BackupFile, tool: str) -> tuple[Status, str]:
    limit = d.deadline - d.began
    text = say("restore_drill.late", name=f.name, limit=round(limit), timeout=d.ctx.timeout_s, tool=tool,
               param="timeout")
    if d.params.max_duration is not None:
        return Status.WARNING, say("restore_drill.late_long", text=text, param="max_duration",
                                   max=d.params.max_duration)
    return Status.UNKNOWN, text


def _probe_and_size(d: Drill, conn: Any, f: BackupFile, details: dict[str, Any],
                    metrics: list[Metric]) -> tuple[Status, str]:
    params = d.params
    probe = params.probe.strip() or DEFAULT_PROBES[params.engine]
    details["probe"] = {"sql": " ".join(probe.split())[:500], "default": not params.probe.strip()}
    step = time.monotonic()
    try:
        pconn, _ = _odbc.open_connection(_odbc.with_database(params.target_dsn, d.name), params.password_file,
                                         params.password_env, d.environ, login_timeout=params.login_timeout,
                                         query_timeout=params.query_timeout, driver=d.connect, readonly=True)
    except _odbc.DbError as exc:
        d.timed("probe", step, "failed")
        return Status.CRITICAL, say("restore_drill.no_connection", name=f.name, error=exc.summary)
    try:
        rows = _odbc.fetch(pconn, probe, (), password=d.password, what="probe")
    except _odbc.QueryFailed as exc:
        d.timed("probe", step, "failed")
        details["probe"]["outcome"] = "failed"
        return Status.CRITICAL, say("restore_drill.probe_failed", name=f.name, error=exc.summary)
    finally:
        _odbc.close_quietly(pconn)
    details["probe"]["outcome"] = "row" if rows else "no row"
    d.timed("probe", step, "row" if rows else "no row")
    if not rows:
        return Status.CRITICAL, say("restore_drill.probe_empty", name=f.name)
    size: float | None = None
    try:
        [row] = d.fetch(conn, _SQL[params.engine]["size"], d.name, what="database size")
        size = float(row["bytes"]) if row.get("bytes") is not None else None
    except (_odbc.QueryFailed, ValueError, TypeError):
        size = None
    metrics.append(Metric("restored_size_bytes", size, "B", min=0))
    details["restored_size_bytes"] = None if size is None else int(size)
    took = time.monotonic() - d.began
    age = max(0.0, d.ctx.now.timestamp() - f.mtime)
    summary = say("restore_drill.restored" if size is None else "restore_drill.restored_sized", name=f.name,
                  size=f.size, age=age, db=d.name, took=took, restored=size)
    if params.max_duration is not None and took > params.max_duration:
        return Status.WARNING, say("restore_drill.took_long", took=took, param="max_duration",
                                   max=params.max_duration, text=summary)
    return Status.OK, summary


def _sqlserver_prepare(d: Drill, conn: Any, f: BackupFile,
                       details: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    device = server_file(d.params, f)
    step = time.monotonic()
    try:
        [server] = d.fetch(conn, SQLSERVER_SERVER, what="server properties")
        headers = d.fetch(conn, SQLSERVER_HEADERONLY, device, what="RESTORE HEADERONLY")
    except _odbc.QueryFailed as exc:
        d.timed("headeronly", step, "failed")
        raise DrillError(Status.CRITICAL, say("restore_drill.file_said", name=f.name, text=exc.summary)) from None
    fulls = [h for h in headers if int(h.get("backuptype") or 0) == 1]
    if not fulls:
        d.timed("headeronly", step, "no full backup")
        raise DrillError(Status.CRITICAL, say("restore_drill.no_full", name=f.name, n=len(headers)))
    header = max(fulls, key=lambda h: int(h.get("position") or 0))
    d.timed("headeronly", step)
    details.update(format="mssql", source_database=header.get("databasename"), source_host=header.get("servername"),
                   backup_finished=str(header.get("backupfinishdate")), backup_position=header.get("position"),
                   target_server=server.get("server_name"))
    step = time.monotonic()
    checksum = bool(header.get("hasbackupchecksums"))
    try:
        d.execute(conn, SQLSERVER_VERIFYONLY_CHECKSUM if checksum else SQLSERVER_VERIFYONLY, device,
                  int(header.get("position") or 1), what="RESTORE VERIFYONLY")
    except _odbc.QueryFailed as exc:
        d.timed("verifyonly", step, "failed")
        raise DrillError(Status.CRITICAL, say("restore_drill.file_said", name=f.name, text=exc.summary)) from None
    d.timed("verifyonly", step, "ok (with checksums)" if checksum else "ok")
    return header, server
