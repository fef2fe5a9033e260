"""Shared test helpers.

``missing(component, why)``: a test that needs a real component (PostgreSQL,
sshd, Prometheus...) and cannot find it calls this.  Under ``CI=true`` the
test fails, because CI installs every component; elsewhere it is skipped
with the reason.

``collector_key`` (automatic, once per session): a collector signing key in a
temp dir, named by ``$WARDROUND_KEY_FILE`` for the whole run, so every
collector the tests start — in process or as ``wardround-collector serve`` —
signs records and the audit log with it, as one shared key file would.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(component: str, why: str) -> None:
    """Fail under CI, skip elsewhere: ``component`` is needed but not usable."""
    message = f"{component} is needed but not available: {why}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_prometheus(work: Path, target: str) -> tuple[subprocess.Popen[bytes], str]:
    """Debian's ``prometheus`` scraping ``target`` (host:port) every second, its data and log in ``work``;
    the process (its own session: end it by its group) and its URL."""
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        missing("Prometheus", "apt-get install prometheus")
        raise AssertionError("unreachable")
    port = free_port()
    config = work / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: wardround-collector\n"
        f"    static_configs: [{{targets: ['{target}']}}]\n")
    with open(work / "prometheus.log", "ab") as log:
        proc = subprocess.Popen(
            [prometheus, f"--config.file={config}", f"--storage.tsdb.path={work / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session", autouse=True)
def collector_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path | None]:
    try:
        from collector.keys import KEY_ENV, create_key
    except ImportError:  # the agent alone is installed: no collector to sign anything
        yield None
        return
    path = tmp_path_factory.mktemp("collector-key") / "collector.key"
    create_key(path)
    before = os.environ.get(KEY_ENV)
    os.environ[KEY_ENV] = str(path)
    yield path
    if before is None:
        os.environ.pop(KEY_ENV, None)
    else:
        os.environ[KEY_ENV] = before
