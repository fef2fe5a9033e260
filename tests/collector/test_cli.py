"""wardround-collector as a user runs it: real subprocesses, real databases."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from collector.app import create_app
from collector.config import Settings
from tests.collector.conftest import make_result
from tests.conftest import free_port
from tests.e2e.conftest import collector_cli

ROOT = Path(__file__).resolve().parents[2]


UNSET = ("WARDROUND_DB", "WARDROUND_LANG", "LC_ALL", "LC_MESSAGES")  # a command sees none of these: English, --db


def cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in UNSET}
    full_env.update({"PYTHONPATH": str(ROOT), "LANG": "C.UTF-8", **(env or {})})  # English unless env says so
    return subprocess.run([sys.executable, "-m", "collector.cli", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=full_env, timeout=timeout)


def in_process(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """:func:`cli` without a new interpreter (about 1 s each): ``main`` run here with the environment ``cli``
    gives the process (tests/e2e/conftest.py ``collector_cli``).  For what a subcommand does and says; what
    only a process shows (the working directory, the exit status to a shell, a closed pipe, serve) stays a
    process (:func:`cli`)."""
    return collector_cli(*args, env={**dict.fromkeys(UNSET), "LANG": "C.UTF-8", **(env or {})})


def test_token_create_prints_a_working_token_on_last_line_when_run(db_url, engine):
    out = cli("token", "create", "--host", "his-db-01", "--site", "central-hospital", "--db", db_url)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    token = lines[-1]
    assert token.startswith("wra_") and " " not in token
    assert token not in out.stderr
    with TestClient(create_app(Settings(db_url=db_url), engine=engine)) as client:
        r = client.post("/api/v1/results", json={"results": [make_result()]},
                        headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        r = client.post("/api/v1/results", json={"results": [make_result(host="his-db-02")]},
                        headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403


def test_user_create_prints_a_working_token_on_last_line_when_run(db_url, engine):
    out = cli("user", "create", "vera", "--role", "viewer", "--db", db_url)
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip().splitlines()[-1]
    assert token.startswith("wru_")
    with TestClient(create_app(Settings(db_url=db_url), engine=engine)) as client:
        assert client.get("/api/v1/hosts", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    again = cli("user", "create", "vera", "--role", "admin", "--db", db_url)
    assert again.returncode == 1
    assert "already exists" in again.stderr and "Traceback" not in again.stderr


def test_token_create_refuses_to_make_a_database_when_none_was_named(tmp_path):
    # the first hour: `token create` in the wrong directory made ./wardround.db, a second, empty database
    out = cli("token", "create", "--host", "h", "--site", "s", cwd=tmp_path)
    assert out.returncode == 2
    assert not (tmp_path / "wardround.db").exists()
    assert "no database at sqlite:///wardround.db (the default: no --db" in out.stderr
    assert "give --db URL or --config F" in out.stderr and "Traceback" not in out.stderr
    assert "wra_" not in out.stdout


def test_each_command_says_which_database_it_used_and_why(tmp_path):
    elsewhere = tmp_path / "env.db"
    out = cli("migrate", cwd=tmp_path, env={"WARDROUND_DB": f"sqlite:///{elsewhere}"})
    assert out.returncode == 0, out.stderr
    assert elsewhere.exists()
    out = cli("token", "create", "--host", "h", "--site", "s", cwd=tmp_path,
              env={"WARDROUND_DB": f"sqlite:///{elsewhere}"})
    assert out.returncode == 0, out.stderr
    assert f"database: sqlite:///{elsewhere} (from $WARDROUND_DB)" in out.stderr
    config = tmp_path / "collector.yaml"
    config.write_text(f"db: sqlite:///{elsewhere}\n")
    out = cli("token", "list", cwd=tmp_path, env={"WARDROUND_CONFIG": str(config)})
    assert out.returncode == 0, out.stderr
    assert f"(from config {config})" in out.stderr and "s  " in out.stdout


def test_the_installed_config_file_is_read_when_no_config_is_given(tmp_path, monkeypatch):
    from collector import config as config_module

    installed = tmp_path / "collector.yaml"
    installed.write_text(f"db: sqlite:///{tmp_path}/installed.db\n")
    monkeypatch.setattr(config_module, "INSTALLED_CONFIG", str(installed))
    monkeypatch.delenv("WARDROUND_CONFIG", raising=False)
    monkeypatch.delenv("WARDROUND_DB", raising=False)
    settings = config_module.load_settings()
    assert settings.db_url == f"sqlite:///{tmp_path}/installed.db"
    assert settings.db_source == f"config {installed}"
    assert config_module.load_settings(db_url="sqlite:///x.db").db_source == "--db"


def test_database_comes_from_config_file_when_given(tmp_path):
    config = tmp_path / "collector.yaml"
    config.write_text(f"db: sqlite:///{tmp_path}/from-config.db\nlisten:\n  port: 9999\n")
    out = cli("user", "create", "ann", "--role", "admin", "--config", str(config))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "from-config.db").exists()


@pytest.mark.parametrize("args", [
    ["user", "create", "bob", "--role", "superuser"],
    ["token", "create", "--site", "s"],
    ["frobnicate"],
    [],
])
def test_usage_error_exits_2_when_arguments_wrong(tmp_path, args):
    out = cli(*args, cwd=tmp_path)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr


def test_config_error_exits_2_naming_file_and_key_when_config_bad(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("db: 5\nlisten:\n  port: http\ncolour: red\n")
    out = cli("serve", "--config", str(config), cwd=tmp_path)
    assert out.returncode == 2
    assert f"{config}: db: expected" in out.stderr
    assert f"{config}: listen.port: expected" in out.stderr
    assert f"{config}: colour: unknown key" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "wardround.db").exists()  # nothing started


@pytest.mark.parametrize("url, message, code", [
    ("nonsense", "not a database URL", 2),  # a usage error
    ("mysql://u@h/db", "unsupported database", 2),
    ("postgresql+psycopg://nobody@127.0.0.1:1/x", "cannot use the database", 1),  # a runtime fault
])
def test_database_error_is_one_line_when_url_unusable(tmp_path, url, message, code):
    out = cli("token", "create", "--host", "h", "--site", "s", "--db", url, cwd=tmp_path)
    assert out.returncode == code
    assert message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_password_is_masked_when_database_unreachable(tmp_path):
    out = cli("migrate", "--db", "postgresql+psycopg://u:s3cret@127.0.0.1:1/x", cwd=tmp_path)
    assert out.returncode == 1
    assert "s3cret" not in out.stderr


def test_help_and_version_work_when_asked():
    assert cli("--version").stdout.strip() == "wardround-collector 0.1.0"
    out = cli("--help")
    assert out.returncode == 0 and "serve" in out.stdout and "token" in out.stdout
    for args in (["serve", "--help"], ["migrate", "--help"], ["token", "create", "--help"],
                 ["user", "create", "--help"], ["key", "create", "--help"], ["key", "show", "--help"],
                 ["key", "rotate", "--help"], ["audit", "verify", "--help"], ["record", "export", "--help"],
                 ["record", "verify", "--help"]):  # argparse's help of each: the same in this process
        out = in_process(*args)
        assert out.returncode == 0 and "--db" in out.stdout and "--config" in out.stdout


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_serve_migrates_and_answers_when_started(tmp_path):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "collector.cli", "serve", "--db",
                             f"sqlite:///{tmp_path}/serve.db", "--port", str(port)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert orjson.loads(r.read()) == {"status": "ok"}
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"collector did not come up: {proc.stderr.read1().decode()[-2000:]}")
                time.sleep(0.2)
        token = cli("token", "create", "--site", "s", "--host", "h", "--db",
                    f"sqlite:///{tmp_path}/serve.db").stdout.strip().splitlines()[-1]
        body = orjson.dumps({"results": [make_result(site="s", host="h")]})
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/results", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert len(orjson.loads(r.read())["accepted"]) == 1
    finally:
        _stop(proc)
    assert token not in proc.stderr.read().decode()


def test_serve_answers_on_an_inherited_socket_when_given_its_fd(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        port = sock.getsockname()[1]
        proc = subprocess.Popen([sys.executable, "-m", "collector.cli", "serve", "--db",
                                 f"sqlite:///{tmp_path}/fd.db", "--fd", str(sock.fileno())],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                pass_fds=[sock.fileno()])
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30) as r:
            assert orjson.loads(r.read()) == {"status": "ok"}  # queued in the backlog until it serves
    finally:
        _stop(proc)
    assert f"collector on http://127.0.0.1:{port}" in proc.stderr.read().decode()


def test_serve_refuses_an_fd_that_is_not_a_listening_socket_when_given(tmp_path):
    out = cli("serve", "--db", f"sqlite:///{tmp_path}/x.db", "--fd", "0")
    assert out.returncode == 1 and "--fd 0" in out.stderr and "Traceback" not in out.stderr


def test_worker_processes_get_every_setting_but_notifications_when_serving_with_workers(tmp_path, monkeypatch,
                                                                                       sqlite_template):
    from collector.cli import SETTINGS_ENV, app_from_environment, settings_for_workers
    from collector.config import HttpLimits, Settings
    from collector.notify.config import parse_notifications
    from collector.retention import Retention

    shutil.copyfile(sqlite_template, tmp_path / "w.db")  # migrated: the workers' /metrics read the outbox
    settings = Settings(db_url=f"sqlite:///{tmp_path}/w.db", workers=2, max_body_bytes=4096, sweep_seconds=0,
                        http=HttpLimits(header_timeout=3.0, max_connections=100),
                        trusted_proxies=("10.0.0.0/8",), retention=Retention(results=timedelta(days=500)))
    monkeypatch.setenv(SETTINGS_ENV, settings_for_workers(settings))
    app = app_from_environment()
    try:
        assert app.state.services.settings == settings
        # no notifications: the events are pending for nobody
        assert 'wardround_notifications_pending{channel=""}' not in app.state.services.metrics.exposition().decode()
    finally:
        app.state.services.engine.dispose()
    routed = settings.replace(notifications=parse_notifications(
        {"channels": {"hook": {"type": "webhook", "url": "https://hooks.example.cn/x"}}})[0])
    monkeypatch.setenv(SETTINGS_ENV, settings_for_workers(routed))
    app = app_from_environment()
    try:  # the parent's dispatcher routes them: each worker's /metrics counts them as pending
        assert app.state.services.settings.notifications is None
        assert 'wardround_notifications_pending{channel=""} 0.0' in app.state.services.metrics.exposition().decode()
    finally:
        app.state.services.engine.dispose()


def test_serve_on_a_port_in_use_says_so_in_one_line_with_exit_1_before_touching_the_database(tmp_path):
    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    try:
        out = cli("serve", "--db", f"sqlite:///{tmp_path}/x.db", "--port", str(port))
    finally:
        taken.close()
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr and "in use" in out.stderr
    assert not (tmp_path / "x.db").exists()


def test_output_cut_short_by_a_closed_pipe_is_no_traceback_when_piped_into_head():
    # `wardround-collector policy check policies.yaml | head -5`: head leaves before the output ends
    env = {**{k: v for k, v in os.environ.items() if k != "WARDROUND_DB"}, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "collector.cli", "policy", "check",
                             "deploy/policies.example.yaml"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # closed before the command writes: every write meets a closed pipe
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert proc.returncode == 1


def test_read_only_commands_neither_make_nor_need_the_signing_key_when_run(tmp_path):
    # a new user's try-out: `fleet show` on a fresh database made ./wardround-collector.key ("back it up", a key that
    # signed nothing), and on a signed database `host list` exited 2 without --key-file
    db = f"sqlite:///{tmp_path / 'w.db'}"
    assert cli("migrate", "--db", db, cwd=tmp_path).returncode == 0
    key = tmp_path / "wardround-collector.key"
    here = {"WARDROUND_KEY_FILE": str(key)}  # the test run names its own key; this one is the default's, here
    for args in (("host", "list"), ("fleet", "show"), ("token", "list")):
        out = cli(*args, "--db", db, cwd=tmp_path, env=here)
        assert out.returncode == 0, (args, out.stderr)
        assert not key.exists(), args
        assert "signing key" not in out.stderr, (args, out.stderr)
    # token create signs (an audit entry): it makes the key, as before
    made = cli("token", "create", "--host", "h", "--site", "s", "--db", db, cwd=tmp_path, env=here)
    assert made.returncode == 0, made.stderr
    assert key.exists() and "created the collector's signing key" in made.stderr
    elsewhere = tmp_path / "elsewhere"  # the signed database, no key file here and no --key-file
    elsewhere.mkdir()
    there = {"WARDROUND_KEY_FILE": str(elsewhere / "wardround-collector.key")}
    for args in (("host", "list"), ("fleet", "show"), ("token", "list"), ("user", "list"), ("enrol-key", "list")):
        out = cli(*args, "--db", db, cwd=elsewhere, env=there)
        assert out.returncode == 0, (args, out.stderr)
        assert "no signing key" not in out.stderr
        assert args != ("token", "list") or "s  " in out.stdout  # the token made above
    refused = cli("token", "create", "--host", "h2", "--site", "s", "--db", db, cwd=elsewhere, env=there)  # needs it
    assert refused.returncode == 2
    assert "no signing key" in refused.stderr and "Traceback" not in refused.stderr
    assert list(elsewhere.iterdir()) == []
