"""``wardround-collector`` speaks its reader's language (the locale, or ``WARDROUND_LANG``): the fleet,
token, host and user commands' lines and tables, and its errors; the secrets' last lines, ``--json``
and exit codes stay as they are.

One real subprocess proves the locale is read from the environment; the rest run ``main`` in this
process (the same code, without a second of interpreter start each)."""

from __future__ import annotations

import json
import re

import pytest

from collector.cli import main
from tests.agent.test_cli_language import _english_prose
from tests.collector.test_cli import cli

FLEET = "templates:\n  base: [{check: disk, every: 5m}]\nassign:\n  - {templates: [base]}\n"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def db(tmp_path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("LC_ALL", "LC_MESSAGES", "WARDROUND_LANG", "WARDROUND_DB", "WARDROUND_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    monkeypatch.chdir(tmp_path)  # the signing key file is made here
    url = f"sqlite:///{tmp_path / 'c.db'}"
    assert main(["migrate", "--db", url]) == 0
    return url


def test_the_fleet_and_token_commands_speak_chinese_to_a_chinese_reader(db, tmp_path, capsys, monkeypatch):
    capsys.readouterr()
    code, out, err = run(capsys, "token", "create", "--site", "s1", "--host", "db-01", "--db", db)
    said, token = out.strip().splitlines()
    assert code == 0 and token.startswith("wra_")  # the secret alone on the last line, as ever
    assert said == "s1/db-01 的采集代理令牌（只显示这一次；请写入采集代理的 token_file）："
    assert err.strip() == f"数据库：{db}（来自 --db）"
    texts = [said]
    code, out, _ = run(capsys, "host", "list", "--db", db)
    head, row = out.splitlines()
    assert head.split() == ["站点", "主机", "角色", "状态", "最近上报", "代理版本", "配置版本"]
    assert row.split() == ["s1", "db-01", "-", "已注册", "从未上报", "-", "-"]
    code, out, _ = run(capsys, "token", "list", "--db", db)
    assert out.splitlines()[0].split()[:4] == ["编号", "站点", "主机", "状态"] and "有效" in out
    code, out, _ = run(capsys, "token", "list", "--json", "--db", db)
    assert json.loads(out)[0]["state"] == "active"  # what scripts read does not change
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(FLEET)
    code, out, _ = run(capsys, "fleet", "apply", str(fleet), "--db", db)
    assert out.strip() == f"{fleet}：已应用为集中配置第 1 版；采集代理在下次拉取配置时生效（config_every，默认 5m）"
    texts.append(out)
    code, out, _ = run(capsys, "token", "revoke", "--site", "s1", "--host", "db-01", "--db", db)
    assert out.strip() == "已吊销 s1/db-01 的 1 个令牌（编号 1）：此后本数据库的所有采集端一律拒绝（401）"
    texts.append(out)
    code, _, err = run(capsys, "token", "revoke", "--site", "s1", "--host", "db-01", "--db", db)
    assert code == 1 and err.splitlines()[-1] == (
        "wardround-collector: s1/db-01 没有有效的代理令牌（见 wardround-collector token list）")
    code, _, err = run(capsys, "enrol-key", "create", "--site", "s1", "--expires", "soon", "--db", db)
    assert code == 2 and err.splitlines()[-1] == (
        "wardround-collector: --expires：应为时长，如 30s、5m、26h、7d（收到 'soon'）")
    texts.append(err.splitlines()[-1])
    code, _, err = run(capsys, "token", "list", "--site", "Bad Site!", "--db", db)
    assert code == 2 and err.splitlines()[-1] == (
        "wardround-collector: --site：应为 1–64 个字母、数字、“.”、“_”或“-”（收到 'Bad Site!'）")
    fleet.write_text(FLEET.replace("every: 5m", "every: later").replace("check: disk", "check: dsik"))
    code, _, err = run(capsys, "fleet", "apply", str(fleet), "--db", db)
    assert code == 2 and err.splitlines()[-1] == "wardround-collector：共 2 处问题；未应用任何内容"
    assert f"wardround-collector: {fleet}: templates.base[0].every: 应为时长，如 30s、5m、26h、7d（收到 'later'）" \
        in err.splitlines()
    identifiers = {str(fleet), "s1/db-01", "wardround-collector", "token_file", "config_every", "--expires", "'soon'"}
    assert [w for t in texts for w in _english_prose(t, identifiers)] == []
    monkeypatch.setenv("WARDROUND_LANG", "en")  # the override beats the locale
    code, out, _ = run(capsys, "host", "list", "--db", db)
    assert out.splitlines()[0].split() == ["SITE", "HOST", "ROLES", "STATE", "LAST", "SEEN", "AGENT", "CONFIG"]
    assert "never reported" in out and not re.search(r"[\u4e00-\u9fff]", out)


def test_a_chinese_locale_in_the_environment_is_read_by_the_real_command(tmp_path):
    zh = cli("token", "create", "--site", "s", "--host", "h", cwd=tmp_path, env={"LANG": "zh_CN.UTF-8"})
    assert zh.returncode == 2 and "（`wardround-collector migrate` 或 `serve` 会新建一个）" in zh.stderr
    en = cli("token", "create", "--site", "s", "--host", "h", cwd=tmp_path)
    assert en.returncode == 2 and "(`wardround-collector migrate` or `serve` creates a new one)" in en.stderr


@pytest.mark.parametrize(("lang", "state", "said"), [("zh_CN", "current", "最新"), ("zh_CN", "behind", "落后"),
                                                     ("en", "current", "current"), ("en", "behind", "behind")])
def test_host_list_says_whether_a_hosts_config_is_current_in_the_readers_language(
        monkeypatch: pytest.MonkeyPatch, lang: str, state: str, said: str) -> None:
    from collector.fleet_cli import _host_row

    monkeypatch.setenv("WARDROUND_LANG", lang)
    host = {"site": "s1", "host": "db-01", "roles": [], "retired_at": None, "approval": None, "enrolled": True,
            "last_seen": "2026-12-05T20:12:00Z", "agent_version": "0.1.0", "config_version": "v3-4f53cda18c2baa0c",
            "config": state}
    assert _host_row(host)[-1] == f"v3-4f53cda18c2baa0c ({said})"


def test_a_database_that_cannot_be_used_and_a_lone_tls_file_are_said_in_chinese(db, tmp_path, capsys):
    down = "postgresql+psycopg://nobody@127.0.0.1:1/x"  # nothing listens on port 1: refused at once
    code, _, err = run(capsys, "token", "list", "--db", down)
    assert code == 1 and err.splitlines()[-1].startswith(f"wardround-collector: 无法使用数据库 {down}：")
    assert "Connection refused" in err.splitlines()[-1]  # the driver's words stay its own
    code, _, err = run(capsys, "serve", "--db", db, "--tls-cert", str(tmp_path / "c.pem"))
    assert code == 1 and err.splitlines()[-1] == "wardround-collector: --tls-cert 和 --tls-key 须一起使用"


def test_a_missing_signing_key_is_said_in_chinese(db, tmp_path, capsys, monkeypatch):
    missing = tmp_path / "elsewhere.key"
    code, _, err = run(capsys, "key", "show", "--key-file", str(missing))
    assert code == 2 and err.splitlines()[-1] == (
        f"wardround-collector: {missing}：没有签名密钥（用此命令创建：wardround-collector key create --key-file "
        f"{missing}；同一数据库的多个采集端共用一个密钥文件）")
    assert run(capsys, "token", "create", "--site", "s1", "--host", "db-01", "--db", db)[0] == 0  # signs: a key
    signing = ("token", "revoke", "--site", "s1", "--host", "db-01")  # it signs; a list would need no key
    code, _, err = run(capsys, *signing, "--db", db, "--key-file", str(missing))
    assert code == 2 and err.splitlines()[-1].startswith(
        f"wardround-collector: {missing}：没有签名密钥，而此数据库由密钥 ")
    monkeypatch.setenv("WARDROUND_LANG", "en")  # the English line as it always was
    code, _, err = run(capsys, *signing, "--db", db, "--key-file", str(missing))
    assert code == 2 and err.splitlines()[-1].endswith(
        ": copy the key file (and its .retired file) from the collector that signed this database "
        "(wardround-collector key show prints its key id)")


def test_a_port_in_use_is_said_in_chinese(db, capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run(capsys, "serve", "--db", db, "--port", str(port))
    assert code == 1
    assert err.splitlines()[-1] == f"wardround-collector: 无法在 127.0.0.1:{port} 上监听：Address already in use"


def test_a_bad_port_or_workers_is_said_in_chinese(db, capsys, monkeypatch):
    code, _, err = run(capsys, "serve", "--db", db, "--port", "99999", "--workers", "0")
    assert code == 2 and err.splitlines()[-2:] == ["wardround-collector: --port：应为 1–65535 的端口号（收到 99999）",
                                                    "wardround-collector: --workers：应为 1–64 的整数（收到 0）"]
    monkeypatch.setenv("WARDROUND_LANG", "en")
    code, _, err = run(capsys, "serve", "--db", db, "--port", "99999")
    assert code == 2
    assert err.splitlines()[-1] == "wardround-collector: --port: expected a port number 1-65535 (got 99999)"


def test_a_person_made_twice_and_a_token_without_its_host_are_said_in_chinese(db, capsys):
    # `make demo` run a second time, or an administrator repeating yesterday's command; and the --host forgotten
    assert run(capsys, "user", "create", "vera", "--role", "viewer", "--db", db)[0] == 0
    code, _, err = run(capsys, "user", "create", "vera", "--role", "viewer", "--db", db)
    assert (code, err.strip().splitlines()[-1]) == (
        1, "wardround-collector: 已有名为 'vera' 的人员")
    code, _, err = run(capsys, "token", "create", "--site", "s1", "--db", db)
    assert (code, err.strip().splitlines()[-1]) == (
        2, "wardround-collector: token create：需要 --host（站点中继的令牌用 --relay）")


def test_a_relay_bundle_or_revoke_for_no_such_relay_is_said_in_chinese(db, tmp_path, capsys, monkeypatch):
    # a relay's name mistyped: `relay bundle` and `token revoke --relay` named it in English
    code, _, err = run(capsys, "relay", "bundle", "--site", "s1", "--relay", "nobody", str(tmp_path), "--db", db)
    assert (code, err.splitlines()[-1]) == (
        1, "wardround-collector: 站点 s1 没有名为 'nobody' 的中继（用此命令创建："
           "wardround-collector token create --relay）")
    code, _, err = run(capsys, "token", "revoke", "--site", "s1", "--relay", "--host", "nobody", "--db", db)
    assert (code, err.splitlines()[-1]) == (
        1, "wardround-collector: 站点 s1 没有名为 'nobody' 的有效中继（见：wardround-collector host list）")
    monkeypatch.setenv("WARDROUND_LANG", "en")  # the English lines as they always were
    code, _, err = run(capsys, "relay", "bundle", "--site", "s1", "--relay", "nobody", str(tmp_path), "--db", db)
    assert err.splitlines()[-1] == (
        "wardround-collector: no relay 'nobody' of site s1 (wardround-collector token create --relay)")
    code, _, err = run(capsys, "token", "revoke", "--site", "s1", "--relay", "--host", "nobody", "--db", db)
    assert err.splitlines()[-1] == (
        "wardround-collector: no live relay 'nobody' of site s1 (see: wardround-collector host list)")


def test_a_fleet_files_rarer_problems_are_said_in_chinese(db, tmp_path, capsys, monkeypatch):
    # a template name mistyped in assign:, YAML that does not parse: English lines in a Chinese run
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(FLEET.replace("templates: [base]", "templates: [base, nothere]"))
    code, _, err = run(capsys, "fleet", "apply", str(fleet), "--db", db)
    assert (code, err.splitlines()[-1]) == (
        2, f"wardround-collector: {fleet}: assign[0].templates: 没有名为 'nothere' 的模板（已有模板：base）")
    fleet.write_text("templates: [unclosed\n")
    code, _, err = run(capsys, "fleet", "apply", str(fleet), "--db", db)
    assert code == 2 and err.splitlines()[-1].startswith(
        f"wardround-collector: {fleet}: 第 2 行第 1 列：不是有效的 YAML："), err
    monkeypatch.setenv("WARDROUND_LANG", "en")  # the English lines as they always were
    code, _, err = run(capsys, "fleet", "apply", str(fleet), "--db", db)
    assert code == 2 and err.splitlines()[-1].startswith(
        f"wardround-collector: {fleet}: line 2, column 1: not valid YAML: "), err
    fleet.write_text(FLEET.replace("templates: [base]", "templates: [base, nothere]"))
    code, _, err = run(capsys, "fleet", "apply", str(fleet), "--db", db)
    assert err.splitlines()[-1] == (
        f"wardround-collector: {fleet}: assign[0].templates: no template named 'nothere' (templates: base)")


def test_a_fleet_files_shape_problems_are_said_in_chinese(db, tmp_path, capsys, monkeypatch):
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("templates:\n  'bad name': [{check: disk}]\n  empty: []\n"
                     "  db: [{check: mysql, params: {password: x}}]\n"
                     "assign:\n  - 7\n  - {role: 'Bad Role!', templates: []}\n")
    said = {}
    for lang in ("zh_CN", "en"):
        monkeypatch.setenv("WARDROUND_LANG", lang)
        code, _, err = run(capsys, "fleet", "apply", str(fleet), "--db", db)
        assert code == 2
        said[lang] = err
    for zh, en in (
            ("templates.bad name: 应为模板名：1–64 个字母", "templates.bad name: expected a template name of 1-64"),
            ("templates.empty: 应为非空的检查项列表（- {check: disk, every: 5m}）（收到 []）",
             "templates.empty: expected a non-empty list of check entries (- {check: disk, every: 5m}) (got [])"),
            ("templates.db[0].params.password: 密码绝不写进集中配置文件：请改用 password_file",
             "templates.db[0].params.password: a password never goes in the fleet file: name password_file"),
            ("assign[0]: 应为映射，如 {role: his-db, templates: [his-db]}（收到 7）",
             "assign[0]: expected a mapping like {role: his-db, templates: [his-db]} (got 7)"),
            ("assign[1].role: 应为 1–64 个字母", "assign[1].role: expected 1-64 letters"),
            ("assign[1].templates: 应为非空的模板名列表（收到 []）",
             "assign[1].templates: expected a non-empty list of template names (got [])")):
        assert f"{fleet}: {zh}" in said["zh_CN"], said["zh_CN"]
        assert f"{fleet}: {en}" in said["en"], said["en"]
    fleet.write_text("templates: []\nassign: {}\n")
    code, _, err = run(capsys, "fleet", "apply", str(fleet), "--db", db)
    assert f"{fleet}: templates: expected a mapping of template names to lists of check entries (got [])" in err
    assert f"{fleet}: assign: expected a list of rules like {{role: his-db, templates: [his-db]}} (got {{}})" in err
    monkeypatch.setenv("WARDROUND_LANG", "zh_CN")
    code, _, err = run(capsys, "fleet", "apply", str(fleet), "--db", db)
    assert f"{fleet}: templates: 应为模板名到检查项列表的映射（收到 []）" in err, err
    assert f"{fleet}: assign: 应为规则列表，如 {{role: his-db, templates: [his-db]}}（收到 {{}}）" in err, err


@pytest.mark.parametrize(("data", "zh", "en"), [
    (b"- just a list\n", "：顶层应为含 templates: 和 assign: 的映射",
     ": expected a mapping with templates: and assign: at the top"),
    (b"templates: \xff\n", "：不是 UTF-8 文本（第 11 字节处：invalid start byte）",
     ": not UTF-8 text (invalid start byte at byte 11)"),
])
def test_a_fleet_file_that_is_no_fleet_file_is_said_in_chinese(db, tmp_path, capsys, monkeypatch, data, zh, en):
    fleet = tmp_path / "fleet.yaml"
    fleet.write_bytes(data)
    code, _, err = run(capsys, "fleet", "apply", str(fleet), "--db", db)
    assert (code, err.splitlines()[-1]) == (2, f"wardround-collector: {fleet}{zh}")
    monkeypatch.setenv("WARDROUND_LANG", "en")
    code, _, err = run(capsys, "fleet", "apply", str(fleet), "--db", db)
    assert (code, err.splitlines()[-1]) == (2, f"wardround-collector: {fleet}{en}")


CLASH = "templates:\n  a: [{check: disk, every: 5m}]\n  b: [{check: disk, every: 1h}]\nassign:\n"


@pytest.mark.parametrize(("assign", "zh", "en"), [
    ("  - {templates: [a, b]}\n",
     "assign[0]: 每台主机都会得到两个名为 'disk' 的检查（模板 a 和 b）：请给其中一个改名：",
     "assign[0]: a host matching every host would get two checks named 'disk' (templates a and b): give one of "
     "them another name:"),
    ("  - {site: central-hospital, role: his-db, templates: [a, b]}\n",
     "assign[0]: 匹配 site central-hospital, role his-db 的主机会得到两个名为 'disk' 的检查（模板 a 和 b）："
     "请给其中一个改名：",
     "assign[0]: a host matching site central-hospital, role his-db would get two checks named 'disk' (templates a "
     "and b): give one of them another name:"),
    ("  - {role: his-db, templates: [a]}\n  - {role: lis, templates: [b]}\n",
     "assign[0] 和 assign[1]: 同时匹配这两条规则的主机会得到两个名为 'disk' 的检查（模板 a 和 b）：请给其中一个改名：",
     "assign[0] and assign[1]: a host matching both would get two checks named 'disk' (templates a and b): give "
     "one of them another name:"),
], ids=["every-host", "one-rule", "two-rules"])
def test_two_templates_giving_a_host_two_checks_of_one_name_are_said_in_chinese(db, tmp_path, capsys, monkeypatch,
                                                                                assign, zh, en):
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(CLASH + assign)
    code, _, err = run(capsys, "fleet", "apply", str(fleet), "--db", db)
    assert (code, err.splitlines()[-1]) == (2, f"wardround-collector: {fleet}: {zh}")
    monkeypatch.setenv("WARDROUND_LANG", "en")  # the English line as it always was
    code, _, err = run(capsys, "fleet", "apply", str(fleet), "--db", db)
    assert (code, err.splitlines()[-1]) == (2, f"wardround-collector: {fleet}: {en}")


def test_a_bad_public_key_or_key_file_is_said_in_chinese(db, tmp_path, capsys):
    # `record verify --public-key garbage` under LANG=zh_CN said "public key: expected a PEM file ..." in English
    record = tmp_path / "r.json"
    record.write_text("{}")
    code, _, err = run(capsys, "record", "verify", str(record), "--public-key", "garbage")
    assert code == 2 and err.splitlines()[-1] == (
        "wardround-collector: 公钥：应为 PEM 文件或记录上印的 base64 公钥（收到 'garbage'）")
    not_pem = tmp_path / "k.pem"
    not_pem.write_text("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    code, _, err = run(capsys, "record", "verify", str(record), "--public-key", str(not_pem))
    assert code == 2 and err.splitlines()[-1].startswith(f"wardround-collector: {not_pem}：不是 PEM 格式的公钥（")
    key = tmp_path / "open.key"
    assert run(capsys, "key", "create", "--key-file", str(key))[0] == 0
    key.chmod(0o644)
    code, _, err = run(capsys, "key", "show", "--key-file", str(key))
    assert code == 2 and err.splitlines()[-1] == (
        f"wardround-collector: {key}：签名密钥可被他人读取（权限 0644）：chmod 600 {key}")


@pytest.mark.parametrize(("args", "zh", "en"), [
    (("token", "list", "--db", "nonsense"), "不是数据库 URL：'nonsense'", "not a database URL: 'nonsense'"),
    (("token", "list", "--db", "sqlite://"), "SQLite 需要一个文件：sqlite:///path/to/wardround.db",
     "SQLite needs a file: sqlite:///path/to/wardround.db"),
    (("token", "list", "--db", "mysql://x/y"), "不支持的数据库 'mysql'：请用 sqlite:/// 或 postgresql+psycopg://",
     "unsupported database 'mysql': use sqlite:/// or postgresql+psycopg://"),
    (("serve", "--db", "sqlite:///x.db", "--tls-cert", "nope.pem", "--tls-key", "nope.key"),
     "--tls-cert：无法读取 nope.pem", "--tls-cert: cannot read nope.pem"),
], ids=["not-a-url", "sqlite-without-file", "unsupported", "tls-cert"])
def test_a_database_url_or_tls_file_the_collector_cannot_use_is_said_in_chinese(tmp_path, capsys, monkeypatch, args,
                                                                               zh, en):
    for name in ("LC_ALL", "LC_MESSAGES", "WARDROUND_DB", "WARDROUND_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    for lang, expected in (("zh_CN", zh), ("en", en)):
        monkeypatch.setenv("WARDROUND_LANG", lang)
        assert main(list(args)) != 0
        assert capsys.readouterr().err.splitlines()[-1] == f"wardround-collector: {expected}"
