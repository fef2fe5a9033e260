"""Fixtures for the collector tests: real SQLite files and a throwaway PostgreSQL cluster.

``db_url`` is parametrized over ``sqlite`` and ``postgresql``: every test
that takes it runs against both.  The PostgreSQL cluster is started once
per session with ``initdb``/``pg_ctl`` in a temp dir (as user ``postgres``
when we are root, since initdb refuses root) and each test gets a fresh
database copied from a migrated template.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from checks.result import Metric, Result, Status
from collector.app import create_app
from collector.auth import create_agent_token, create_user
from collector.config import Settings
from collector.store.db import make_engine
from collector.store.migrate import upgrade
from tests.conftest import free_port, missing

PG_BIN = Path(os.environ.get("WARDROUND_PG_BIN", "/usr/lib/postgresql/15/bin"))
TEMPLATE_DB = "wardround_template"


@dataclass
class PgCluster:
    port: int
    datadir: Path

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                               autocommit=True)

    def create_db(self, template: str | None = None) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return name

    def drop_db(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # -- faults: stop and start the server, freeze and thaw its processes --------------------

    def _pg_ctl(self, *args: str, timeout: float = 90) -> None:
        subprocess.run(_as_pg_user([str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), *args]),
                       check=True, capture_output=True, timeout=timeout)

    def start(self) -> None:
        """Start the server (again) on its port."""
        base = self.datadir.parent
        opts = (f"-c fsync=off -c full_page_writes=off -c listen_addresses=127.0.0.1 -p {self.port} "
                f"-k {base}")
        self._pg_ctl("-l", str(base / "server.log"), "-o", opts, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-m", mode, "-w", "stop", timeout=60)

    def pids(self) -> list[int]:
        """The postmaster and every process it started."""
        postmaster = int((self.datadir / "postmaster.pid").read_text().split()[0])
        children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
        return [postmaster, *map(int, children)]

    def freeze(self) -> list[int]:
        """SIGSTOP the whole server: it accepts TCP connections (the kernel does) and answers nothing."""
        pids = self.pids()
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        return pids

    @staticmethod
    def thaw(pids: list[int]) -> None:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


def _as_pg_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def start_pg_cluster() -> PgCluster:
    """A new throwaway cluster in a temp dir on a free port, with a migrated template database.

    Calls :func:`missing` if PostgreSQL cannot be run here; stop it with :func:`remove_pg_cluster`.
    """
    initdb, pg_ctl = PG_BIN / "initdb", PG_BIN / "pg_ctl"
    if not initdb.exists() or not pg_ctl.exists():
        missing("PostgreSQL", f"no initdb/pg_ctl in {PG_BIN}")
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            missing("PostgreSQL", "running as root and there is no 'postgres' user to run initdb as")
        if shutil.which("runuser") is None:
            missing("PostgreSQL", "running as root and runuser is missing")
    base = Path(tempfile.mkdtemp(prefix="wardround-pg-"))
    if os.geteuid() == 0:
        os.chown(base, pw.pw_uid, pw.pw_gid)
    cluster = PgCluster(port=free_port(), datadir=base / "data")
    try:
        subprocess.run(_as_pg_user([str(initdb), "-D", str(cluster.datadir), "-U", "postgres", "-A", "trust",
                                    "--no-sync", "-E", "UTF8"]),
                       check=True, capture_output=True, timeout=120)
        cluster.start()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        shutil.rmtree(base, ignore_errors=True)
        why = f"cannot start a throwaway cluster: {exc} {detail.decode(errors='replace')[-300:]}"
        missing("PostgreSQL", why)
    try:
        with cluster.admin() as conn:
            conn.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
        engine = make_engine(cluster.url(TEMPLATE_DB))
        upgrade(engine)
        engine.dispose()
    except BaseException:
        remove_pg_cluster(cluster)
        raise
    return cluster


def remove_pg_cluster(cluster: PgCluster) -> None:
    try:
        PgCluster.thaw(cluster.pids())
    except (OSError, ValueError, IndexError):
        pass
    subprocess.run(_as_pg_user([str(PG_BIN / "pg_ctl"), "-D", str(cluster.datadir), "-m", "immediate", "stop"]),
                   capture_output=True, timeout=60)
    shutil.rmtree(cluster.datadir.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    cluster = start_pg_cluster()
    try:
        yield cluster
    finally:
        remove_pg_cluster(cluster)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "wardround.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    name = cluster.create_db(template=TEMPLATE_DB)
    yield cluster.url(name)
    cluster.drop_db(name)


@pytest.fixture
def engine(db_url: str) -> Iterator[Any]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def app(db_url: str, engine: Any) -> Any:
    return create_app(Settings(db_url=db_url), engine=engine)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


SITE, HOST = "central-hospital", "his-db-01"


@pytest.fixture
def agent_token(engine: Any) -> str:
    return create_agent_token(engine, site=SITE, host=HOST)


@pytest.fixture
def agent_headers(agent_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {agent_token}"}


@pytest.fixture
def viewer_headers(engine: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_user(engine, name='vera', role='viewer')}"}


def make_result(*, site: str = SITE, host: str = HOST, check: str = "disk", item: str = "/",
                status: Status = Status.OK, started_at: datetime | None = None,
                metrics: tuple[Metric, ...] = (), summary: str = "fine") -> dict[str, Any]:
    """One valid wire result."""
    r = Result(check=check, item=item, status=status, summary=summary, metrics=metrics,
               details={"note": "test"}, standard="used < 80 %")
    when = started_at or datetime.now(UTC)
    return r.with_origin(site=site, host=host, started_at=when, duration_ms=1.5).to_wire()


def make_batch(n: int, *, start: datetime | None = None, **kwargs: Any) -> list[dict[str, Any]]:
    """``n`` valid results, one second apart, on distinct items."""
    base = start or datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    return [make_result(item=f"/m{i}", started_at=base + timedelta(seconds=i), **kwargs) for i in range(n)]


@contextmanager
def serving(workdir: Path, *args: str, preexec_fn: Callable[[], None] | None = None) -> Iterator[tuple[str, Path]]:
    """``wardround-collector serve ARGS`` of this checkout on a free port: (its URL, its log) once /healthz answers.

    Stopped at the end; its log must hold no traceback.
    """
    port = free_port()
    log = workdir / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "collector.cli", "serve", "--port", str(port), *args],
                                stdout=out, stderr=subprocess.STDOUT, preexec_fn=preexec_fn, cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"serve did not come up: {log.read_text()[-2000:]}") from None
                time.sleep(0.2)
        yield url, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
