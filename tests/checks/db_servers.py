"""Throwaway database servers for the ``db_backup`` tests, reached through real ODBC drivers.

``pg_server``: a private PostgreSQL 15 cluster (initdb/pg_ctl as user postgres) with WAL
archiving on; ``archive_command`` runs a script whose exit code the test sets
(:meth:`PgServer.set_archive_exit`).  ``mariadb_server``: a private MariaDB
(mariadb-install-db + mariadbd) with a monitoring login.  Both are session fixtures that
are stopped by PID at the end.  A missing component calls ``tests.conftest.missing``:
it fails under CI (which installs everything) and skips elsewhere.

Import the fixtures into a test module: ``from tests.checks.db_servers import pg_server``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port, missing

PGBIN = Path("/usr/lib/postgresql/15/bin")
PG_PASSWORD = "pg-s3cret;{x}"   # a ; and braces: the connection string must escape them
MARIADB_PASSWORD = "my-s3cret;{y}"


def _need_odbc_driver(name: str, component: str) -> None:
    try:
        import pyodbc
    except ImportError as exc:
        missing(component, f"pyodbc is not installed ({exc})")
        return
    if name not in pyodbc.drivers():
        missing(component, f"ODBC driver {name!r} is not registered (apt-get install "
                           f"unixodbc odbc-postgresql odbc-mariadb); have {pyodbc.drivers()}")


def _chown(path: Path, user: str) -> None:
    pw = pwd.getpwnam(user)
    os.chown(path, pw.pw_uid, pw.pw_gid)


@dataclass
class PgServer:
    root: Path
    port: int
    password_file: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def dsn(self) -> str:
        return (f"DRIVER={{PostgreSQL Unicode}};SERVER=127.0.0.1;PORT={self.port};"
                "DATABASE=postgres;UID=monitor")

    def psql(self, sql: str) -> str:
        out = subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PGBIN / "psql"), "-h", str(self.root), "-p",
             str(self.port), "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-Atc", sql],
            capture_output=True, text=True, timeout=30, check=True)
        return out.stdout.strip()

    def set_archive_exit(self, code: int) -> None:
        """The archive script exits with ``code`` from now on (0 copies the file)."""
        (self.root / "archive_exit").write_text(f"{code}\n")

    def switch_wal(self) -> str:
        """Write a little, then close the current WAL file so the archiver gets work."""
        self.psql("CREATE TABLE IF NOT EXISTS churn (n int); "
                  "INSERT INTO churn SELECT generate_series(1, 100)")
        return self.psql("SELECT pg_walfile_name(pg_switch_wal())")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    if not (PGBIN / "initdb").exists():
        missing("PostgreSQL 15", f"{PGBIN}/initdb not found (apt-get install postgresql-15)")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        missing("PostgreSQL 15", "no 'postgres' user to run initdb as")
    _need_odbc_driver("PostgreSQL Unicode", "PostgreSQL ODBC driver")
    root = Path(tempfile.mkdtemp(prefix="wardround-pg-"))
    root.chmod(0o755)
    _chown(root, "postgres")
    port = free_port()
    (root / "pwfile").write_text("postgres-admin\n")
    (root / "archive").mkdir()
    _chown(root / "archive", "postgres")
    script = root / "archive.sh"
    # %p = path of the WAL file, %f = its name; the exit code comes from a file the test writes
    script.write_text('#!/bin/sh\ncode=$(cat "$(dirname "$0")/archive_exit")\n'
                      '[ "$code" = 0 ] && cp "$1" "$(dirname "$0")/archive/$2"\nexit "$code"\n')
    script.chmod(0o755)
    server = PgServer(root=root, port=port, password_file=root / "monitor.password")
    server.set_archive_exit(1)
    for p in (root / "pwfile", root / "archive_exit"):
        _chown(p, "postgres")
    as_pg = ["runuser", "-u", "postgres", "--"]
    subprocess.run(as_pg + [str(PGBIN / "initdb"), "-D", str(server.data), "-U", "postgres", "--no-sync",
                            "--locale=C.UTF-8", "--auth-host=scram-sha-256", "--auth-local=trust",
                            f"--pwfile={root / 'pwfile'}"],
                   check=True, capture_output=True, timeout=60)
    opts = (f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c wal_level=replica "
            f'-c archive_mode=on -c "archive_command={script} %p %f"')  # pg_ctl -o goes through sh
    started = subprocess.run(as_pg + [str(PGBIN / "pg_ctl"), "-D", str(server.data), "-l", str(root / "log"),
                                      "-w", "-t", "60", "-o", opts, "start"], capture_output=True, timeout=90)
    if started.returncode != 0:
        log = (root / "log").read_text(errors="replace") if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {started.stderr.decode(errors='replace')}\n{log[-2000:]}")
    try:
        # least privilege: pg_monitor reads pg_stat_archiver and settings, nothing else
        server.psql(f"CREATE ROLE monitor LOGIN PASSWORD '{PG_PASSWORD}' IN ROLE pg_monitor")
        server.password_file.write_text(PG_PASSWORD + "\n")
        server.password_file.chmod(0o600)
        yield server
    finally:
        subprocess.run(as_pg + [str(PGBIN / "pg_ctl"), "-D", str(server.data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class MariaDbServer:
    root: Path
    port: int
    password_file: Path

    @property
    def dsn(self) -> str:
        return f"DRIVER={{MariaDB Unicode}};SERVER=127.0.0.1;PORT={self.port};UID=monitor"

    def sql(self, sql: str) -> str:
        out = subprocess.run(["mariadb", f"--socket={self.root / 'sock'}", "-uroot", "-N", "-B", "-e", sql],
                             capture_output=True, text=True, timeout=30, check=True)
        return out.stdout.strip()


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDbServer]:
    for tool in ("mariadb-install-db", "mariadbd", "mariadb-admin", "mariadb"):
        if not shutil.which(tool) and not Path("/usr/sbin", tool).exists():
            missing("MariaDB server", f"{tool} not found (apt-get install mariadb-server)")
    _need_odbc_driver("MariaDB Unicode", "MariaDB ODBC driver")
    root = Path(tempfile.mkdtemp(prefix="wardround-my-"))
    root.chmod(0o755)
    data = root / "data"
    data.mkdir()
    _chown(data, "mysql")
    _chown(root, "mysql")
    subprocess.run(["mariadb-install-db", "--user=mysql", f"--datadir={data}", "--skip-test-db",
                    "--auth-root-authentication-method=normal"], check=True, capture_output=True, timeout=120)
    port = free_port()
    mariadbd = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
    proc = subprocess.Popen([mariadbd, "--no-defaults", "--user=mysql", f"--datadir={data}",
                             f"--socket={root / 'sock'}", f"--port={port}", "--bind-address=127.0.0.1",
                             f"--pid-file={root / 'pid'}", f"--log-error={root / 'err.log'}",
                             "--skip-log-bin",
                             "--innodb-flush-log-at-trx-commit=0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = MariaDbServer(root=root, port=port, password_file=root / "monitor.password")
    try:
        for _ in range(120):
            ping = subprocess.run(["mariadb-admin", f"--socket={root / 'sock'}", "-uroot", "ping"],
                                  capture_output=True, timeout=10)
            if ping.returncode == 0:
                break
            if proc.poll() is not None:
                break
            time.sleep(0.25)
        else:
            ping = None
        if ping is None or ping.returncode != 0:
            log = (root / "err.log").read_text(errors="replace") if (root / "err.log").exists() else ""
            pytest.fail(f"MariaDB did not start:\n{log[-2000:]}")
        # least privilege: read the backup history table only
        server.sql(f"CREATE USER 'monitor'@'127.0.0.1' IDENTIFIED BY '{MARIADB_PASSWORD}'; "
                   "GRANT USAGE ON *.* TO 'monitor'@'127.0.0.1';")
        server.password_file.write_text(MARIADB_PASSWORD + "\n")
        server.password_file.chmod(0o600)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
