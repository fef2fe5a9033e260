"""The agent config: frozen when valid, every error at once with file and key path when not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent.config import ConfigError, load_config
from tests.agent.helpers import REPO, TOKEN


def write(tmp_path: Path, text: str, name: str = "agent.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def errors_of(path: Path, **kw: bool) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, **kw)
    return info.value.errors


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "agent.token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path


def test_a_valid_config_is_frozen_with_defaults_when_loaded(tmp_path: Path, token_file: Path) -> None:
    path = write(tmp_path, f"""
        site: central-hospital
        collector:
          url: https://collector.example:8480
          token_file: {token_file}
        spool: spool.db
        checks:
          - check: disk
            every: 5m
            params: {{warn: 80, crit: 90, mounts: [/, /var]}}
          - check: system
            name: system-daily
            cron: "0 8 * * 1-5"
            timeout: 10s
    """)
    cfg = load_config(path)
    assert cfg.site == "central-hospital"
    assert cfg.host  # the machine's short hostname
    assert "." not in cfg.host
    assert cfg.collector is not None and cfg.collector.token == TOKEN
    assert TOKEN not in repr(cfg)
    assert cfg.collector.timeout_s == 10 and cfg.collector.batch_size == 500
    assert cfg.collector.ca_file is None
    assert cfg.spool == str(tmp_path / "spool.db")  # relative to the config file
    assert (cfg.spool_max_age_s, cfg.spool_max_bytes, cfg.jitter_s) == (7 * 86400, 256 * 2**20, 30)
    disk, system = cfg.checks
    assert (disk.name, disk.every_s, disk.cron, disk.timeout_s) == ("disk", 300, None, 30)
    assert disk.params.mounts == ("/", "/var") and disk.params.warn == 80
    assert (system.name, system.cron, system.timeout_s) == ("system-daily", "0 8 * * 1-5", 10)
    with pytest.raises(AttributeError):
        cfg.site = "x"  # type: ignore[misc]


def test_every_error_is_reported_at_once_with_file_and_key_when_the_config_is_wrong(
        tmp_path: Path) -> None:
    path = write(tmp_path, """
        site: central hospital
        colector: {}
        spool_max_bytes: lots
        jitter: soon
        checks:
          - check: disk
            every: 5m
            params: {warn: high, crit: 90, mount: [/]}
          - check: dsik
            every: 5m
          - check: system
            every: 5 minutes
          - check: system
            name: sys2
            cron: "0 8 * *"
          - check: system
            name: sys3
            cron: "0 25 * * *"
          - check: system
            name: sys4
          - check: system
            name: sys5
            every: 1m
            cron: "* * * * *"
            timout: 5s
    """)
    errors = errors_of(path)
    f = str(path)
    expected = [
        f"{f}: site: expected 1-64 letters",
        f"{f}: colector: unknown key (known: checks, collector, config_every, host, jitter, site, spool, "
        "spool_max_age, spool_max_bytes)",
        f"{f}: spool_max_bytes: expected a size like 256MiB, 1GiB or a number of bytes (got 'lots')",
        f"{f}: jitter: expected a duration like 30s, 5m, 26h, 7d (got 'soon')",
        f"{f}: checks[0].params.warn: expected a number (got 'high')",
        f"{f}: checks[0].params.mount: unknown parameter (known: ",
        f"{f}: checks[1].check: expected a check name from the catalogue: unknown check 'dsik' "
        "(known: ",
        f"{f}: checks[2].every: expected a duration like 30s, 5m, 26h, 7d (got '5 minutes')",
        f"{f}: checks[3].cron: expected a 5-field crontab like \"0 8 * * *\"",
        f"{f}: checks[4].cron: expected a 5-field crontab",
        f"{f}: checks[5]: expected every: (e.g. 5m) or cron:",
        f"{f}: checks[6].timout: unknown key",
        f"{f}: checks[6]: give every or cron, not both",
    ]
    for line in expected:
        assert any(e.startswith(line) for e in errors), (line, errors)
    assert len(errors) == len(expected), errors


def test_site_is_required_and_collector_only_when_needed_when_missing(tmp_path: Path) -> None:
    path = write(tmp_path, "checks: [{check: disk, every: 5m}]\n")
    errors = errors_of(path)
    assert errors == [f"{path}: site: required: the customer / site this host belongs to, "
                      "e.g. central-hospital"]
    path = write(tmp_path, "site: s1\nchecks: [{check: disk, every: 5m}]\n")
    assert load_config(path).collector is None
    assert errors_of(path, need_collector=True) == [
        f"{path}: collector: required for `run` and `once --push` (url and token_file)"]


def test_the_token_file_is_named_but_never_shown_when_it_cannot_be_used(tmp_path: Path) -> None:
    path = write(tmp_path, f"""
        site: s1
        collector: {{url: "ftp://x", token_file: {tmp_path}/nope.token, ca_file: {tmp_path}/ca.pem,
                     timeout: 0s, batch_size: 0}}
    """)
    errors = errors_of(path)
    assert any(e.startswith(f"{path}: collector.url: expected an http:// or https:// URL (got 'ftp://x')")
               for e in errors)
    assert any(e.startswith(f"{path}: collector.token_file: expected a readable file "
                            f"(No such file or directory: {tmp_path}/nope.token)") for e in errors)
    assert any(e.startswith(f"{path}: collector.ca_file: expected a readable file") for e in errors)
    assert any(e.startswith(f"{path}: collector.timeout: expected at least 1s") for e in errors)
    assert any(e.startswith(f"{path}: collector.batch_size: expected a whole number") for e in errors)
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate")
    path = write(tmp_path, f"site: s1\ncollector: {{url: 'https://c', token: t, ca_file: {not_pem}}}\n")
    (error,) = errors_of(path)
    assert error.startswith(f"{path}: collector.ca_file: expected PEM CA certificates ({not_pem}: ")
    bad_token = tmp_path / "two.token"
    bad_token.write_text("s3cret part2\n")
    path = write(tmp_path, f"site: s1\ncollector: {{url: 'http://c', token_file: {bad_token}}}\n")
    (error,) = errors_of(path)
    assert "collector.token_file: expected one token on one line" in error and "s3cret" not in error


def test_a_warning_names_the_token_file_when_other_users_can_read_it(
        tmp_path: Path, token_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, f"site: s1\ncollector: {{url: 'http://c', token_file: {token_file}}}\n")
    load_config(path)
    assert caplog.text == ""
    token_file.chmod(0o644)
    load_config(path)
    assert f"collector.token_file: {token_file} is readable by other users (mode 0644)" in caplog.text
    assert TOKEN not in caplog.text


def test_a_token_file_other_users_can_read_is_said_in_chinese_too_beside_the_english_line(
        tmp_path: Path, token_file: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, f"site: s1\ncollector: {{url: 'http://c', token_file: {token_file}}}\n")
    token_file.chmod(0o644)
    monkeypatch.setenv("WARDROUND_LANG", "zh_CN")
    load_config(path)
    assert [r.getMessage() for r in caplog.records] == [
        f"collector.token_file: {token_file} is readable by other users (mode 0644): it must be readable only by "
        "the agent's user: chmod 600 it",
        f"collector.token_file：{token_file} 其他用户也能读取（权限 0644）：只应由采集代理的用户读取："
        f"请执行 chmod 600 {token_file}"]


def test_an_unreadable_token_file_is_an_error_when_it_cannot_be_opened(tmp_path: Path) -> None:
    secret = tmp_path / "agent.token"
    secret.write_text(TOKEN)
    secret.chmod(0)
    path = write(tmp_path, f"site: s1\ncollector: {{url: 'http://c', token_file: {secret}}}\n")
    if os.geteuid() != 0:  # root reads any file
        (error,) = errors_of(path)
        assert "Permission denied" in error and TOKEN not in error
    path = write(tmp_path, f"site: s1\ncollector: {{url: 'http://c', token_file: {tmp_path}}}\n")
    (error,) = errors_of(path)
    assert error == (f"{path}: collector.token_file: expected a readable file "
                     f"(Is a directory: {tmp_path})")


def test_yaml_syntax_errors_name_line_and_column_when_the_file_does_not_parse(tmp_path: Path) -> None:
    path = write(tmp_path, "site: s1\nchecks:\n  - check: disk\n   every: 5m\n")
    (error,) = errors_of(path)
    assert error.startswith(f"{path}: line 4, column 4: not valid YAML: expected <block end>")
    path = write(tmp_path, "site: s1\nsite: s2\n")
    (error,) = errors_of(path)
    assert error.startswith(f"{path}: line 2, column 1: not valid YAML: key 'site' is given twice")
    path = write(tmp_path, "- just\n- a list\n")
    assert "expected a mapping of keys" in errors_of(path)[0]
    assert errors_of(tmp_path / "missing.yaml") == [
        f"{tmp_path / 'missing.yaml'}: cannot read the config: No such file or directory"]


def test_yaml_that_cannot_be_built_names_the_file_when_a_date_does_not_exist_or_nesting_is_deep(
        tmp_path: Path) -> None:
    path = write(tmp_path, "site: 2026-13-01\n")  # was "month must be in 1..12" without the file
    assert errors_of(path) == [f"{path}: not valid YAML: month must be in 1..12"]
    path = write(tmp_path, "site: " + "[" * 20000 + "]" * 20000)  # was a RecursionError traceback
    assert errors_of(path) == [f"{path}: not valid YAML: nested too deeply"]


def test_two_instances_of_one_check_need_distinct_names_when_configured(tmp_path: Path) -> None:
    path = write(tmp_path, "site: s1\nchecks:\n  - {check: disk, every: 5m}\n"
                           "  - {check: disk, every: 1h}\n  - {check: disk, every: 1h, name: disk-data}\n")
    (error,) = errors_of(path)
    assert error.startswith(f"{path}: checks[1].name: 'disk' is already the name of checks[0]")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60)


def test_the_cli_exits_2_and_starts_nothing_when_the_config_is_wrong(tmp_path: Path) -> None:
    spool = tmp_path / "spool.db"
    path = write(tmp_path, f"""
        site: s1
        collector: {{url: 'http://127.0.0.1:9', token: abc}}
        spool: {spool}
        checks:
          - {{check: disk, every: 5 minutes}}
          - {{check: nope, every: 5m}}
    """)
    for command in (["run"], ["once"], ["once", "--push"]):
        proc = run_cli(*command, "--config", str(path))
        assert proc.returncode == 2, proc
        assert proc.stdout == ""
        lines = proc.stderr.splitlines()
        assert lines[0] == (f"{path}: checks[0].every: expected a duration like 30s, 5m, 26h, 7d "
                            "(got '5 minutes')")
        assert lines[1].startswith(f"{path}: checks[1].check: expected a check name")
        assert lines[2] == "wardround-agent: 2 errors in the config; nothing started"
        assert "Traceback" not in proc.stderr
    assert not spool.exists()


@pytest.mark.parametrize(("url", "what"), [
    ("https://wardround:Hunter2-Secret@collector.example:8480", "user:password@"),
    ("https://Hunter2-Secret@collector.example:8480", "user:password@"),
    ("https://collector.example:8480/?token=Hunter2-Secret", "query"),
    ("https://collector.example:8480/#Hunter2-Secret", "fragment"),
    ("ftp://wardround:Hunter2-Secret@collector.example", "http:// or https://"),
])
def test_a_collector_url_with_credentials_query_or_fragment_is_refused_without_showing_it(
        tmp_path: Path, token_file: Path, url: str, what: str) -> None:
    path = write(tmp_path, f"""
        site: s1
        collector: {{url: '{url}', token_file: {token_file}}}
    """)
    (error,) = errors_of(path)
    assert error.startswith(f"{path}: collector.url: expected ")
    assert what in error
    assert "Hunter2-Secret" not in error
    proc = run_cli("once", "--push", "--config", str(path))
    assert proc.returncode == 2 and proc.stdout == ""
    assert "collector.url" in proc.stderr and "Hunter2-Secret" not in proc.stderr


def test_a_password_in_a_check_parameter_is_masked_when_the_config_error_echoes_it(
        tmp_path: Path) -> None:
    path = write(tmp_path, """
        site: s1
        checks:
          - {check: http, every: 5m, params: {url: 'http://monitor:Hunter2-Secret@his-web:80x/health'}}
    """)
    proc = run_cli("once", "--config", str(path))
    assert proc.returncode == 2 and "checks[0].params.url" in proc.stderr
    assert "Hunter2-Secret" not in proc.stderr
    proc = run_cli("check", "http", "--param", "url=http://monitor:Hunter2-Secret@his-web:80x/health")
    assert proc.returncode == 2 and "Hunter2-Secret" not in proc.stderr


@pytest.mark.parametrize(("name", "ok"), [("a" * 64, True), ("his-db.01_b", True), ("a" * 65, False),
                                          ("_his", False), ("his\n", False), ("his db", False)])
def test_site_host_and_instance_names_follow_the_one_name_rule_when_configured(tmp_path: Path, name: str,
                                                                               ok: bool) -> None:
    # checks.result.is_name: what the collector accepts on the wire is what the agent accepts here
    quoted = json.dumps(name)  # JSON is YAML: "his\n" holds a real newline
    path = write(tmp_path, f"site: {quoted}\nhost: {quoted}\nchecks:\n  - {{check: disk, every: 5m, name: {quoted}}}\n")
    if ok:
        assert load_config(path).site == name
    else:
        assert [e.split(": ")[1] for e in errors_of(path)] == ["site", "host", "checks[0].name"]


UNLOAD_PROBE = """
import sys
from agent.config import ConfigError, load_config
try:
    load_config(sys.argv[1])
except ConfigError as exc:
    print("error:", exc.errors[0])
config = load_config(sys.argv[2])
print("checks:", [c.check for c in config.checks], "yaml:", sorted(m for m in sys.modules if "yaml" in m))
"""


def test_pyyaml_leaves_the_agent_after_its_config_is_read_and_errors_still_point_at_the_line(
        tmp_path: Path) -> None:
    """The agent reads YAML only at start: PyYAML (and never its C extension) is unloaded after."""
    dup = write(tmp_path, "site: s\nhost: h\nsite: t\nspool: /tmp/x\n", "dup.yaml")
    good = write(tmp_path, f"site: s\nhost: h\nspool: {tmp_path / 's.db'}\nchecks:\n  - check: system\n"
                           "    every: 1m\n")
    out = subprocess.run([sys.executable, "-c", UNLOAD_PROBE, str(dup), str(good)], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert f"error: {dup}: line 3, column 1: not valid YAML: key 'site' is given twice" in out.stdout
    assert "checks: ['system'] yaml: []" in out.stdout
