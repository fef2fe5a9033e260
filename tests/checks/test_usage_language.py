"""``--help`` and argparse's usage errors of both programs in the reader's language
(checks/messages/usage.py); the English ones as they were."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

import pytest

from agent.cli import _parser as agent_parser
from collector.cli import _parser as collector_parser
from tests.agent.test_cli_language import _english_prose
from tests.checks.test_messages import LITERAL


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """``parser`` and every sub-command's parser under it."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found += _parsers(sub)
    return found


def _prose(text: str) -> list[str]:
    """English words of ``text`` outside usage lines, options, metavars, choices and literal names."""
    text = "\n".join(line for line in text.splitlines() if not line.startswith(("用法：", "usage:", " " * 20 + "[")))
    text = LITERAL.sub(" ", text)
    text = re.sub(r"\{[a-z,-]+\}|\[[^\]\n]*\]|\b[A-Z][A-Z_-]+\b", " ", text)  # choices, usage parts, metavars
    text = re.sub(r"^ +[a-z][a-z-]*(?= {2,}|$)", " ", text, flags=re.M)  # a sub-command's name in its row
    text = re.sub(r"\b[A-Za-z0-9]*_[A-Za-z0-9_]*\b", " ", text)  # config keys
    return _english_prose(text, {"wardround-agent", "wardround-collector", "Wardround",
                                                   "Prometheus", "Ed25519", "base64", "disk", "relay", "manual",
                                                   "host: NAME", "assign: role", "debug", "info", "warning",
                                                   "error", "create", "verify"})


@pytest.mark.parametrize("build", [agent_parser, collector_parser])
def test_every_help_page_of_both_programs_is_chinese_for_a_chinese_reader(build, monkeypatch) -> None:
    monkeypatch.setenv("WARDROUND_LANG", "zh_CN")
    pages = {p.prog: p.format_help() for p in _parsers(build())}
    assert len(pages) > 5
    assert {prog: words for prog, page in pages.items() if (words := _prose(page))} == {}
    assert all(page.startswith("用法：") and "显示此帮助并退出" in page for page in pages.values())
    monkeypatch.setenv("WARDROUND_LANG", "en")  # the English pages as they were
    english = build().format_help()
    assert english.startswith("usage: ") and "show this help message and exit" in english
    assert not re.search(r"[\u4e00-\u9fff]", "".join(p.format_help() for p in _parsers(build())))


def test_help_keeps_the_option_names_and_fills_in_their_defaults(monkeypatch) -> None:
    monkeypatch.setenv("WARDROUND_LANG", "zh_CN")
    once = next(p for p in _parsers(agent_parser()) if p.prog.endswith(" once")).format_help()
    assert "--config F" in once and "--wait DURATION" in once and "--push" in once
    assert re.search(r"采集代理配置（YAML；默认 \S+agent\.yaml）", once)
    monkeypatch.setenv("WARDROUND_LANG", "en")
    once = next(p for p in _parsers(agent_parser()) if p.prog.endswith(" once")).format_help()
    assert re.search(r"agent config \(YAML; default \S+agent\.yaml\)", once)


@pytest.mark.parametrize(("argv", "said"), [
    (["enrol"], "wardround-agent enrol：错误：缺少必需的参数：--url, --key, --config"),
    (["once", "--bogus"], "wardround-agent：错误：无法识别的参数：--bogus"),
    (["run", "--log-level", "loud"], "wardround-agent run：错误：参数 --log-level：无效的选择：'loud'"
                                     "（可选：'debug', 'info', 'warning', 'error'）"),
    (["once", "--wait"], "wardround-agent once：错误：参数 --wait：需要一个值"),
])
def test_argparse_errors_read_in_chinese_and_exit_2(argv, said, monkeypatch, capsys) -> None:
    monkeypatch.setenv("WARDROUND_LANG", "zh_CN")
    with pytest.raises(SystemExit) as exited:
        agent_parser().parse_args(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.splitlines()[-1] == said and err.startswith("用法：")


def test_a_collector_usage_error_reads_in_chinese_and_in_english_as_before(monkeypatch, capsys) -> None:
    monkeypatch.setenv("WARDROUND_LANG", "zh_CN")
    with pytest.raises(SystemExit):
        collector_parser().parse_args(["serve", "--port", "x"])
    assert capsys.readouterr().err.splitlines()[-1] == (
        "wardround-collector serve：错误：参数 --port：无效的 int 值：'x'")
    monkeypatch.setenv("WARDROUND_LANG", "en")
    with pytest.raises(SystemExit):
        collector_parser().parse_args(["serve", "--port", "x"])
    assert capsys.readouterr().err.splitlines()[-1] == (
        "wardround-collector serve: error: argument --port: invalid int value: 'x'")


def test_the_real_commands_read_the_locale_for_help_and_usage_errors() -> None:
    env = {"PATH": "/usr/bin:/bin", "LANG": "zh_CN.UTF-8"}
    shown = subprocess.run([sys.executable, "-m", "agent.cli", "check", "--help"], capture_output=True, text=True,
                           env=env, check=False)
    assert shown.returncode == 0 and "检查目录中的一项检查，如 disk" in shown.stdout, shown.stderr
    refused = subprocess.run([sys.executable, "-m", "agent.cli", "check"], capture_output=True, text=True, env=env,
                             check=False)
    assert refused.returncode == 2 and refused.stderr.splitlines()[-1] == (
        "wardround-agent check：错误：缺少必需的参数：NAME")
