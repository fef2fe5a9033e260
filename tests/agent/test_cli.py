"""``wardround-agent`` as users run it: real subprocesses, real checks, a real HTTP server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import __version__
from agent.config import load_config
from agent.spool import Spool
from checks.catalogue import CATALOGUE
from checks.result import Result, Status
from tests.agent.helpers import REPO, TOKEN, FakeCollector, Seen, TrickleServer, accept_all, spool_backlog
from tests.conftest import free_port


def agent(*args: str, timeout: float = 60, lang: str = "C.UTF-8") -> subprocess.CompletedProcess[str]:
    """``wardround-agent ARGS`` run for a reader whose locale is ``lang`` (English unless told)."""
    env = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LC_MESSAGES", "WARDROUND_LANG")}
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env={**env, "LANG": lang})


def config(tmp_path: Path, url: str | None = None, checks: str | None = None,
           extra: str = "") -> Path:
    token = tmp_path / "agent.token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    collector = f"collector: {{url: '{url}', token_file: {token}, timeout: 2s}}\n" if url else ""
    checks = checks or ("checks:\n  - {check: disk, every: 5m, params: {warn: 99.9, crit: 100}}\n"
                        "  - {check: system, every: 1m}\n")
    path = tmp_path / "agent.yaml"
    path.write_text(f"site: central-hospital\nhost: his-db-01\nspool: {tmp_path / 'spool.db'}\n"
                    f"jitter: 0s\n{extra}{collector}{checks}")
    return path


@pytest.fixture
def collector() -> Iterator[FakeCollector]:
    fake = FakeCollector().start()
    yield fake
    fake.stop()


def test_once_json_prints_only_a_json_list_and_exits_with_the_worst_status_when_run(
        tmp_path: Path) -> None:
    proc = agent("once", "--config", str(config(tmp_path)), "--json")
    results = [Result.from_wire(r) for r in json.loads(proc.stdout)]
    assert {r.check for r in results} == {"disk", "system"}
    assert all((r.site, r.host) == ("central-hospital", "his-db-01") for r in results)
    assert proc.returncode == Status.worst(r.status for r in results)
    assert not (tmp_path / "spool.db").exists()  # without --push nothing is spooled


def test_once_prints_a_table_when_run_without_json(tmp_path: Path) -> None:
    proc = agent("once", "--config", str(config(tmp_path)))
    header, *rows = proc.stdout.splitlines()
    assert header.split() == ["HOST", "CHECK", "ITEM", "STATUS", "SUMMARY"]
    assert any(row.split()[:3] == ["his-db-01", "disk", "/"] for row in rows)
    assert proc.returncode in (0, 1, 2, 3)


def test_once_exits_with_critical_when_a_disk_is_past_its_threshold(tmp_path: Path) -> None:
    checks = "checks:\n  - {check: disk, every: 5m, params: {warn: 0, crit: 0, mounts: [/]}}\n"
    proc = agent("once", "--config", str(config(tmp_path, checks=checks)), "--json")
    assert proc.returncode == 2
    (root,) = json.loads(proc.stdout)
    assert (root["item"], root["status"]) == ("/", 2)


def test_once_push_reports_the_acknowledgement_when_the_collector_takes_the_results(
        tmp_path: Path, collector: FakeCollector) -> None:
    proc = agent("once", "--config", str(config(tmp_path, collector.url)), "--push", "--json")
    sent = json.loads(proc.stdout)
    assert collector.received_ids == [r["id"] for r in sent]
    assert f"the collector acknowledged {len(sent)} of {len(sent)} results" in proc.stderr
    with Spool(tmp_path / "spool.db") as spool:
        assert spool.backlog() == 0
        assert spool.load_state("system")  # CPU counters kept for the next run


def test_once_push_counts_the_results_kept_from_earlier_pushes_when_it_delivers_them_too(
        tmp_path: Path, collector: FakeCollector) -> None:
    checks = "checks:\n  - {check: uptime, every: 1m}\n"
    down = agent("once", "--config", str(config(tmp_path, f"http://127.0.0.1:{free_port()}", checks)),
                 "--push", "--wait", "1s", "--json")
    assert down.returncode == 4, down.stderr
    proc = agent("once", "--config", str(config(tmp_path, collector.url, checks)), "--push", "--json")
    assert proc.returncode in (0, 1, 2, 3), proc.stderr
    assert len(collector.received_ids) == 2
    assert ("pushed: the collector acknowledged 2 results (1 of 1 from this patrol, 1 kept from "
            "earlier)") in proc.stderr


def test_once_push_exits_4_and_keeps_the_results_in_the_spool_when_the_collector_is_down(
        tmp_path: Path) -> None:
    cfg = config(tmp_path, f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    proc = agent("once", "--config", str(cfg), "--push", "--wait", "2s", "--json")
    assert time.monotonic() - started < 20
    sent = json.loads(proc.stdout)
    assert proc.returncode == 4, proc.stderr
    assert f"{len(sent)} of {len(sent)} results stay in the spool" in proc.stderr
    assert "cannot reach the collector" in proc.stderr
    # said while it waits, once, so a collector that is down does not look like a hung command
    assert proc.stderr.count("not delivered yet: trying again until --wait 2s is up") == 1, proc.stderr
    with Spool(tmp_path / "spool.db") as spool:
        assert {r.id for r in spool.batch(100)} == {r["id"] for r in sent}


@pytest.mark.parametrize(("status", "why"), [(401, "refused the agent token (HTTP 401)"),
                                             (403, "(HTTP 403): token is for host other"),
                                             (503, "the collector answered HTTP 503")])
def test_once_push_exits_4_with_the_reason_when_the_collector_refuses_the_results(
        tmp_path: Path, collector: FakeCollector, status: int, why: str) -> None:
    collector.respond = lambda seen: (status, {"detail": "token is for host other"})
    cfg = config(tmp_path, collector.url, checks="checks:\n  - {check: system, every: 1m}\n")
    started = time.monotonic()
    proc = agent("once", "--config", str(cfg), "--push", "--wait", "3s", "--json")
    sent = json.loads(proc.stdout)
    assert proc.returncode == 4, proc.stderr
    assert f"not delivered: {len(sent)} of {len(sent)} results stay in the spool" in proc.stderr
    assert why in proc.stderr.splitlines()[-1]
    assert proc.stderr.count(why) == 1  # said once, not logged beside it too
    assert TOKEN not in proc.stderr
    if status != 503:  # a refusal does not go away by waiting: no point using up --wait
        assert time.monotonic() - started < 3 + 2
    with Spool(tmp_path / "spool.db") as spool:
        assert {r.id for r in spool.batch(100)} == {r["id"] for r in sent}


def test_once_push_names_the_collectors_503_when_the_last_try_runs_into_the_end_of_wait(
        tmp_path: Path, collector: FakeCollector) -> None:
    # the first try is answered 503 at once, the next one not before --wait is up (a slow CI machine's
    # timing, made certain): the last line still says what the collector answered, not "no answer in 0.001 s"
    def respond(seen: Seen) -> tuple[int, dict[str, str]]:
        if len(collector.seen) > 1:
            time.sleep(4)
        return 503, {"detail": "busy"}

    collector.respond = respond
    cfg = config(tmp_path, collector.url, checks="checks:\n  - {check: system, every: 1m}\n")
    proc = agent("once", "--config", str(cfg), "--push", "--wait", "2s", "--json")
    assert proc.returncode == 4, proc.stderr
    assert len(collector.seen) >= 2, proc.stderr
    assert "the collector answered HTTP 503" in proc.stderr.splitlines()[-1], proc.stderr
    assert "no complete answer" not in proc.stderr


def test_once_push_exits_4_when_the_collector_rejects_a_result_as_invalid(
        tmp_path: Path, collector: FakeCollector) -> None:
    collector.respond = lambda seen: (422, {"detail": [{"loc": ["results", 0, "summary"],
                                                        "msg": "too long"}]})
    cfg = config(tmp_path, collector.url, checks="checks:\n  - {check: uptime, every: 1m}\n")
    proc = agent("once", "--config", str(cfg), "--push", "--wait", "5s", "--json")
    (sent,) = json.loads(proc.stdout)
    assert proc.returncode == 4, proc.stderr
    assert "not delivered: 1 of 1 results were rejected by the collector as invalid" in proc.stderr
    with Spool(tmp_path / "spool.db") as spool:
        assert sent["id"] in [q[0] for q in spool.quarantined()]


def test_once_push_ends_at_its_wait_with_exit_4_when_the_collector_trickles_its_answer(
        tmp_path: Path) -> None:
    trickle = TrickleServer(interval=2.0)
    cfg = config(tmp_path, trickle.url, checks="checks:\n  - {check: system, every: 1m}\n")
    cfg.write_text(cfg.read_text().replace("timeout: 2s", "timeout: 10s"))
    started = time.monotonic()
    try:
        proc = agent("once", "--config", str(cfg), "--push", "--wait", "3s", timeout=40)
    finally:
        trickle.stop()
    assert time.monotonic() - started < 3 + 8  # the patrol itself, Python start-up
    assert trickle.connections >= 1
    assert proc.returncode == 4, proc.stderr
    assert "no complete answer from the collector" in proc.stderr.splitlines()[-1]


def test_check_exits_critical_when_the_thresholds_are_below_the_usage() -> None:
    proc = agent("check", "disk", "--param", "warn=1", "--param", "crit=2", "--param", "mounts=/")
    assert proc.returncode == 2, proc.stderr
    assert "CRITICAL" in proc.stdout
    proc = agent("check", "disk", "--param", "warn=100", "--param", "crit=100", "--param", "mounts=/",
                 "--json", "--site", "s1", "--host", "h1")
    (r,) = json.loads(proc.stdout)
    assert (r["site"], r["host"], r["status"], proc.returncode) == ("s1", "h1", 0, 0)


def test_check_names_the_known_checks_and_exits_2_when_the_name_or_a_param_is_wrong() -> None:
    proc = agent("check", "dsik")
    assert proc.returncode == 2 and proc.stdout == ""
    known = ", ".join(sorted(CATALOGUE))
    assert proc.stderr.strip() == f"wardround-agent: error: unknown check 'dsik' (known: {known})"
    proc = agent("check", "disk", "--param", "warn=high", "--param", "crit")
    assert proc.returncode == 2 and "--param 'crit': expected KEY=VALUE" in proc.stderr
    proc = agent("check", "disk", "--param", "warn=high")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("wardround-agent: error: --param warn: expected a number "
                                   "(got 'high')")
    assert "Traceback" not in proc.stderr


def test_run_exits_2_and_names_the_spool_when_it_cannot_be_opened(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    cfg = config(tmp_path, "http://127.0.0.1:9", extra=f"spool: {blocker}/spool.db\n")
    cfg.write_text(cfg.read_text().replace(f"spool: {tmp_path / 'spool.db'}\n", ""))
    proc = agent("run", "--config", str(cfg))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"wardround-agent: error: cannot open the spool {blocker}/spool.db")
    assert "Traceback" not in proc.stderr


def test_help_and_version_answer_when_asked() -> None:
    for args in (["--help"], ["run", "--help"], ["once", "--help"], ["check", "--help"]):
        proc = agent(*args)
        assert proc.returncode == 0 and "usage: wardround-agent" in proc.stdout
    for args in (["--version"], ["once", "--version"]):
        assert agent(*args).stdout.strip() == f"wardround-agent {__version__}"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert __version__ == project["version"]
    assert project["scripts"]["wardround-agent"] == "agent.cli:main"


def test_the_example_config_loads_with_the_real_loader_when_its_files_exist(tmp_path: Path) -> None:
    text = (REPO / "deploy" / "agent.example.yaml").read_text()
    (tmp_path / "agent.token").write_text(TOKEN)
    import certifi

    (tmp_path / "ca.pem").write_text(Path(certifi.where()).read_text())
    text = text.replace("/etc/wardround/agent.token", str(tmp_path / "agent.token"))
    text = text.replace("/etc/wardround/collector-ca.pem", str(tmp_path / "ca.pem"))
    path = tmp_path / "agent.yaml"
    path.write_text(text)
    cfg = load_config(path, need_collector=True)
    assert [c.name for c in cfg.checks] == ["disk", "system", "disk-daily-patrol"]
    assert cfg.collector is not None and cfg.collector.token == TOKEN


def test_run_sends_results_and_stops_cleanly_when_it_gets_sigterm(
        tmp_path: Path, collector: FakeCollector) -> None:
    cfg = config(tmp_path, collector.url, checks=(
        "checks:\n  - {check: disk, every: 2s, params: {warn: 99.9, crit: 100}}\n"
        "  - {check: system, every: 1s}\n"))
    proc = subprocess.Popen([sys.executable, "-m", "agent", "run", "--config", str(cfg)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            checks = {r["check"] for s in collector.seen for r in s.body["results"]}
            if {"disk", "system"} <= checks and len(collector.seen) >= 2:
                break
            time.sleep(0.2)
        assert {"disk", "system"} <= checks, collector.seen
    finally:
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert time.monotonic() - signalled < 5, err
    assert "Traceback" not in err and TOKEN not in err
    ids = collector.received_ids
    assert len(ids) == len(set(ids))
    with Spool(tmp_path / "spool.db") as spool:
        assert spool.backlog() == 0  # everything acknowledged, nothing left over


def _spooled(path: Path, n: int) -> bool:
    return spool_backlog(path) >= n


def test_run_keeps_results_until_the_collector_comes_back_when_it_was_down(tmp_path: Path) -> None:
    port = free_port()
    cfg = config(tmp_path, f"http://127.0.0.1:{port}",
                 checks="checks:\n  - {check: system, every: 1s}\n")
    proc = subprocess.Popen([sys.executable, "-m", "agent", "run", "--config", str(cfg)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    fake = FakeCollector()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not _spooled(tmp_path / "spool.db", 2):
            time.sleep(0.2)
        time.sleep(3)  # past the sender's pause: it has tried and failed at least once
        fake.start(port=port)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(set(fake.received_ids)) < 3:
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        fake.stop()
    assert proc.returncode == 0
    assert "cannot reach the collector" in err
    received = fake.received_ids
    assert len(received) >= 3
    # the earliest results, taken while the collector was down, arrived first
    first = [r for s in fake.seen[:1] for r in s.body["results"]]
    assert len(first) >= 2


def test_a_403_is_logged_with_its_cause_when_the_token_belongs_to_another_host(
        tmp_path: Path, collector: FakeCollector) -> None:
    def refuse(seen: Seen) -> tuple[int, object]:
        return 403, {"detail": "token is for host other"}

    collector.respond = refuse
    cfg = config(tmp_path, collector.url, checks="checks:\n  - {check: system, every: 1m}\n")
    proc = agent("once", "--config", str(cfg), "--push", "--wait", "2s")
    assert proc.returncode == 4
    assert "HTTP 403" in proc.stderr and "stay in the spool" in proc.stderr
    assert TOKEN not in proc.stderr
    collector.respond = accept_all
