"""``wardround-agent`` speaks its reader's language: the locale (or ``WARDROUND_LANG``, or Windows'
display language) chooses zh_CN or en; ``--json``, exit codes and identifiers stay as they are.

Real subprocesses as in test_cli.py; the language choice itself is a function, tested with the
environment and Windows' display language given."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest

from agent import Worded
from agent.enrol import EnrolFailed
from checks.catalogue import CATALOGUE
from checks.messages.reader import reader_language, tell, tell_error
from tests.agent.helpers import FakeCollector
from tests.agent.test_cli import agent, config
from tests.checks.test_messages import IDENTIFIERS
from tests.conftest import free_port

ZH = "zh_CN.UTF-8"


@pytest.mark.parametrize(("env", "expected"), [
    ({"LANG": "zh_CN.UTF-8"}, "zh_CN"),
    ({"LANG": "zh_CN.GBK"}, "zh_CN"),
    ({"LANG": "zh_TW.UTF-8"}, "zh_CN"),  # the Chinese we have
    ({"LANG": "C.UTF-8"}, "en"),
    ({"LANG": "POSIX"}, "en"),
    ({"LANG": "de_DE.UTF-8"}, "en"),
    ({}, "en"),
    ({"LANG": "zh_CN.UTF-8", "LC_ALL": "C"}, "en"),  # LC_ALL > LC_MESSAGES > LANG
    ({"LANG": "C", "LC_MESSAGES": "zh_CN.UTF-8"}, "zh_CN"),
    ({"LANG": "C", "LC_MESSAGES": "zh_CN.UTF-8", "LC_ALL": "en_US.UTF-8"}, "en"),
    ({"LANG": "zh_CN.UTF-8", "LC_ALL": ""}, "zh_CN"),  # empty is unset
    ({"LANG": "C.UTF-8", "WARDROUND_LANG": "zh_CN"}, "zh_CN"),  # the override comes first
    ({"LANG": "zh_CN.UTF-8", "WARDROUND_LANG": "en"}, "en"),
    ({"LANG": "zh_CN.UTF-8", "WARDROUND_LANG": "klingon"}, "zh_CN"),  # not a language: the locale decides
])
def test_the_locale_chooses_the_language_and_wardround_lang_overrides_it(env: dict[str, str], expected: str) -> None:
    assert reader_language(env, ui_language=lambda: None) == expected


@pytest.mark.parametrize(("langid", "expected"), [
    (0x0804, "zh_CN"), (0x0404, "zh_CN"), (0x1004, "zh_CN"),  # zh-CN, zh-TW, zh-SG
    (0x0409, "en"), (0x0407, "en"), (None, "en")])  # en-US, de-DE, unreadable
def test_on_windows_without_a_locale_the_display_language_chooses(langid: int | None, expected: str) -> None:
    assert reader_language({}, ui_language=lambda: langid) == expected
    assert reader_language({"LANG": "C"}, ui_language=lambda: 0x0804) == "en"  # a set locale still wins


def test_an_error_reads_in_the_readers_language_and_its_english_text_stays_for_logs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    exc = EnrolFailed("the collector refused the enrolment (HTTP 403): key expired", "cli.agent.enrol_refused",
                      status=403, reason="key expired")
    monkeypatch.setenv("WARDROUND_LANG", "zh_CN")
    assert tell_error(exc) == "采集端拒绝了注册（HTTP 403）：key expired"
    assert tell_error(ValueError("plain")) == "plain"  # no key: its own text
    monkeypatch.setenv("WARDROUND_LANG", "en")
    assert tell_error(exc) == str(exc)
    assert isinstance(exc, Worded) and tell("cli.agent.error", error="x") == "wardround-agent: error: x"


def _english_prose(text: str, identifiers: set[str]) -> list[str]:
    """Words of English outside identifiers (hosts, checks, items, paths, command lines, units)."""
    for name in sorted(identifiers, key=len, reverse=True):
        text = text.replace(name, " ")
    return [w for w in re.findall(r"[A-Za-z][A-Za-z_]+", text) if w not in IDENTIFIERS and not w.isupper()]


def test_once_prints_its_table_in_chinese_for_a_chinese_locale_and_in_english_otherwise(tmp_path: Path) -> None:
    checks = ("checks:\n  - {check: disk, every: 5m, params: {warn: 0, crit: 0, mounts: [/]}}\n"
              "  - {check: uptime, every: 1m}\n")
    cfg = str(config(tmp_path, checks=checks))
    zh, en = agent("once", "--config", cfg, lang=ZH), agent("once", "--config", cfg)
    assert zh.returncode == en.returncode == 2  # exit codes do not depend on the language
    header, disk, uptime = zh.stdout.splitlines()
    assert header.split() == ["主机", "检查", "项目", "状态", "摘要"]
    assert disk.split()[:4] == ["his-db-01", "disk", "/", "严重"] and "已用" in disk
    assert uptime.split()[:4] == ["his-db-01", "uptime", "uptime", "正常"] and "已运行" in uptime
    assert _english_prose(zh.stdout, {"his-db-01", "disk", "uptime"}) == []
    header, disk, _ = en.stdout.splitlines()
    assert header.split() == ["HOST", "CHECK", "ITEM", "STATUS", "SUMMARY"]
    assert disk.split()[:4] == ["his-db-01", "disk", "/", "CRITICAL"] and "% used" in disk
    assert not re.search(r"[\u4e00-\u9fff]", en.stdout + en.stderr)
    # the columns line up on a terminal, where a Chinese character takes two cells
    def cells(text: str) -> int:
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)

    lines = zh.stdout.splitlines()
    starts = {cells(line[:line.index(word)]) for line, word in zip(lines, ("状态", "严重", "正常"), strict=True)}
    assert len(starts) == 1


def test_once_json_is_the_same_wire_form_in_every_language(tmp_path: Path) -> None:
    checks = "checks:\n  - {check: uptime, every: 1m}\n"
    cfg = str(config(tmp_path, checks=checks))
    zh = json.loads(agent("once", "--config", cfg, "--json", lang=ZH).stdout)
    en = json.loads(agent("once", "--config", cfg, "--json").stdout)
    assert zh[0].keys() == en[0].keys() and zh[0]["message"]["key"] == en[0]["message"]["key"] == "uptime.up"
    assert not re.search(r"[\u4e00-\u9fff]", zh[0]["summary"])  # the wire's summary stays the English text


def test_once_push_says_what_was_not_delivered_in_chinese_and_still_exits_4(tmp_path: Path) -> None:
    checks = "checks:\n  - {check: uptime, every: 1m}\n"
    port = free_port()
    cfg = str(config(tmp_path, f"http://127.0.0.1:{port}", checks))
    proc = agent("once", "--config", cfg, "--push", "--wait", "1s", lang=ZH)
    assert proc.returncode == 4
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"未送达：1 条结果中有 1 条留在暂存库 {tmp_path / 'spool.db'} 中，由 `wardround-agent run` "
                           f"继续发送：无法连接采集端 http://127.0.0.1:{port}/api/v1/results：")
    assert "Connection refused" in last  # the operating system's words
    assert "尚未送达：在 --wait 1s 内继续重试（Ctrl-C 可中止；结果留在暂存库中）" in proc.stderr


def test_a_refused_token_is_said_in_chinese_with_what_to_check(tmp_path: Path) -> None:
    collector = FakeCollector().start()
    try:
        refused_in_chinese(tmp_path, collector)
    finally:
        collector.stop()


def refused_in_chinese(tmp_path: Path, collector: FakeCollector) -> None:
    collector.respond = lambda seen: (401, {"detail": "unknown token"})
    cfg = config(tmp_path, collector.url, checks="checks:\n  - {check: uptime, every: 1m}\n")
    proc = agent("once", "--config", str(cfg), "--push", "--wait", "3s", "--json", lang=ZH)
    assert proc.returncode == 4 and json.loads(proc.stdout)[0]["check"] == "uptime"
    assert proc.stderr.strip().splitlines()[-1].endswith(
        "继续发送：采集端拒绝了采集代理令牌（HTTP 401）：请对照 `wardround-collector token create` 检查 "
        "collector.token_file（或 token）")
    assert "the collector refused" not in proc.stderr  # the sender's English log line is not said beside it


def test_config_and_usage_errors_read_in_chinese_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "agent.yaml"
    bad.write_text("site: central-hospital\nhost: his-db-01\nchecks:\n  - {check: dsik, every: 5m}\n"
                   "  - {check: disk, every: 5x, params: {warn: high}}\n")
    proc, known = agent("once", "--config", str(bad), lang=ZH), ", ".join(sorted(CATALOGUE))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"{bad}: checks[0].check: 应为检查目录中的名称：没有名为 'dsik' 的检查（可用的检查：{known}）",
        f"{bad}: checks[1].every: 应为时长，如 30s、5m、26h、7d（收到 '5x'）",
        f"{bad}: checks[1].params.warn: 应为数字（收到 'high'）",
        "wardround-agent：配置有 3 处错误；未启动任何内容"]
    assert agent("once", "--config", str(bad)).stderr.splitlines()[1:3] == [
        f"{bad}: checks[1].every: expected a duration like 30s, 5m, 26h, 7d (got '5x')",
        f"{bad}: checks[1].params.warn: expected a number (got 'high')"]
    proc = agent("once", "--config", str(bad), "--wait", "soon", lang=ZH)
    assert (proc.returncode, proc.stderr.strip()) == (
        2, "wardround-agent：错误：--wait：应为时长，如 30s、5m、26h、7d（收到 'soon'）")
    proc = agent("check", "disk", "--param", "warn", lang=ZH)
    assert (proc.returncode, proc.stderr.strip()) == (
        2, "wardround-agent：错误：--param 'warn'：应为 KEY=VALUE 的形式")
    proc = agent("check", "disk", "--param", "warn=high", "--param", "size=1", lang=ZH)
    assert proc.returncode == 2 and proc.stderr.startswith(
        "wardround-agent：错误：--param warn: 应为数字（收到 'high'）; --param size: 未知的参数（可用的参数：crit, ")
    # a word holding < or > (thresholds the wrong way round, a value typed with them) is said on a terminal,
    # not refused as markup into "cli.agent.error {json}"
    for lang, expected in ((ZH, ["wardround-agent：错误：--param warn: 不能高于 crit（95 > 90）",
                                 "wardround-agent：错误：--param warn: 应为数字（收到 '<5'）"]),
                           ("C.UTF-8", ["wardround-agent: error: --param warn: must not be above crit (95 > 90)",
                                        "wardround-agent: error: --param warn: expected a number (got '<5')"])):
        told = [agent("check", "disk", "--param", "warn=95", "--param", "crit=90", lang=lang),
                agent("check", "disk", "--param", "warn=<5", lang=lang)]
        assert [(p.returncode, p.stderr.strip()) for p in told] == [(2, line) for line in expected]
    proc = agent("check", "dsik", lang=ZH)
    assert proc.returncode == 2
    assert proc.stderr.startswith("wardround-agent：错误：没有名为 'dsik' 的检查（可用的检查：accounts, ")
    proc = agent("check", "dsik")
    assert proc.returncode == 2 and proc.stderr.startswith("wardround-agent: error: unknown check 'dsik' (known: ")


def test_enrols_usage_errors_read_in_chinese_and_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "missing" / "agent.yaml"
    proc = agent("enrol", "--url", "http://127.0.0.1:9", "--key", "wre_a b", "--config", str(cfg), lang=ZH)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == (f"wardround-agent：错误：--key：注册密钥应为一个不含空白的词（wre_...）；"
                                   f"--config：目录 {cfg.parent} 不存在")
    (tmp_path / "agent.yaml").write_text("site: s\n")
    proc = agent("enrol", "--url", "http://127.0.0.1:9", "--key", "wre_x", "--config", str(tmp_path / "agent.yaml"),
                 lang=ZH)
    assert proc.returncode == 2 and proc.stderr.strip() == (
        f"wardround-agent：错误：--config：{tmp_path / 'agent.yaml'} 已存在；"
        "--replace 会重新注册本机（吊销其旧令牌）并覆盖它")


def test_enrol_that_cannot_reach_the_collector_says_so_in_chinese_with_the_same_prefix_as_other_errors(
        tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    proc = agent("enrol", "--url", url, "--key", "wre_x", "--config", str(tmp_path / "agent.yaml"), lang=ZH)
    assert proc.returncode == 1 and not (tmp_path / "agent.yaml").exists()
    assert proc.stderr.startswith(f"wardround-agent：注册：无法连接采集端 {url}/api/v1/enrol：")
    english = agent("enrol", "--url", url, "--key", "wre_x", "--config", str(tmp_path / "agent.yaml"))
    assert english.stderr.startswith(f"wardround-agent: enrol: cannot reach the collector at {url}/api/v1/enrol: ")


def test_once_with_no_checks_anywhere_says_how_to_get_some_in_the_readers_language(tmp_path: Path) -> None:
    # a new user who enrolled before the collector's administrator applied a fleet file got
    # "no checks configured, and none from the collector" and no hint what to do next
    cfg = str(config(tmp_path, checks="checks: []\n"))
    zh, en = agent("once", "--config", cfg, lang=ZH), agent("once", "--config", cfg)
    assert zh.returncode == en.returncode == 2
    assert "wardround-collector fleet apply FILE" in en.stderr and "checks:" in en.stderr
    said = zh.stderr.strip().splitlines()[-1]
    assert "请在此文件中加入 checks:" in said and "wardround-collector fleet apply FILE" in said
    assert _english_prose(said, {cfg, "wardround-agent", "wardround-collector fleet apply FILE", "checks:"}) == []


def test_config_problems_a_new_site_makes_first_read_in_chinese(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # The site forgotten, the token file's path mistyped, the thresholds the wrong way round: a Chinese
    # reader gets each in Chinese (the OS's own error and the path as they are), the English lines unchanged.
    from agent.config import ConfigError, load_config
    from checks.messages.reader import tell_problem

    cfg = tmp_path / "agent.yaml"
    cfg.write_text(f"collector: {{url: 'http://127.0.0.1:1', token_file: {tmp_path / 'agnet.token'}}}\n"
                   "checks:\n  - {check: disk, every: 5m, params: {warn: 95, crit: 90}}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(cfg)
    exc = caught.value
    monkeypatch.setenv("WARDROUND_LANG", "zh_CN")
    assert [tell_problem(line, said) for line, said in zip(exc.errors, exc.said, strict=True)] == [
        f"{cfg}: site: 必填：此主机所属的客户／站点，如 central-hospital",
        f"{cfg}: collector.token_file: 应为可读的文件（No such file or directory: {tmp_path / 'agnet.token'}）",
        f"{cfg}: checks[0].params.warn: 不能高于 crit（95 > 90）"]
    token = tmp_path / "agnet.token"
    assert exc.errors == [
        f"{cfg}: site: required: the customer / site this host belongs to, e.g. central-hospital",
        f"{cfg}: collector.token_file: expected a readable file (No such file or directory: {token})",
        f"{cfg}: checks[0].params.warn: must not be above crit (95 > 90)"]
