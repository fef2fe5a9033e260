"""One agent per spool: real processes, a real OS lock that dies with its holder (even SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.spool import Spool, SpoolBusy
from tests.agent.helpers import REPO, make_result
from tests.agent.test_cli import agent, config
from tests.conftest import free_port


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    # nothing listens at the collector URL: the daemon keeps running and keeps its spool
    return config(tmp_path, f"http://127.0.0.1:{free_port()}",
                  checks="checks:\n  - {check: uptime, every: 1m}\n")


def start_daemon(cfg: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "agent", "run", "--config", str(cfg)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen = []
    while line := proc.stderr.readline():  # "started" comes after its signal handlers are set
        seen.append(line)
        if "wardround-agent started" in line:
            assert (cfg.parent / "spool.db.lock").read_text().strip() == str(proc.pid)
            return proc
    raise AssertionError(f"the daemon ended before it started: {''.join(seen)}")


@pytest.fixture
def daemon(cfg: Path) -> Iterator[subprocess.Popen[str]]:
    proc = start_daemon(cfg)
    yield proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def test_a_second_agent_on_the_same_spool_refuses_to_start_and_names_the_first(
        cfg: Path, daemon: subprocess.Popen[str]) -> None:
    for command in (["run"], ["once", "--push", "--wait", "1s"]):
        proc = agent(*command, "--config", str(cfg))
        assert proc.returncode == 2, proc.stderr
        assert proc.stdout == ""
        assert f"the spool {cfg.parent / 'spool.db'} is in use by PID {daemon.pid}" in proc.stderr
        assert "one agent per spool" in proc.stderr and "Traceback" not in proc.stderr
    with pytest.raises(SpoolBusy, match=f"PID {daemon.pid}"):
        Spool(cfg.parent / "spool.db")
    assert daemon.poll() is None  # the first one is untouched


def test_commands_that_use_no_spool_run_beside_an_agent(cfg: Path, daemon: subprocess.Popen[str]) -> None:
    assert agent("check", "uptime").returncode in (0, 1, 2, 3)
    proc = agent("once", "--config", str(cfg), "--json")  # without --push: no spool
    assert proc.returncode in (0, 1, 2, 3) and proc.stdout.startswith("[")


def test_a_holder_killed_with_sigkill_does_not_block_the_next_start(cfg: Path, tmp_path: Path) -> None:
    first = start_daemon(cfg)
    os.kill(first.pid, signal.SIGKILL)
    first.communicate(timeout=30)
    assert (tmp_path / "spool.db.lock").read_text().strip() == str(first.pid)  # stale text, no lock
    second = start_daemon(cfg)
    try:
        assert second.poll() is None
    finally:
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=30)
    assert second.returncode == 0, err
    assert "in use by" not in err


def test_the_lock_is_free_again_when_the_holder_closes_the_spool(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    holder = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from agent.spool import Spool
        spool = Spool({str(path)!r})
        print("ready", flush=True)
        sys.stdin.readline()
        spool.close()
        print("closed", flush=True)
        time.sleep(30)
    """)
    proc = subprocess.Popen([sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "ready"
        with pytest.raises(SpoolBusy, match=f"PID {proc.pid}"):
            Spool(path)
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "closed"
        with Spool(path) as spool:  # the holder still runs, but has let go
            spool.put([make_result()])
    finally:
        proc.kill()
        proc.communicate()
