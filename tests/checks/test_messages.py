"""checks/messages: every key every check says renders in zh_CN and en (issue 14).

The catalogues have the same keys with the same placeholders; every key a check uses
exists, every catalogue entry is used, every call gives the arguments its template
names; no Chinese template holds English prose; a check module writes no summary or
standard as a literal English string (only ``say(...)``) unless it is in PENDING.
"""

from __future__ import annotations

import ast
import json
import logging
import re
from pathlib import Path

import pytest

import agent
import checks
import collector
from checks.messages import KINDS, placeholders, render, say, text_of
from checks.messages import catalogue as checks_catalogue
from checks.messages.reader import cli_templates
from checks.params import parse_params
from checks.result import Message, Result, Status

ROOTS = (Path(checks.__file__).parent, Path(agent.__file__).parent)
#: the collector's command-line modules, which say ``cli.collector.*`` texts (checks/messages/cli.*.json)
CLI_MODULES = (*(Path(collector.__file__).parent / name for name in (
    "cli.py", "fleet_cli.py", "prune_cli.py", "report_cli.py", "audit.py", "ferry.py", "retention.py",
    "policy/describe.py", "enrol.py",  # enrol.py: its refusals, told by the agent's enrol (``cli.enrol.*``)
    "notify/config.py")),  # the config's ``notifications:`` section (``cli.notify.*``)
    Path(checks.__file__).parents[1] / "deploy" / "demo.py")  # `make demo` (``cli.demo.*``)
# English words a Chinese text may carry: identifiers, units, acronyms (issue 14's "outside identifiers")
IDENTIFIERS = {"CPU", "SQL", "TLS", "SSL", "TCP", "UDP", "ICMP", "DNS", "HTTP", "HTTPS", "SSH", "RMAN", "SMART",
               "KiB", "MiB", "GiB", "TiB", "inode", "ms", "NTP", "SNTP", "WAL", "LSN", "IP", "ID", "PID",
               "ODBC", "SHA", "OK", "Windows", "Linux", "ping", "exit", "agent", "URL", "CA", "RAM", "swap",
               # config keys are identifiers too
               "path", "cron", "name", "cmdline", "host", "port", "UTC", "target", "CHECKSUM", "Result", "server",
               "collector", "false", "wardround", "run", "names", "checks", "automatic", "true", "unit", "masked",
               "failed", "pid", "LoadState", "ActiveState", "systemd", "active", "local_path", "backup_files", "SFTP",
               "pgBackRest", "stanza", "off", "on", "pgbackrest", "spool", "sha256", "etag",
               "info", "archiving", "archive_command", "Server", "ServerName", "local", "sys",
               "MySQL", "Enterprise", "Backup", "mysql", "mysqldump", "mariabackup", "Debian",  # product and tool names
               "Ubuntu", "PowerShell", "Update", "paramiko", "sshd", "ClamAV", "clamd", "clamscan", "freshclam",
               "Defender", "Microsoft", "dsn", "pyodbc", "OpenSSL", "Driver",
               "Security", "Center", "RESTORE", "VERIFYONLY", "HEADERONLY", "custom", "plain", "bak", "gzip", "zip",
               "sa", "root", "trust", "Guest", "Administrators",  # account and group names, an authentication method
               "PostgreSQL", "SQLite", "base64",  # databases, an encoding
               "Wardround", "Prometheus", "Ed25519", "disk", "relay", "manual", "role", "assign", "token"}  # names
# modules that still write some summaries/standards as literal English (the backlog: it only shrinks)
PENDING: set[str] = set()


def catalogue(lang: str) -> dict[str, str]:
    """Every template of ``lang``: the checks' and the command lines' (``cli.*``, checks/messages/cli.*.json)."""
    return {**checks_catalogue(lang), **cli_templates(lang)}


def _sources() -> list[tuple[str, ast.Module]]:
    out = []
    for root in ROOTS:
        for path in sorted(root.rglob("*.py")):
            out.append((f"{root.name}/{path.relative_to(root)}", ast.parse(path.read_text(encoding="utf-8"))))
    out += [(f"{path.parent.name}/{path.name}", ast.parse(path.read_text(encoding="utf-8"))) for path in CLI_MODULES]
    return out


def _keys_of(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _keys_of(node.body) + _keys_of(node.orelse)
    return []


SAYERS = {"say", "tell", "cli_said"}  # a command line's text (checks.messages.reader)


def _calls() -> list[tuple[str, str, set[str] | None]]:
    """Every ``say("key", ...)`` or ``tell("key", ...)``: (where, key, argument names or None when ``**``
    passes more)."""
    out = []
    for where, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in SAYERS:
                names = {k.arg for k in node.keywords if k.arg is not None}
                star = any(k.arg is None for k in node.keywords)
                keys = _keys_of(node.args[0]) if node.args else []
                if node.args and isinstance(node.args[0], ast.JoinedStr):
                    continue  # a family of keys (f"certificate.why.{outcome}"): each is a used key
                assert keys, f"{where}:{node.lineno}: {node.func.id}() needs its key written out (a literal)"
                out += [(f"{where}:{node.lineno}", key, None if star else names) for key in keys]
    return out


def _sample(spec: str) -> object:
    return {"dur": 3600.0, "bytes": 2048, "pct": 41.2, "num": 3, "t": "forecast.full", "msg": Message("forecast.full"),
            "list": [Message("forecast.full"), Message("forecast.not_growing")],
            "words": ["cron.day.mon", "cron.day.tue"],
            "phrases": [Message("forecast.full")]}.get(spec, 1.5 if spec else "x")


def test_both_catalogues_have_the_same_keys_with_the_same_placeholders():
    zh, en = catalogue("zh_CN"), catalogue("en")
    assert sorted(set(zh) ^ set(en)) == []
    assert {k: placeholders(v) for k, v in zh.items()} == {k: placeholders(v) for k, v in en.items()}
    for key, template in en.items():
        for name, spec in placeholders(template).items():
            assert re.fullmatch(r"[a-z0-9_]+", name), (key, name)
            assert spec in KINDS or re.fullmatch(r"[+]?[.0-9]*[dfg]?", spec), (key, name, spec)


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_every_key_renders_with_sample_arguments(lang):
    failed = []
    for key, template in catalogue(lang).items():
        args = {name: _sample(spec) for name, spec in placeholders(template).items()}
        if render(Message(key, args), lang, cli_templates(lang)) is None:
            failed.append(key)
    assert failed == []


def test_every_key_a_check_says_exists_with_its_arguments_and_every_entry_is_used():
    en = catalogue("en")
    calls = _calls()
    assert len(calls) > 20
    missing = [(where, key) for where, key, _ in calls if key not in en]
    assert missing == []
    short = [(where, key, sorted(set(placeholders(en[key])) - names)) for where, key, names in calls
             if names is not None and not set(placeholders(en[key])) <= names]
    assert short == []
    # a key is used when a check says it, or names it as a word (the ``t`` kind)
    constants = {node.value for _, tree in _sources() for node in ast.walk(tree)
                 if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    # ... or builds its name: f"cron.day.{day}" uses every cron.day.* key
    prefixes = tuple(node.values[0].value for _, tree in _sources() for node in ast.walk(tree)
                     if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant)
                     and isinstance(node.values[0].value, str) and node.values[0].value.endswith(".")
                     and node.values[0].value.split(".")[0] in {k.split(".")[0] for k in en})
    unused = sorted(k for k in set(en) - {key for _, key, _ in calls} - constants if not k.startswith(prefixes))
    assert unused == []


#: what a command line's text names as it is: `a command`, an option, a path, file, address or KEY=VALUE,
#: a command of ours with its sub-command and action
LITERAL = re.compile(r"`[^`]*`|(?<![A-Za-z0-9])--?[a-z][a-z0-9-]*|[A-Za-z0-9_$@*./:=+-]*[/.@$=][A-Za-z0-9_$@*./:=+-]+"
                     r"|wardround-(?:agent|collector)(?: [a-z][a-z-]*){0,2}")


def test_no_chinese_template_holds_english_prose():
    prose = {}
    for key, template in catalogue("zh_CN").items():
        # an all-capitals word is an acronym or a protocol's name; a word with "_" is a config key
        text = LITERAL.sub(" ", re.sub(r"\{[^}]*\}", "", template))
        words = {w for w in re.findall(r"[A-Za-z][A-Za-z0-9_]+", text)
                 if not w.isupper() and "_" not in w} - IDENTIFIERS
        if words:
            prose[key] = sorted(words)
    assert prose == {}


#: ASCII ":", ",", "(" or ")" beside a Chinese character or full-width punctuation (spaces between)
_WIDE = r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]"  # a Chinese character or full-width punctuation
HALF_WIDTH = re.compile(rf"(?<={_WIDE}) *[:,()]|[:,()] *(?={_WIDE})")
#: what stays ASCII however it stands: `code`, a JSON example ({{...}} in a template), a config key or a time
#: ("checks:", "08:00"), a value quoted
AS_WRITTEN = re.compile(r"`[^`]*`|\{\{.*?\}\}|[A-Za-z0-9_\]]:|'[^']*'")


def _zh_catalogues() -> dict[Path, dict[str, str]]:
    """Every Chinese catalogue in the tree that people read: the checks' and command lines', the collector's
    records, tickets, notifications and pages, the dashboards'."""
    repo = Path(checks.__file__).parents[1]
    paths = [*repo.glob("checks/messages/*zh_CN.json"), *repo.glob("collector/**/i18n/*zh_CN.json"),
             repo / "dashboards/i18n/zh_CN.json"]
    return {path: json.loads(path.read_text("utf-8")) for path in sorted(paths)}


def test_chinese_templates_use_full_width_punctuation_between_chinese_words():
    # "{file}: " and "KEY: " open a problem line (FILE: key: expected) as they do in English: kept
    found = {}
    for path, zh in _zh_catalogues().items():
        english = json.loads(path.with_name(path.name.replace("zh_CN", "en")).read_text("utf-8"))
        for key, template in zh.items():
            prefix = english.get(key, "").split(": ")[0]
            text = template[len(prefix) + 2:] if template.startswith(f"{prefix}: ") else template
            if HALF_WIDTH.search(AS_WRITTEN.sub(" ", text)):
                found[f"{path.name} {key}"] = template
    assert len(_zh_catalogues()) >= 9 and found == {}


def test_no_english_template_holds_chinese():
    assert {k: v for k, v in catalogue("en").items() if re.search(r"[\u4e00-\u9fff]", v)} == {}


def _literal_texts(tree: ast.Module) -> list[int]:
    """Lines where a summary or standard is written as a literal string or f-string."""
    lines = []
    for node in ast.walk(tree):
        value: ast.expr | None = None
        if isinstance(node, ast.keyword) and node.arg in ("summary", "standard", "reason"):
            value = node.value
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id in ("summary", "standard") for t in targets):
                value = node.value
        while isinstance(value, ast.BinOp | ast.IfExp):  # "a" + f"b", x if c else "y"
            value = value.left if isinstance(value, ast.BinOp) else value.orelse
        if isinstance(value, ast.JoinedStr) or (isinstance(value, ast.Constant) and isinstance(value.value, str)
                                                 and value.value):
            lines.append(value.lineno)
    return lines


def test_checks_write_summaries_and_standards_only_through_message_keys():
    literal = {where: lines for where, tree in _sources() if where.startswith("checks/")
               and (lines := _literal_texts(tree))}
    assert sorted(set(literal) - PENDING) == [], literal
    assert sorted(PENDING - set(literal)) == []  # converted: take it off the backlog


def test_a_said_text_is_the_english_summary_and_travels_as_a_message_on_the_wire():
    r = Result("disk", "/", Status.WARNING, summary=say("disk.used", mount="/", used=85.04, free=2**30, total=2**33),
               standard=say("disk.standard", warn=80, days=30))
    assert r.summary == "/ 85.0 % used, 1 GiB free of 8 GiB" and type(r.summary) is str
    wire = r.to_wire()
    assert wire["message"] == {"key": "disk.used", "args": {"mount": "/", "used": 85.04, "free": 2**30,
                                                            "total": 2**33}}
    back = Result.from_wire({**wire, "site": "s", "host": "h"})
    assert back.message == r.message and back.standard_message == r.standard_message
    assert text_of(back.summary, back.message, "zh_CN") == "/ 已用 85.0 %，总 8 GiB，剩余 1 GiB"
    assert text_of(back.standard, back.standard_message, "zh_CN") == "使用率 < 80 %，写满时间 > 30 天"


def test_nested_messages_render_in_the_readers_language():
    joined = say("results.joined", parts=[say("disk.used", mount="/", used=1, free=1, total=2),
                                          say("disk.full_in", days=2.0, growth=2**20)])
    assert "; full in 2.0 d at 1 MiB/day" in joined
    assert text_of(joined, joined.message, "zh_CN").endswith("；按每天增长 1 MiB 计，2.0 天后写满")


def test_a_result_without_keys_still_travels_and_is_read_back(caplog):
    wire = Result("disk", "/", Status.OK, summary="plain").to_wire()
    assert "message" not in wire and "standard_message" not in wire  # as an agent before issue 14 sends it
    assert Result.from_wire({**wire, "site": "s", "host": "h"}).message is None


@pytest.mark.parametrize(("message", "why"), [
    (Message("no.such.key", {}), "unknown key"),                                   # a newer agent
    (Message("disk.used", {"mount": "/"}), "missing argument"),
    (Message("disk.used", {"mount": "/", "used": "lots", "free": 1, "total": 2}), "ValueError"),
    (Message("disk.used", {"mount": "<script>alert(1)</script>", "used": 1, "free": 1, "total": 2}), "markup"),
])
def test_what_cannot_be_rendered_falls_back_to_the_summary_and_is_logged(message, why, caplog):
    with caplog.at_level(logging.WARNING, logger="checks.messages"):
        assert text_of("the summary", message, "zh_CN") == "the summary"
    assert why in caplog.text


def test_a_catalogue_entry_with_a_wrong_placeholder_falls_back(monkeypatch, caplog):
    broken = {**catalogue("zh_CN"), "disk.full_in": "{dayz:.1f} 天后写满", "forecast.full": "{0} 满"}
    monkeypatch.setattr("checks.messages.catalogue", lambda lang: broken)
    with caplog.at_level(logging.WARNING, logger="checks.messages"):
        assert text_of("fb", Message("disk.full_in", {"days": 1.0, "growth": 1}), "zh_CN") == "fb"
        assert text_of("fb2", Message("forecast.full"), "zh_CN") == "fb2"
    assert caplog.text.count("not rendered") == 2


@pytest.mark.parametrize("bad", [
    {"key": "Bad Key"}, {"key": "a", "args": []}, {"key": "a", "args": {"x": {"y": 1}}},
    {"key": "a", "args": {"x": float("inf")}}, {"key": "a", "extra": 1}, "a",
    {"key": "a", "args": {"x": [[[[[[[[[{"key": "f"}]]]]]]]]]}},
])
def test_a_malformed_message_on_the_wire_is_refused_naming_the_field(bad):
    wire = {**Result("disk", "/", Status.OK, summary="s", site="s", host="h").to_wire(), "message": bad}
    with pytest.raises(ValueError, match="message"):
        Result.from_wire(wire)



def test_an_agent_on_zh_cn_windows_says_keyed_messages_with_the_chinese_values_intact():
    """Issue 14, item 5: the zh-CN console's GBK bytes (code page 936, fixtures) go through the ping check
    to keyed messages; a Chinese process name (a zh-CN Windows HIS client) survives the wire and the
    rendering in both languages."""
    import json
    import subprocess

    from checks import _netcmd, process
    from checks.context import CheckContext
    from checks.ping import PingParams, run
    from tests.checks.test_network_parsers import fixture_text

    def wire_and_back(r: Result) -> Result:
        return Result.from_wire(json.loads(json.dumps(r.with_origin(site="s", host="his-win-01").to_wire(),
                                                      ensure_ascii=False)))

    for name, zh_words in (("ping_zh_dns.txt", "无法解析主机"), ("ping_zh_unreachable.gbk", "4 个“不可达”应答"),
                           ("ping_zh_transmit_failed.txt", "丢包 100 %（4 个中 0 个有应答）")):
        data = fixture_text(name).encode("gbk")

        def fake_run(argv, data=data, **kwargs):  # Windows cannot run here: its captured bytes stand in
            return subprocess.CompletedProcess(argv, 0, stdout=data, stderr=b"")

        def probe_fn(params, fake_run=fake_run):
            return _netcmd.ping(params.target, count=4, interval=1, timeout=1, run=fake_run), "system ping"

        (r,) = run(PingParams(target="his-db-01", raise_after=1), CheckContext(), probe_fn=probe_fn)
        back = wire_and_back(r)
        assert back.message is not None and back.message == r.message, name
        zh = text_of(back.summary, back.message, "zh_CN")
        assert zh_words in zh and zh != back.summary, (name, zh)
        assert text_of(back.summary, back.message, "en") == back.summary
    his = "医保接口.exe"
    (r,) = process.run(parse_params(process.ProcessParams, {"name": his, "min": 2}), CheckContext(),
                       processes=lambda: [process.ProcInfo(4321, his, (f"C:\\医保\\{his}",), 52 * 2**20)])
    back = wire_and_back(r)
    assert back.message.args["verdict"].args["item"] == his
    assert text_of(back.summary, back.message, "zh_CN") == f"{his}：仅运行 1 个，应为 至少 2 个，常驻内存 52 MiB"
    assert text_of(back.summary, back.message, "en") == f"{his}: only 1 running, expected at least 2, 52 MiB resident"
