"""The fleet's subcommands of ``wardround-collector`` as a person runs them.

What each subcommand does and prints, run by the command's ``main`` in this process with the
environment a process would get (``in_process``: about 1 s less each, 30-odd commands here), as
test_cli_language.py does; the same subcommands run as real processes in test_cli.py (the list
commands, fleet show, token and user create).
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.collector.test_cli import in_process as cli

FLEET = """
templates:
  base: [{check: disk, every: 5m, params: {warn: 80, crit: 90}}]
  his-db: [{check: system, every: 1m}]
assign:
  - {templates: [base]}
  - {role: his-db, templates: [his-db]}
"""


def last(out) -> str:
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture
def db(tmp_path, sqlite_template):
    """A migrated SQLite database (a copy of the session's template: `migrate` itself is tested in test_cli.py)."""
    shutil.copyfile(sqlite_template, tmp_path / "c.db")
    return f"sqlite:///{tmp_path / 'c.db'}"


def test_keys_hosts_tokens_and_people_are_listed_and_changed_from_the_command_line(db, tmp_path):
    key = last(cli("enrol-key", "create", "--site", "s1", "--role", "his-db", "--uses", "3", "--db", db))
    assert key.startswith("wre_")
    listed = json.loads(cli("enrol-key", "list", "--json", "--db", db).stdout)
    assert [(k["site"], k["roles"], k["uses"], k["max_uses"], k["state"]) for k in listed] == [
        ("s1", ["his-db"], 0, 3, "usable")]
    assert key not in cli("enrol-key", "list", "--db", db).stdout
    token = last(cli("token", "create", "--site", "s1", "--host", "db-01", "--db", db))
    table = cli("host", "list", "--db", db).stdout
    assert "db-01" in table and "never reported" in table and "enrolled" in table
    hosts = json.loads(cli("host", "list", "--json", "--db", db).stdout)
    assert hosts[0]["never_reported"] is True
    tokens = cli("token", "list", "--db", db)
    assert "db-01" in tokens.stdout and "active" in tokens.stdout and token not in tokens.stdout
    rotated = last(cli("token", "rotate", "--site", "s1", "--host", "db-01", "--grace", "2h", "--db", db))
    assert rotated.startswith("wra_") and rotated != token
    assert sorted(t["state"] for t in json.loads(cli("token", "list", "--json", "--db", db).stdout)) == [
        "active", "rotating"]
    assert "revoked 2 token(s)" in cli("token", "revoke", "--site", "s1", "--host", "db-01", "--db", db).stdout
    missing = cli("token", "revoke", "--site", "s1", "--host", "db-01", "--db", db)
    assert missing.returncode == 1 and "no live agent token for s1/db-01" in missing.stderr
    assert "retired" in cli("host", "retire", "--site", "s1", "--host", "db-01", "--db", db).stdout
    assert json.loads(cli("host", "list", "--json", "--db", db).stdout) == []
    assert "db-01" in cli("host", "list", "--all", "--db", db).stdout
    assert "revoked" in cli("enrol-key", "revoke", "1", "--db", db).stdout
    assert cli("enrol-key", "revoke", "9", "--db", db).returncode == 1

    person = last(cli("user", "create", "vera", "--role", "viewer", "--db", db))
    again = last(cli("user", "token", "vera", "--db", db))
    assert again.startswith("wru_") and again != person
    assert "vera" in cli("user", "disable", "vera", "--db", db).stdout
    users = json.loads(cli("user", "list", "--json", "--db", db).stdout)
    assert users == [{**users[0], "name": "vera", "role": "viewer", "state": "disabled"}]
    assert cli("user", "disable", "nobody", "--db", db).returncode == 1


def test_fleet_apply_and_show_and_a_bad_file_exits_2_with_every_problem(db, tmp_path):
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(FLEET)
    assert "applied as fleet version 1" in cli("fleet", "apply", str(fleet), "--db", db).stdout
    assert "unchanged: it is fleet version 1" in cli("fleet", "apply", str(fleet), "--db", db).stdout
    shown = cli("fleet", "show", "--db", db).stdout
    assert shown.startswith("# fleet version 1") and "his-db" in shown
    host = cli("fleet", "show", "--site", "s1", "--host", "x", "--role", "his-db", "--db", db).stdout
    assert "templates base, his-db" in host and "check: system" in host
    fleet.write_text(FLEET.replace("warn: 80", "warn: high").replace("every: 1m", "every: later"))
    bad = cli("fleet", "apply", str(fleet), "--db", db)
    assert bad.returncode == 2
    assert f"{fleet}: templates.base[0].params.warn: expected a number (got 'high')" in bad.stderr
    assert f"{fleet}: templates.his-db[0].every: expected a duration" in bad.stderr
    assert "2 problems; nothing was applied" in bad.stderr and "Traceback" not in bad.stderr
    assert cli("fleet", "apply", str(tmp_path / "none.yaml"), "--db", db).returncode == 2
    assert cli("fleet", "show", "--host", "x", "--db", db).returncode == 2  # --host needs --site


def test_fleet_show_for_a_host_not_enrolled_says_so_and_shows_what_it_would_get(db, tmp_path):
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(FLEET)
    cli("fleet", "apply", str(fleet), "--db", db)
    typo = cli("fleet", "show", "--site", "s1", "--host", "nosuch", "--db", db)
    assert typo.returncode == 0 and "templates base" in typo.stdout and "check: disk" in typo.stdout
    assert typo.stderr.splitlines()[-1] == (
        "wardround-collector: s1/nosuch is not enrolled (not in wardround-collector host list --site s1): "
        "showing what it would get once enrolled with roles none")
    zh = cli("fleet", "show", "--site", "s1", "--host", "nosuch", "--role", "his-db", "--db", db,
             env={"LANG": "zh_CN.UTF-8"})
    assert zh.returncode == 0 and "check: system" in zh.stdout
    assert "s1/nosuch 尚未注册" in zh.stderr and "以角色 his-db 注册后" in zh.stderr
    last(cli("token", "create", "--site", "s1", "--host", "db-01", "--db", db))
    known = cli("fleet", "show", "--site", "s1", "--host", "db-01", "--role", "his-db", "--db", db)
    assert known.returncode == 0 and "not enrolled" not in known.stderr and "templates base, his-db" in known.stdout


@pytest.mark.parametrize("args", [
    ["enrol-key", "create", "--site", "bad site"],
    ["enrol-key", "create", "--site", "s", "--expires", "soon"],
    ["enrol-key", "create", "--site", "s", "--uses", "0"],
    ["token", "rotate", "--site", "s", "--host", "h", "--grace", "forever"],
])
def test_a_bad_argument_value_is_a_usage_error_exit_2(db, args):
    out = cli(*args, "--db", db)
    assert out.returncode == 2 and "Traceback" not in out.stderr and out.stderr.strip()


@pytest.mark.parametrize("command", ["token", "host", "enrol-key"])
def test_a_list_for_a_site_that_cannot_exist_is_a_usage_error_when_the_name_is_malformed(db, command):
    out = cli(command, "list", "--site", "Bad Site!", "--db", db)  # was an empty table and exit 0
    assert out.returncode == 2, out.stdout
    assert out.stderr.splitlines()[-1] == (
        "wardround-collector: --site: expected 1-64 letters, digits, '.', '_' or '-' (got 'Bad Site!')")
    assert cli(command, "list", "--site", "no-such-site", "--db", db).returncode == 0  # well-formed: empty


def test_the_lists_show_times_as_the_ticket_texts_do_and_a_tokens_granted_hosts_by_name(db):
    # a person reads "2026-12-06 10:30 (Asia/Shanghai)", not 2026-12-06T02:30:11.643387Z; --json keeps ISO
    import re

    assert cli("token", "create", "--site", "s1", "--host", "agent-01", "--also-host", "sw-01",
               "--also-host", "nas-01", "--db", db).returncode == 0
    assert cli("token", "create", "--site", "s1", "--host", "db-01", "--db", db).returncode == 0
    minute = r"\d{4}-\d\d-\d\d \d\d:\d\d \(Asia/Shanghai\)"
    rows = [line.split("  ") for line in cli("token", "list", "--db", db).stdout.splitlines()[1:]]
    cells = [[c.strip() for c in row if c.strip()] for row in rows]
    assert [(c[2], c[-1]) for c in cells] == [("agent-01", "nas-01,sw-01"), ("db-01", "-")]
    assert all(re.fullmatch(minute, c[4]) for c in cells), cells
    listed = json.loads(cli("token", "list", "--json", "--db", db).stdout)
    assert [t["also_hosts"] for t in listed] == [["nas-01", "sw-01"], []]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", t["created_at"]) for t in listed)
    last(cli("user", "create", "vera", "--role", "viewer", "--db", db))
    assert re.search(minute, cli("user", "list", "--db", db).stdout)


def test_host_list_says_when_a_host_was_last_seen_in_the_collectors_zone(monkeypatch):
    from collector.fleet_cli import _host_row

    monkeypatch.setenv("WARDROUND_LANG", "en")
    host = {"site": "s1", "host": "db-01", "roles": [], "retired_at": None, "approval": None, "enrolled": True,
            "last_seen": "2026-12-05T20:12:00.861519Z", "agent_version": "0.1.0", "config_version": None,
            "config": "none"}
    assert _host_row(host)[4] == "2026-12-06 04:12 (Asia/Shanghai)"
    assert _host_row({**host, "last_seen": None})[4] == "never reported"
    monkeypatch.setenv("WARDROUND_LANG", "zh_CN")
    assert _host_row({**host, "last_seen": None})[4] == "从未上报"


def test_the_admin_page_and_the_user_list_say_one_moment_the_same_way(db):
    # One time formatter (collector.messages.local_moment): the page says the minute and names its zone once,
    # in the footer; the command line names the zone in each cell.  Same minute, same zone, same digits.
    import re

    from fastapi.testclient import TestClient

    from collector.app import create_app
    from collector.config import Settings

    token = last(cli("user", "create", "ada", "--role", "admin", "--db", db))
    [cli_row] = [line for line in cli("user", "list", "--db", db).stdout.splitlines() if "ada" in line]
    [said] = re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d \([\w/]+\)", cli_row)
    with TestClient(create_app(Settings(db_url=db))) as client:
        assert client.post("/login", data={"token": token, "next": "/admin"},
                           follow_redirects=False).status_code == 303
        for lang, footer in (("en", r"Times are shown in ([\w/]+)\."), ("zh_CN", r"时间均按 ([\w/]+) 显示。")):
            page = client.get(f"/admin?lang={lang}")
            assert page.status_code == 200, page.text[:300]
            [row] = [r for r in re.findall(r"<tr>.*?</tr>", page.text, re.S) if "<td>ada</td>" in r]
            [minute] = re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d", row)
            [zone] = re.findall(footer, page.text)
            assert f"{minute} ({zone})" == said == f"{minute} (Asia/Shanghai)"
