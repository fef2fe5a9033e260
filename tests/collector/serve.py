"""Real ``wardround-collector serve`` processes for the multi-collector and fault tests.

:func:`start_collectors` starts several at once (they import and migrate in
parallel, about 2 s on this machine), each on a free port with its own log
file, optionally under a wrapper command (``faketime``) and with extra
config; :func:`stop_collectors` ends them by their process group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from tests.conftest import free_port
from tests.e2e.conftest import command

__all__ = ["Collector", "post_results", "start_collectors", "stop_collectors"]


@dataclass
class Collector:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_collectors(db_url: str, workdir: Path, n: int = 1, *, config: dict[str, Any] | None = None,
                     wrap: Sequence[Sequence[str]] = (), env: dict[str, str] | None = None,
                     timeout: float = 60) -> list[Collector]:
    """``n`` collectors on ``db_url``; ``wrap[i]`` (if given) prefixes the command of the i-th one."""
    started: list[Collector] = []
    try:
        for i in range(n):
            port = free_port()
            args = [command("wardround-collector"), "serve", "--db", db_url, "--port", str(port)]
            if config:
                path = workdir / f"collector-{port}.yaml"
                path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
                args += ["--config", str(path)]
            prefix = list(wrap[i]) if i < len(wrap) else []
            log = workdir / f"collector-{port}.log"
            with open(log, "ab") as out:
                proc = subprocess.Popen([*prefix, *args], stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True, env={**os.environ, **(env or {})})
            started.append(Collector(proc, f"http://127.0.0.1:{port}", log))
        deadline = time.monotonic() + timeout
        waiting = list(started)
        while waiting:
            if time.monotonic() > deadline:
                raise AssertionError("collector did not answer /healthz within "
                                     f"{timeout:g} s: {waiting[0].log_text()[-2000:]}")
            for c in list(waiting):
                if c.proc.poll() is not None:
                    raise AssertionError(f"collector exited: {c.log_text()[-2000:]}")
                try:
                    with urllib.request.urlopen(f"{c.url}/healthz", timeout=1):
                        waiting.remove(c)
                except OSError:
                    pass
            time.sleep(0.1)
    except BaseException:
        stop_collectors(started)
        raise
    return started


def stop_collectors(collectors: Sequence[Collector]) -> None:
    for c in collectors:
        if c.proc.poll() is None:
            os.killpg(c.proc.pid, signal.SIGTERM)
    for c in collectors:
        try:
            c.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(c.proc.pid, signal.SIGKILL)
            c.proc.wait()


def post_results(url: str, token: str, results: list[dict[str, Any]], *, timeout: float = 60,
                 retries: int = 5) -> dict[str, Any]:
    """POST a batch; retried on 503 as an agent would; the answer's JSON."""
    req = urllib.request.Request(f"{url}/api/v1/results", data=orjson.dumps({"results": results}),
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"}, method="POST")
    for attempt in range(retries):
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                assert r.status == 200
                answer: dict[str, Any] = orjson.loads(r.read())
                return answer
        except urllib.error.HTTPError as exc:
            if exc.code != 503 or attempt == retries - 1:
                raise
            time.sleep(0.2)
    raise AssertionError("unreachable")
