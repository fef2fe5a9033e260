"""The central config and token rotation on the agent's side, against a small real HTTP server."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agent.central import Central, merge, pick_up_token
from agent.config import load_config, token_file_problem
from agent.http import Http
from tests.agent.helpers import serve_in_thread

TOKEN = "wra_central-test-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaa"
NEW_TOKEN = "wra_central-test-token-bbbbbbbbbbbbbbbbbbbbbbbbbbbb"


class ConfigServer:
    """Answers GET /api/v1/agent/config and /api/v1/agent/token as the test sets them."""

    def __init__(self) -> None:
        self.config: tuple[int, Any] = (200, {"etag": "v1-aaaa", "version": 1, "checks": []})
        self.token: tuple[int, Any] = (404, {"detail": "not rotated"})
        self.requests: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.requests.append((self.path, dict(self.headers.items())))
                status, body = server.config if self.path.endswith("/config") else server.token
                if status == 200 and self.path.endswith("/config") and \
                        self.headers.get("If-None-Match") == f'"{body["etag"]}"':
                    status, body = 304, None
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        serve_in_thread(self.http)

    def stop(self) -> None:
        self.http.shutdown()


@pytest.fixture
def server() -> Iterator[ConfigServer]:
    s = ConfigServer()
    yield s
    s.stop()


def _config(tmp_path: Path, url: str, checks: str = "") -> Any:
    token_file = tmp_path / "agent.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    path = tmp_path / "agent.yaml"
    path.write_text(f"site: s1\nhost: h1\ncollector: {{url: '{url}', token_file: '{token_file}'}}\n"
                    f"spool: {tmp_path / 'spool.db'}\n{checks}")
    return load_config(path)


def _central(tmp_path: Path, server: ConfigServer, checks: str = "") -> Central:
    config = _config(tmp_path, server.url, checks)
    return Central(config, Http(server.url, TOKEN), timeout_s=5)


def test_a_local_entry_replaces_the_central_one_of_its_name_and_the_others_are_added(tmp_path, server):
    server.config = (200, {"etag": "v2-bbbb", "checks": [{"check": "disk", "every": "5m"},
                                                         {"check": "uptime", "every": "5m"}]})
    central = _central(tmp_path, server, "checks:\n  - {check: disk, every: 1m, params: {warn: 70, crit: 80}}\n"
                                         "  - {check: system, every: 1m}\n")
    assert central.fetch().outcome == "changed"
    got = {c.name: c for c in central.effective()}
    assert sorted(got) == ["disk", "system", "uptime"]
    assert got["disk"].every_s == 60 and got["disk"].params.warn == 70  # the local one
    assert merge([], []) == ()


def test_an_unchanged_config_costs_a_304_and_a_version_is_kept_on_disk_mode_0600(tmp_path, server):
    server.config = (200, {"etag": "v3-cccc", "checks": [{"check": "uptime", "every": "5m"}]})
    central = _central(tmp_path, server)
    assert central.fetch().outcome == "changed" and central.version == "v3-cccc"
    assert central.fetch().outcome == "unchanged"
    assert server.requests[-1][1].get("If-None-Match") == '"v3-cccc"'
    kept = Path(f"{tmp_path / 'spool.db'}.central.json")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    # restarted while the collector is away: the kept copy is what runs
    server.stop()
    again = _central(tmp_path, server)
    assert again.load_stored() is True and [c.name for c in again.effective()] == ["uptime"]
    assert again.fetch(timeout_s=2).outcome == "failed" and again.version == "v3-cccc"


def test_a_config_that_does_not_validate_here_is_refused_whole_and_the_last_good_stays(tmp_path, server, caplog):
    server.config = (200, {"etag": "v4-dddd", "checks": [{"check": "uptime", "every": "5m"}]})
    central = _central(tmp_path, server)
    central.fetch()
    server.config = (200, {"etag": "v5-eeee", "checks": [{"check": "uptime", "every": "5m"},
                                                         {"check": "fancy_new_check", "every": "5m"},
                                                         {"check": "disk", "every": "soon"}]})
    with caplog.at_level(logging.ERROR):
        got = central.fetch()
    assert got.outcome == "rejected" and "keeping v4-dddd" in got.message
    assert central.version == "v4-dddd" and [c.name for c in central.effective()] == ["uptime"]
    assert "collector config v5-eeee: checks[1].check: expected a check name from the catalogue" in caplog.text
    assert "checks[2].every: expected a duration" in caplog.text
    assert central.fetch().outcome == "unchanged"  # said once, not at every poll


@pytest.mark.parametrize(("answer", "outcome"), [((404, {"detail": "Not Found"}), "absent"),
                                                 ((403, {"detail": "awaiting approval: ..."}), "refused"),
                                                 ((500, {"detail": "internal error"}), "failed")])
def test_what_each_answer_means_for_the_central_config(tmp_path, server, answer, outcome):
    server.config = answer
    central = _central(tmp_path, server, "checks:\n  - {check: uptime, every: 5m}\n")
    assert central.fetch().outcome == outcome
    assert [c.name for c in central.effective()] == ["uptime"]


def test_a_rotated_token_is_fetched_written_0600_and_used(tmp_path, server, caplog):
    config = _config(tmp_path, server.url)
    http = Http(server.url, TOKEN)
    server.token = (200, {"token": NEW_TOKEN, "old_token_expires_at": "2026-12-06T10:00:00Z"})
    with caplog.at_level(logging.INFO):
        assert pick_up_token(http, config.collector.token_file, timeout_s=5) is True
    token_file = Path(config.collector.token_file)
    assert token_file.read_text().strip() == NEW_TOKEN and http.token == NEW_TOKEN
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert server.requests[-1][1]["Authorization"] == f"Bearer {TOKEN}"  # asked with the old one
    assert NEW_TOKEN not in caplog.text and TOKEN not in caplog.text


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to nobody")
def test_a_token_file_in_a_directory_the_agent_cannot_write_is_rewritten_in_place(server):
    import shutil
    import subprocess
    import sys
    import tempfile

    tmp_path = Path(tempfile.mkdtemp(prefix="wardround-rotation-"))  # pytest's tmp is closed to nobody
    config = _config(tmp_path, server.url)
    token_file = Path(config.collector.token_file)
    os.chown(token_file, 65534, 65534)  # the agent's user owns the file; root owns the directory
    os.chmod(tmp_path, 0o755)
    server.token = (200, {"token": NEW_TOKEN, "old_token_expires_at": "later"})
    code = ("import sys; from agent.http import Http; from agent.central import pick_up_token;"
            f"h = Http({server.url!r}, {TOKEN!r}); sys.exit(0 if pick_up_token(h, {str(token_file)!r}, timeout_s=5)"
            " else 1)")
    out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                          code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[2])
    try:
        assert out.returncode == 0, out.stderr
        assert token_file.read_text().strip() == NEW_TOKEN and token_file.stat().st_uid == 65534
    finally:
        shutil.rmtree(tmp_path)


def test_the_token_file_rule_names_a_file_owned_by_another_user(tmp_path):
    secret = tmp_path / "agent.token"
    secret.write_text(TOKEN)
    secret.chmod(0o600)
    assert token_file_problem(secret) is None
    secret.chmod(0o640)
    assert "readable by other users (mode 0640)" in (token_file_problem(secret) or "")
    if os.geteuid() == 0:
        secret.chmod(0o600)
        os.chown(secret, 65534, 65534)
        assert "belongs to uid 65534, not to the agent's user" in (token_file_problem(secret) or "")


def test_the_proxy_settings_are_read_and_credentials_in_its_url_refused(tmp_path):
    creds = tmp_path / "proxy.cred"
    creds.write_text("agent:pw\n")
    creds.chmod(0o600)
    token = tmp_path / "agent.token"
    token.write_text(TOKEN)
    token.chmod(0o600)
    ok = tmp_path / "ok.yaml"
    ok.write_text(f"site: s\ncollector: {{url: 'https://c:8480', token_file: '{token}', "
                  f"proxy: 'http://proxy.example:3128', proxy_credentials_file: '{creds}'}}\n")
    c = load_config(ok).collector
    assert c is not None and c.proxy == "http://proxy.example:3128" and c.proxy_credentials == "agent:pw"
    assert "agent:pw" not in repr(c)
    from agent.config import ConfigError

    bad = tmp_path / "bad.yaml"
    bad.write_text(f"site: s\nconfig_every: 2s\ncollector: {{url: 'https://c:8480', token_file: '{token}', "
                   "proxy: 'http://agent:pw@proxy:3128/x', proxy_credentials_file: /nonexistent}\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    text = "\n".join(err.value.errors)
    assert "collector.proxy: expected no user:password@ in the proxy URL" in text and "pw@" not in text
    assert "collector.proxy_credentials_file: expected a readable file" in text
    assert "config_every: expected a duration of at least 10s like 5m, or off" in text
