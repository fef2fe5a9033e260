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


@pytest.mark.parametrize("build", [agent_parser, collector_parser])
def test_every_option_of_both_programs_says_what_it_does(build) -> None:
    # `run --help` listed --log-level {debug,info,warning,error} and nothing more, in both languages
    bare = [f"{p.prog} {a.option_strings[-1]}" for p in _parsers(build()) for a in p._actions
            if a.option_strings and not a.help and a.help is not argparse.SUPPRESS]
    assert bare == []


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


def test_section_titles_end_with_a_full_width_colon_in_chinese_and_the_agents_usage_names_relay(monkeypatch) -> None:
    """A Chinese help page's section titles (位置参数, 选项) end with "：" like its other lines (argparse writes an
    ASCII colon); the English pages keep theirs. The agent's usage line names every command, ``relay`` too."""
    monkeypatch.setenv("WARDROUND_LANG", "zh_CN")
    for build in (agent_parser, collector_parser):
        pages = [p.format_help() for p in _parsers(build())]
        assert all("\n选项：\n" in page and "\n选项:\n" not in page and "\n位置参数:\n" not in page for page in pages)
    usage = agent_parser().format_usage()
    assert usage.startswith("用法：wardround-agent [-h] [--version] {run,once,check,enrol,relay}")
    monkeypatch.setenv("WARDROUND_LANG", "en")
    page = agent_parser().format_help()
    assert "\noptions:\n" in page and "\npositional arguments:\n" in page and "{run,once,check,enrol,relay}" in page


@pytest.mark.parametrize(("argv", "zh", "en"), [
    (["--a", "1", "--b", "2"], "参数 --b：不能与参数 --a 同时使用", "argument --b: not allowed with argument --a"),
    ([], "参数 --a --b 须给出其一", "one of the arguments --a --b is required"),
    (["--a", "1", "--l"], "参数 --l：至少需要一个值", "argument --l: expected at least one argument"),
    (["--a", "1", "--c", "x"], "参数 --c：无效的选择：'x'（可选：'p', 'q'）",
     "argument --c: invalid choice: 'x' (choose from 'p', 'q')"),
    (["--a", "1", "--n", "x"], "参数 --n：无效的 int 值：'x'", "argument --n: invalid int value: 'x'"),
    (["--a", "1", "--ver"], "选项有歧义：--ver 可能是 --verbose, --version", None),
])
def test_the_rarer_argparse_errors_read_in_chinese_and_in_english_as_before(argv, zh, en, monkeypatch, capsys) -> None:
    """Mutually exclusive options, a required group, nargs, choices, a type, an ambiguous prefix: said in the
    reader's language by ReaderParser (no command of ours has a mutually exclusive group yet: a parser of its own)."""
    from checks.messages.usage import ReaderParser

    def parser() -> ReaderParser:
        p = ReaderParser(prog="wardround-x")
        group = p.add_mutually_exclusive_group(required=True)
        group.add_argument("--a")
        group.add_argument("--b")
        p.add_argument("--l", nargs="+")
        p.add_argument("--c", choices=["p", "q"])
        p.add_argument("--n", type=int)
        p.add_argument("--verbose", action="store_true")
        p.add_argument("--version", action="store_true")
        return p

    for lang, said in (("zh_CN", f"wardround-x：错误：{zh}"), ("en", f"wardround-x: error: {en}")):
        monkeypatch.setenv("WARDROUND_LANG", lang)
        with pytest.raises(SystemExit) as exited:
            parser().parse_args(argv)
        last = capsys.readouterr().err.splitlines()[-1]
        assert exited.value.code == 2
        if en is not None or lang == "zh_CN":
            assert last == said
