"""A site relay end to end: real collector, real relay, real agents, on loopback.

Each result arrives exactly once, whatever happens on the way: the collector down for a
while, the relay killed with SIGKILL while it forwards, the uplink through a real proxy.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import missing
from tests.e2e.conftest import CollectorProcess, command, in_process_cli, wait_for
from tests.e2e.relay import SITE, RelayProcess, get, post, results, stored

pytestmark = pytest.mark.slow


def _agent_config(tmp_path, relay: RelayProcess, token: str, host: str) -> str:
    token_file = tmp_path / f"{host}.token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    config = tmp_path / f"{host}.yaml"
    config.write_text(f"site: {SITE}\nhost: {host}\ncollector:\n  url: {relay.url}\n  token_file: {token_file}\n"
                      f"spool: {tmp_path / (host + '.spool.db')}\njitter: 0s\nconfig_every: off\n"
                      "checks:\n  - {check: uptime, every: 1m}\n")
    return str(config)


def _once_push(config: str, wait: str = "15s") -> subprocess.CompletedProcess[str]:
    return subprocess.run([command("wardround-agent"), "once", "--config", config, "--push", "--wait", wait],
                          capture_output=True, text=True, timeout=90)


def _carried(c: CollectorProcess) -> int:
    """Results the collector recorded as carried by relay front-01 (its own table, beside the results)."""
    return int(stored(c, "SELECT count(*) FROM relay_results r JOIN relay_batches b ON b.id = r.batch_id "
                         "JOIN relays y ON y.id = b.relay_id WHERE y.name = 'front-01'")[0][0])


def test_each_result_arrives_once_with_the_collector_down_and_the_relay_killed_mid_forward(tmp_path):
    c = CollectorProcess(tmp_path, site=SITE, host="his-db-01")
    token2 = in_process_cli("token", "create", "--site", SITE, "--host", "lis-app-01", "--db", c.db)
    relay = RelayProcess(tmp_path / "relay", c, collector_extra="  batch_size: 250\n")
    c.start()
    relay.start(tokens=2)
    try:
        c.stop()  # the uplink is down: the relay takes and keeps everything
        sent: list[str] = []
        for i in range(8):
            host, token = (("his-db-01", c.agent_token) if i % 2 else ("lis-app-01", token2))
            batch = results(500, host)
            status, answer = post(relay.url, token, batch)
            assert status == 200, answer
            assert sorted(answer["accepted"]) == sorted(r["id"] for r in batch)
            sent += answer["accepted"]
        # a real agent process: acknowledged by the relay, so `once --push` succeeds with the collector down
        out = _once_push(_agent_config(tmp_path, relay, c.agent_token, "his-db-01"))
        assert out.returncode == 0, out.stderr
        relay.kill()  # acknowledged = on disk: a SIGKILL loses nothing
        relay.start(tokens=2)
        total = len(sent) + 1
        assert relay.health()["backlog"] == total
        c.start()
        wait_for(lambda: _carried(c) > 0, 60, "the first forwarded batch", interval=0.02)
        relay.kill()  # mid-forward
        assert 0 < _carried(c) < total
        relay.start(tokens=2)
        wait_for(lambda: relay.health()["backlog"] == 0, 60, "the relay's spool to empty")
        ids = [r["id"] for r in c.all_results()]
        assert len(ids) == len(set(ids)) == total and set(sent) <= set(ids)  # each exactly once
        assert _carried(c) == total  # and the collector knows which relay carried each
        # the relay's last batch reports what waits besides it: 0 (the batch was not counted as waiting)
        def relay_line() -> list[str]:
            return [ln.split() for ln in c.cli("host", "list", "--site", SITE).stdout.splitlines()
                    if "front-01" in ln.split()][0]

        wait_for(lambda: relay_line()[2:4] == ["backlog", "0"], 15, "the relay's next sync to report backlog 0")
        inventory = json.loads(c.cli("host", "list", "--site", SITE, "--json").stdout)
        [his] = [h for h in inventory if h["host"] == "his-db-01"]
        assert his["agent_version"]  # the agent's own version, passed on by the relay (kept across its SIGKILL)
    finally:
        relay.kill()
        c.stop()


def test_enrolment_config_and_bad_input_at_the_relay_and_the_config_kept_while_the_uplink_is_down(tmp_path):
    c = CollectorProcess(tmp_path, site=SITE, host="his-db-01")
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("templates:\n  base:\n    - {check: uptime, every: 1m}\nassign:\n  - {templates: [base]}\n")
    assert c.cli("fleet", "apply", str(fleet)).returncode == 0
    key = c.cli("enrol-key", "create", "--site", SITE).stdout.strip().splitlines()[-1]
    small = tmp_path / "small"  # the relay's disk: a 2 MiB tmpfs, filled at the end
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(small)],
                      capture_output=True).returncode != 0:
        missing("a tmpfs mount (root)", "mount -t tmpfs needs root")
    relay = RelayProcess(tmp_path / "relay", c, spool=small / "relay.db")
    c.start()
    relay.start()
    try:
        # enrolment passes through the relay; the new token is known there at the next sync
        (tmp_path / "new").mkdir()
        config = tmp_path / "new" / "agent.yaml"
        # a key of another site through this site's relay: refused, the key unspent (enrolled, the host would
        # meet 401 at the relay for ever: it knows its own site's tokens only)
        other = c.cli("enrol-key", "create", "--site", "other-hospital").stdout.strip().splitlines()[-1]
        out = subprocess.run([command("wardround-agent"), "enrol", "--url", relay.url, "--key", other, "--config",
                              str(tmp_path / "other.yaml"), "--host", "pacs-01"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 1 and "HTTP 403" in out.stderr and "e2e-hospital" in out.stderr, out.stderr
        assert "other-hospital" in out.stderr and not (tmp_path / "other.yaml").exists()
        assert "0/1" in c.cli("enrol-key", "list", "--site", "other-hospital").stdout
        out = subprocess.run([command("wardround-agent"), "enrol", "--url", relay.url, "--key", key, "--config",
                              str(config), "--host", "pacs-01", "--spool", str(tmp_path / "new" / "spool.db")],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        token = (tmp_path / "new" / "agent.token").read_text().strip()
        wait_for(lambda: relay.health()["tokens"] == 2, 10, "the new token at the relay")
        status, body, headers = get(f"{relay.url}/api/v1/agent/config", token)
        assert status == 200 and b"uptime" in body

        # bad input: another site or host 403, a relay token or an unknown one 401, malformed 422
        status, answer = post(relay.url, c.agent_token, results(1, "his-db-01", site="other-hospital"))
        assert status == 403 and "this relay serves site e2e-hospital" in answer["detail"]
        status, answer = post(relay.url, c.agent_token, results(1, "pacs-01"))
        assert status == 403 and "not for e2e-hospital/pacs-01" in answer["detail"]
        status, answer = post(relay.url, relay.token, results(1, "his-db-01"))
        assert status == 401 and answer["detail"] == "a relay token is not an agent token"
        assert post(relay.url, "wra_not-a-token", results(1, "his-db-01"))[0] == 401
        bad = results(1, "his-db-01")
        bad[0]["status"] = 9
        status, answer = post(relay.url, c.agent_token, bad)
        assert status == 422 and answer["detail"][0]["index"] == 0
        assert get(f"{c.url}/api/v1/agent/config", relay.token)[0] == 403  # the collector refuses it too
        # a revoked token is refused within the sync interval (1 s here, 30 s by default)
        c.cli("token", "revoke", "--site", SITE, "--host", "his-db-01")
        answers: list[int] = []
        wait_for(lambda: answers.append(post(relay.url, c.agent_token, results(1, "his-db-01"))[0]) or
                 answers[-1] == 401, 10, "the revoked token to be refused")
        assert set(answers[:-1]) <= {200} and len(answers) <= 12  # taken until the next sync, then refused
        wait_for(lambda: relay.health()["backlog"] == 0, 30, "the relay to forward what it took")
        # what it took before the sync went on (the token was live when sent); nothing else
        assert len(c.all_results()) == len(answers) - 1

        # the uplink goes down: the agents keep their checks, and report through the relay
        c.stop()
        status, kept, _ = get(f"{relay.url}/api/v1/agent/config", token)
        assert status == 200 and kept == body
        assert get(f"{relay.url}/api/v1/agent/config", token, {"If-None-Match": headers["ETag"]})[0] == 304
        out = _once_push(str(config))
        assert out.returncode == 0, out.stderr

        # a full disk at the relay: 503, and the agents keep their results in their own spools
        # (the relay's own files may have filled it already under load: then even the open fails)
        with contextlib.suppress(OSError), open(small / "filler", "wb") as fh:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        status, answer = post(relay.url, token, results(200, "pacs-01"))
        assert status == 503 and "cannot store results now" in answer["detail"]
        out = _once_push(str(config), wait="3s")
        assert out.returncode == 4 and "HTTP 503" in out.stderr
        assert "database or disk is full" in relay.log.read_text()
    finally:
        relay.kill()
        c.stop()
        subprocess.run(["umount", str(small)], capture_output=True)


def test_agents_in_a_network_that_reaches_only_the_relay_are_patrolled_through_a_proxy_uplink(tmp_path):
    """The hospital's internal network as a network namespace joined to this machine by one veth pair:
    the agents there reach the relay's address and nothing else (the collector listens on 127.0.0.1);
    the relay reaches the collector through a real proxy (tinyproxy) with credentials from a file."""
    from tests.e2e.test_proxy import PASSWORD, USER, Tinyproxy

    if shutil.which("ip") is None or os.geteuid() != 0:
        missing("ip netns (iproute2, root)", "apt-get install iproute2; run as root")
    ns, outer, inner = f"wr{os.getpid()}-his", f"wr{os.getpid()}h", f"wr{os.getpid()}n"
    subnet = 10 + os.getpid() % 200

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)

    ip("netns", "add", ns)
    c = relay = proxy = None
    try:
        proxy = Tinyproxy(tmp_path)
        creds = tmp_path / "proxy.credentials"
        creds.write_text(f"{USER}:{PASSWORD}\n")
        creds.chmod(0o600)
        ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        ip("link", "set", inner, "netns", ns)
        ip("addr", "add", f"10.231.{subnet}.1/30", "dev", outer)
        ip("link", "set", outer, "up")
        ip("-n", ns, "addr", "add", f"10.231.{subnet}.2/30", "dev", inner)
        ip("-n", ns, "link", "set", inner, "up")
        ip("-n", ns, "link", "set", "lo", "up")
        c = CollectorProcess(tmp_path, site=SITE, host="his-db-01")
        relay = RelayProcess(tmp_path / "relay", c, collector_extra=(
            f"  proxy: {proxy.url}\n  proxy_credentials_file: {creds}\n"))
        relay.url = f"http://10.231.{subnet}.1:{relay.port}"
        relay.config.write_text(relay.config.read_text().replace("listen: 127.0.0.1:", f"listen: 10.231.{subnet}.1:"))
        c.start()
        relay.start()
        inside = ["ip", "netns", "exec", ns]
        direct = tmp_path / "direct"
        direct.mkdir()
        config = _agent_config(direct, relay, c.agent_token, "his-db-01")
        Path(config).write_text(Path(config).read_text().replace(relay.url, c.url))
        out = subprocess.run([*inside, command("wardround-agent"), "once", "--config", config, "--push", "--wait",
                              "3s"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 4 and "cannot reach the collector" in out.stderr  # no way to the collector
        config = _agent_config(tmp_path, relay, c.agent_token, "his-db-01")
        out = subprocess.run([*inside, command("wardround-agent"), "once", "--config", config, "--push"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        wait_for(lambda: _carried(c) == 1, 30, "the result at the collector")
        assert [r["host"] for r in c.all_results()] == ["his-db-01"]
        log = proxy.log.read_text()  # the uplink went through the proxy; no token in its log
        assert f"POST http://127.0.0.1:{c.port}/api/v1/results" in log
        assert f"GET http://127.0.0.1:{c.port}/api/v1/relay/sync" in log
        assert relay.token not in log and c.agent_token not in log
    finally:
        if relay is not None:
            relay.kill()
        if c is not None:
            c.stop()
        if proxy is not None:
            proxy.stop()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", outer], capture_output=True, timeout=30)
