"""Fixtures for the collector tests: real SQLite files and a throwaway PostgreSQL cluster.

``db_url`` is parametrized over ``sqlite`` and ``postgresql``: every test
that takes it runs against both.  The PostgreSQL cluster is started once
per session with ``initdb``/``pg_ctl`` in a temp dir (as user ``postgres``
when we are root, since initdb refuses root) and each test gets a fresh
database copied from a migrated template.  The session cluster copies the
template ahead of time in a background thread (and drops used databases
there too), so a test gets its database without waiting for PostgreSQL to
write one: see :class:`DbPool`.
"""

from __future__ import annotations

import os
import pwd
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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


class DbPool:
    """Copies of the migrated template made ahead of time, and used databases dropped, off the test's path.

    ``CREATE DATABASE ... TEMPLATE`` takes 0.1-0.5 s (PostgreSQL writes every page of the copy) and
    ``DROP DATABASE`` another 0.05 s; 430-odd tests take a fresh database each.  Two daemon threads do
    both while the tests run: ``take()`` hands out a copy made earlier (a fresh, never-used copy of the
    template, exactly what ``CREATE DATABASE`` would give now), ``give_back()`` queues a drop.  Only the
    session cluster has one: a cluster a test stops or freezes (test_db_faults.py) creates synchronously.
    """

    AHEAD = 2  # copies waiting: enough to cover a test, few enough to stay cheap at the end

    def __init__(self, cluster: PgCluster, template: str):
        self.cluster, self.template = cluster, template
        self.ready: queue.Queue[str] = queue.Queue(maxsize=self.AHEAD)
        self.to_drop: queue.Queue[str | None] = queue.Queue()
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.threads = [threading.Thread(target=self._copy, name="pg-copy", daemon=True),
                        threading.Thread(target=self._drop, name="pg-drop", daemon=True)]
        for t in self.threads:
            t.start()

    def _copy(self) -> None:
        try:
            with self.cluster.admin() as conn:
                while not self.stopping.is_set():
                    name = f"t_{uuid.uuid4().hex[:12]}"
                    conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
                    while not self.stopping.is_set():
                        try:
                            self.ready.put(name, timeout=0.5)
                            break
                        except queue.Full:
                            continue
        except BaseException as exc:  # reported to the test that waits for a copy
            if not self.stopping.is_set():
                self.error = exc

    def _drop(self) -> None:
        try:
            with self.cluster.admin() as conn:
                while (name := self.to_drop.get()) is not None:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except BaseException as exc:
            if not self.stopping.is_set():
                self.error = exc

    def take(self) -> str:
        deadline = time.monotonic() + 120
        while True:
            if self.error is not None:
                raise RuntimeError(f"the background template copy failed: {self.error!r}") from self.error
            try:
                return self.ready.get(timeout=0.5)
            except queue.Empty:
                if time.monotonic() > deadline:
                    raise TimeoutError("no copy of the template database within 120 s") from None

    def give_back(self, name: str) -> None:
        self.to_drop.put(name)

    def close(self) -> None:
        """Finish the queued drops, then stop both threads."""
        self.to_drop.put(None)
        self.threads[1].join(timeout=60)
        self.stopping.set()
        self.threads[0].join(timeout=60)


@dataclass
class PgCluster:
    port: int
    datadir: Path
    pool: DbPool | None = field(default=None, repr=False)

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                               autocommit=True)

    def prepare_ahead(self) -> None:
        """From now on, copies of the migrated template are made (and used databases dropped) in the background."""
        if self.pool is None:
            self.pool = DbPool(self, TEMPLATE_DB)

    def create_db(self, template: str | None = None) -> str:
        if self.pool is not None and template == self.pool.template:
            return self.pool.take()
        name = f"t_{uuid.uuid4().hex[:12]}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return name

    def drop_db(self, name: str) -> None:
        if self.pool is not None:
            self.pool.give_back(name)
            return
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
                                    "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"]),
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
    if cluster.pool is not None:
        cluster.pool.close()
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
    cluster.prepare_ahead()
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


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of each kind with no schema (for migrations to run on)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/empty.db"
        return
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    name = cluster.create_db()
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


def write_bundle(folder: Path, relay_token: str, site: str, results: list[dict[str, Any]], seq: int = 1) -> Path:
    """Bundle ``seq`` of a relay behind a file gateway, as agent/ferry.py writes it."""
    import gzip
    import json

    from agent.ferry import BUNDLE_MAGIC, bundle_name, sign, signing_key

    payload = gzip.compress(json.dumps({"format": 1, "site": site, "seq": seq, "created_at": "2026-12-06T00:00:00Z",
                                        "backlog": 0, "results": results}).encode())
    path = folder / bundle_name(site, seq)
    path.write_bytes(BUNDLE_MAGIC + b" " + sign(signing_key(relay_token), payload).encode() + b"\n" + payload)
    return path


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
