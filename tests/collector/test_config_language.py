"""The collector config file's and the policy file's own problems (a wrong key, a wrong type, a bad duration, a
missing file, YAML syntax) are said in the reader's language, each still ``FILE: key: expected`` with the file
and key as they are; in English exactly as before. Real ``wardround-collector`` processes (the locale is read
from the environment), one per language and file."""

from __future__ import annotations

import re
from pathlib import Path

from tests.agent.test_cli_language import _english_prose
from tests.collector.test_cli import cli

ZH = {"LANG": "zh_CN.UTF-8"}
SETTINGS = """\
db: ""
listen: {host: "", port: 70000, tls: yes}
workers: many
http: {header_timeout: 5 minutes, idle: 3}
trusted_proxies: [10.0.0.300]
retention: {results: 10d, audit: forever, ticket_events: 30d}
colour: blue
"""
POLICY = """\
default:
  escalate_on_breach: maybe
  reopen_window: soon
  colour: red
  holidays: gone.yaml
"""
EN_SETTINGS = [
    "bad.yaml: colour: unknown key (expected db, listen, workers, max_body_bytes, notifications, policy_file, "
    "sweep_seconds, key_file, http, trusted_proxies, retention)",
    "bad.yaml: db: expected a database URL such as sqlite:///wardround.db",
    "bad.yaml: listen.tls: unknown key (expected host, port)",
    "bad.yaml: listen.host: expected an address such as 127.0.0.1 or 0.0.0.0",
    "bad.yaml: listen.port: expected a port number 1-65535",
    "bad.yaml: workers: expected an integer 1-64",
    "bad.yaml: http.idle: unknown key (expected header_timeout, body_timeout, keep_alive, max_connections)",
    "bad.yaml: http.header_timeout: expected a duration like 10s or 2m, at most 1h (got '5 minutes')",
    "bad.yaml: trusted_proxies[0]: expected a list of proxy addresses or networks such as [127.0.0.1, 10.0.0.0/8] "
    "(got '10.0.0.300')",
    "bad.yaml: retention.results: 10d is shorter than 100d: the quarterly record is built from the raw results of "
    "its quarter after the quarter ends",
    "bad.yaml: retention.ticket_events: 30d is shorter than 400d: the records of a period, up to the annual record "
    "issued after its year ends, show its tickets from their history (never keeps them for ever)",
    "bad.yaml: retention.audit: expected a duration like 30s, 5m, 26h, 7d",
]


def _lines(stderr: str) -> list[str]:
    return [line.removeprefix("wardround-collector: ") for line in stderr.splitlines()]


def _no_prose(lines: list[str], *identifiers: str) -> None:
    """No English words outside the file names, keys, values shown and the operating system's and PyYAML's texts."""
    text = "\n".join(re.sub(r"'[^']*'|\S*[/.]\S*|\[[^]]*\]", " ", line) for line in lines)
    assert _english_prose(text, {*identifiers, "No", "such", "file", "or", "directory"}) == [], lines


def test_a_collector_config_files_problems_are_said_in_chinese_and_in_english_as_before(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(SETTINGS)
    en = cli("token", "list", "--config", "bad.yaml", cwd=tmp_path)
    assert en.returncode == 2 and _lines(en.stderr) == EN_SETTINGS
    zh = cli("token", "list", "--config", "bad.yaml", cwd=tmp_path, env=ZH)
    lines = _lines(zh.stderr)
    assert zh.returncode == 2 and len(lines) == len(EN_SETTINGS)
    assert [line.split(": ")[:2] for line in lines] == [line.split(": ")[:2] for line in EN_SETTINGS]  # file, key
    for said in ("colour: 未知的键（可用的键：db, listen,", "listen.port: 应为 1–65535 之间的端口号",
                 "workers: 应为 1–64 之间的整数",
                 "http.header_timeout: 应为时长，如 10s 或 2m，最长 1h（收到 '5 minutes'）",
                 "retention.results: 10d 短于 100d：季度巡检记录", "retention.ticket_events: 30d 短于 400d：",
                 "（never 表示永久保留）", "retention.audit: 应为时长，如 30s、5m、26h、7d"):
        assert said in zh.stderr, (said, lines)
    _no_prose(lines, "colour", "db", "listen", "tls", "host", "port", "workers", "max_body_bytes", "notifications",
              "policy_file", "sweep_seconds", "key_file", "http", "idle", "header_timeout", "body_timeout",
              "keep_alive", "max_connections", "trusted_proxies", "retention", "results", "rollups", "ticket_events",
              "audit", "never", "minutes", "bad")


def test_a_policy_files_problems_a_missing_file_and_yaml_syntax_are_said_in_chinese(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY)
    (tmp_path / "syntax.yaml").write_text("default: [\n")
    gone = (tmp_path / "gone.yaml").resolve()
    for lang, env in (("zh", ZH), ("en", None)):
        policy = cli("policy", "check", "policy.yaml", cwd=tmp_path, env=env)
        syntax = cli("policy", "check", "syntax.yaml", cwd=tmp_path, env=env)
        missing = cli("policy", "check", "nope.yaml", cwd=tmp_path, env=env)
        settings = cli("token", "list", "--config", "nope.yaml", cwd=tmp_path, env=env)
        assert {policy.returncode, syntax.returncode, missing.returncode, settings.returncode} == {2}
        lines = _lines(policy.stderr + syntax.stderr + missing.stderr + settings.stderr)
        if lang == "en":
            assert lines == [
                "policy.yaml: default.colour: unknown key (expected levels, business_hours, holidays, key_customer, "
                "key_factor, rules, maintenance, agent_silent, reopen_window, escalate_on_breach, onsite, records, "
                "restore_drills, followup)",
                f"{gone}: cannot read the holiday calendar: No such file or directory",
                "policy.yaml: default.reopen_window: expected a duration like 30m, 2h, 1h30m or 3wd (3 working days) "
                "(got 'soon')",
                "policy.yaml: default.escalate_on_breach: expected true or false (got 'maybe')",
                "syntax.yaml: not valid YAML (line 2): expected the node content, but found '<stream end>'",
                "nope.yaml: cannot read the policy file: No such file or directory",
                "nope.yaml: cannot read: No such file or directory"]
            continue
        assert lines[0].startswith("policy.yaml: default.colour: 未知的键（可用的键：levels, business_hours,")
        assert lines[1:] == [
            f"{gone}: 无法读取节假日日历：No such file or directory",
            "policy.yaml: default.reopen_window: 应为时长，如 30m、2h、1h30m 或 3wd（3 个工作日）（收到 'soon'）",
            "policy.yaml: default.escalate_on_breach: 应为 true 或 false（收到 'maybe'）",
            "syntax.yaml: 不是有效的 YAML（第 2 行）：expected the node content, but found '‹stream end›'",
            "nope.yaml: 无法读取策略文件：No such file or directory",
            "nope.yaml: 无法读取：No such file or directory"]


def test_enrol_key_create_echoes_the_expiry_it_refuses_in_the_readers_language(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    assert cli("migrate", "--db", db, cwd=tmp_path).returncode == 0
    args = ("enrol-key", "create", "--site", "s1", "--expires", "5", "--db", db, "--key-file", "k.key")
    zh, en = cli(*args, cwd=tmp_path, env=ZH), cli(*args, cwd=tmp_path)
    assert zh.returncode == en.returncode == 2, (zh.stderr, en.stderr)
    assert zh.stderr.splitlines()[-1] == "wardround-collector: 有效期：应为 1 分钟至 365 天（收到 5 秒）"
    assert en.stderr.splitlines()[-1] == "wardround-collector: expires: expected 1m to 365d (got 5 s)"
