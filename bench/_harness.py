"""Shared plumbing for the benchmarks: processes, ports, /proc measurements.

Measurement method (the same as ``../shared/reference/perf-anchors.md``):

* RSS is ``VmRSS`` from ``/proc/PID/status``; PSS is ``Pss`` from
  ``/proc/PID/smaps_rollup``.  Both are summed over the process tree.
* CPU is ``utime + stime + cutime + cstime`` from ``/proc/PID/stat``, summed
  over the live tree (``cutime``/``cstime`` keep the CPU of children that
  were already reaped).  CLK_TCK is usually 100, so CPU is good to 10 ms.

Every process a benchmark starts goes through :class:`Processes`, which puts
it in its own session (process group) and kills the groups again on normal
exit, on an exception, on Ctrl-C and on SIGTERM.

Collectors sign records and the audit log with a key file
(``collector/keys.py``): unless ``$WARDROUND_KEY_FILE`` names one, importing
this module makes a throwaway key in a temp dir and names it there, for the
collectors the benchmark starts and the services it builds in process.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
REPO = BENCH_DIR.parent


def venv_bin(name: str) -> str:
    """A console script next to the running interpreter (the project venv), else on PATH."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found next to {sys.executable} nor on PATH "
                         "(run with the project venv: .venv/bin/python bench/...)")
    return found


def free_port(low: int = 0, high: int = 0) -> int:
    """A free TCP port on 127.0.0.1; within [low, high] if given (zabbix_agent2 wants 1024-32767)."""
    if not low:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])
    for port in random.sample(range(low, high + 1), min(200, high - low + 1)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {low}-{high}")


def wait_port(port: int, timeout: float = 30.0, proc: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


def wait_http_ok(url: str, timeout: float = 30.0, proc: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last = exc
        time.sleep(0.2)
    raise RuntimeError(f"{url} not healthy after {timeout:.0f} s: {last}")


# ---------------------------------------------------------------- processes


class Processes:
    """Starts processes in their own process groups and always kills them again."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[Any]] = []
        self._finalizers: list[Any] = []
        self._old: dict[int, Any] = {}

    def __enter__(self) -> Processes:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            self._old[sig] = signal.signal(sig, _raise_exit)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
        for sig, handler in self._old.items():
            signal.signal(sig, handler)

    def start(self, argv: Sequence[str], *, log: Path | None = None, **kw: Any) -> subprocess.Popen[Any]:
        out: Any = subprocess.DEVNULL
        if log is not None:
            out = open(log, "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, **kw)
        if log is not None:
            out.close()
        self.procs.append(proc)
        return proc

    def on_close(self, fn: Any) -> None:
        """Run ``fn()`` at close, before the process groups are killed (e.g. ``pg_ctl stop``)."""
        self._finalizers.append(fn)

    def stop(self, proc: subprocess.Popen[Any], timeout: float = 5.0) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        # The leader may be gone while others in its group still run.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(2)

    def close(self) -> None:
        while self._finalizers:
            fn = self._finalizers.pop()
            with contextlib.suppress(Exception):
                fn()
        while self.procs:
            self.stop(self.procs.pop())


def _raise_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def run(argv: Sequence[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    cp = subprocess.run(list(argv), capture_output=True, text=True, **kw)
    if cp.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {cp.returncode}:\n{cp.stdout}\n{cp.stderr}")
    return cp


# ---------------------------------------------------------------- /proc


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rindex(b")") + 2:].split()
        kids.setdefault(int(rest[1]), []).append(int(entry))
    return kids


def tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants."""
    kids = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, ()))
    return out


def cpu_seconds(pids: Iterable[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rindex(b")") + 2:].split()
        # fields 14-17 (utime stime cutime cstime) are rest[11:15]
        total += sum(int(x) for x in rest[11:15])
    return total / CLK_TCK


def _summed_kb(pids: Iterable[int], path: str, fields: tuple[str, ...]) -> int:
    """The kB of the lines of ``/proc/PID/<path>`` starting with one of ``fields``, summed over ``pids``
    (a process that has gone is skipped)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/{path}") as f:
                total += sum(int(line.split()[1]) for line in f if line.startswith(fields))
        except OSError:
            continue
    return total


def rss_pss_kb(pids: Iterable[int]) -> tuple[int, int]:
    pids = list(pids)
    return _summed_kb(pids, "status", ("VmRSS:",)), _summed_kb(pids, "smaps_rollup", ("Pss:",))


def uss_kb(pids: Iterable[int]) -> int:
    """Memory only these processes hold (Private_Clean + Private_Dirty of ``smaps_rollup``): a page of a
    library or program that another process maps too is not in it (so it also moves with the
    neighbours, when they map the same files); anonymous memory a process did not share is."""
    return _summed_kb(pids, "smaps_rollup", ("Private_Clean:", "Private_Dirty:"))


def anon_file_kb(pids: Iterable[int]) -> tuple[int, int]:
    """(RssAnon, RssFile + RssShmem) of ``/proc/PID/status``, summed: the process's own memory (heap,
    stacks) and the pages of files it maps (program text, libraries). Unlike PSS and USS, neither
    depends on which other processes on the machine map the same files."""
    pids = list(pids)
    return _summed_kb(pids, "status", ("RssAnon:",)), _summed_kb(pids, "status", ("RssFile:", "RssShmem:"))


def machine_busy_seconds() -> float:
    """CPU seconds spent not idle by the whole machine since boot (all cores, /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


def tree_cpu(pid: int) -> float:
    return cpu_seconds(tree(pid))


def tree_mem_mb(pid: int) -> tuple[float, float, int]:
    """(RSS MB, PSS MB, number of processes) of the tree under ``pid``; MB = 10^6 bytes."""
    pids = tree(pid)
    rss, pss = rss_pss_kb(pids)
    return rss * 1024 / 1e6, pss * 1024 / 1e6, len(pids)


# ---------------------------------------------------------------- stats and output


def median(xs: Sequence[float]) -> float | None:
    return statistics.median(xs) if xs else None


def percentile(xs: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not xs:
        return None
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(round(q / 100 * len(s) + 0.5)) - 1))
    return s[k]


def latency_ms(times: Sequence[float], count: str = "batches") -> dict[str, Any]:
    """How many, p50/p99/max in ms of ``times`` (ms), as the prune benches report them."""
    if not times:
        return {count: 0}
    q = statistics.quantiles(times, n=100, method="inclusive") if len(times) > 1 else list(times) * 99
    return {count: len(times), "p50_ms": round(q[49], 1), "p99_ms": round(q[98], 1), "max_ms": round(max(times), 1)}


def each_database(dbs: Sequence[str], out: str, run_one: Any, **header: Any) -> None:
    """``run_one(db, tmp)`` for each database in a shared temporary directory; every figure is printed
    as it comes and all are written to ``out`` with the machine's description (and ``header``)."""
    import tempfile

    report: dict[str, Any] = {**machine_info(), **header, "figures": []}
    with tempfile.TemporaryDirectory() as tmp:
        for db in dbs:
            fig = run_one(db, Path(tmp))
            report["figures"].append(fig)
            print(json.dumps(fig), flush=True)
    Path(out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out}")


def fmt(v: Any, spec: str = ".1f") -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return format(v, spec)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    rows = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    with contextlib.suppress(OSError):
        info["loadavg_at_start"] = open("/proc/loadavg").read().split()[:3]
    with contextlib.suppress(OSError):
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                info["mem_total_gb"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    versions = {}
    for dist in ("wardround", "psutil", "tzlocal", "PyYAML", "fastapi", "starlette", "uvicorn",
                 "uvloop", "httptools", "SQLAlchemy", "psycopg", "orjson", "pydantic"):
        with contextlib.suppress(Exception):
            versions[dist] = importlib.metadata.version(dist)
    with contextlib.suppress(Exception):
        import sqlite3

        versions["sqlite"] = sqlite3.sqlite_version
    info["versions"] = versions
    with contextlib.suppress(Exception):
        info["git_commit"] = run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]).stdout.strip()
    return info


def write_json(name: str, data: Any) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / name
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def start_collector(procs: Processes, db_url: str, workdir: Path, *,
                    extra_env: dict[str, str] | None = None, serve_args: Sequence[str] = (), workers: int = 1,
                    source: str | None = None) -> tuple[subprocess.Popen[Any], int]:
    """``wardround-collector serve`` on a free port (``--workers N`` when more than one); waits for /healthz
    (only for a port when ``serve_args`` has ``--tls-cert``: the check here speaks plain HTTP).

    ``source``: run the collector of that source tree (a baseline) with this venv's interpreter."""
    port = free_port()
    env = dict(os.environ, **(extra_env or {}))
    exe = [venv_bin("wardround-collector")]
    if source is not None:
        exe = [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv.pop(1)); "
               "from collector.cli import main; sys.exit(main())", source]
        env["PYTHONPATH"] = source  # uvicorn's worker processes import the app by name
    proc = procs.start([*exe, "serve", "--db", db_url, "--host", "127.0.0.1", "--port", str(port),
                        *(["--workers", str(workers)] if workers > 1 else []), *serve_args],
                       log=workdir / "collector.log", env=env, cwd=workdir)
    try:
        if "--tls-cert" in serve_args:
            wait_port(port, timeout=60, proc=proc)
        else:
            wait_http_ok(f"http://127.0.0.1:{port}/healthz", timeout=60, proc=proc)
    except Exception:
        log = (workdir / "collector.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"collector did not come up; its log ends with:\n{log}") from None
    return proc, port


def databases(procs: Processes, workdir: Path, which: str) -> Iterator[tuple[str, str]]:
    """(name, URL) of each database ``--db`` asks for (``sqlite``, ``postgresql`` or ``both``): a SQLite
    file in ``workdir``; a throwaway PostgreSQL 15 cluster (``bench/ingest.py``, fsync off)."""
    for db in (["sqlite", "postgresql"] if which == "both" else [which]):
        if db == "sqlite":
            yield db, f"sqlite:///{workdir / 'bench.db'}"
        else:
            from ingest import start_postgres

            url, _data = start_postgres(procs, fsync=False)
            yield db, url


def create_token(db_url: str, host: str, site: str, source: str | None = None) -> str:
    """An agent token made by ``wardround-collector token create`` (of the ``source`` tree if given: its
    migrations make the schema, which another tree's collector may not write into)."""
    exe = [venv_bin("wardround-collector")]
    if source is not None:
        exe = [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv.pop(1)); "
               "from collector.cli import main; sys.exit(main())", source]
    cp = run([*exe, "token", "create", "--db", db_url, "--host", host, "--site", site])
    return cp.stdout.strip().splitlines()[-1].strip()


def _throwaway_key() -> None:
    if os.environ.get("WARDROUND_KEY_FILE"):
        return
    import tempfile

    try:
        from collector.keys import KEY_ENV, create_key
    except ImportError:  # the agent alone is installed
        return
    path = Path(tempfile.mkdtemp(prefix="wardround-bench-key-")) / "collector.key"
    create_key(path)
    os.environ[KEY_ENV] = str(path)


_throwaway_key()
