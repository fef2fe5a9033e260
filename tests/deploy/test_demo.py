"""``make demo`` (deploy/demo.py) holds the port it chooses until the collector serves on it."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path
from types import ModuleType

DEMO = Path(__file__).resolve().parents[2] / "deploy" / "demo.py"


def _demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("wardround_demo", DEMO)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_port_is_held_from_the_moment_it_is_chosen_when_picked():
    with _demo().listen(0) as chosen:
        port = chosen.getsockname()[1]
        with socket.socket() as other:  # a program racing for the same port loses
            try:
                other.bind(("127.0.0.1", port))
            except OSError:
                pass
            else:
                raise AssertionError(f"port {port} was free again after the demo chose it")
        assert chosen.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)


def test_demo_takes_another_port_when_the_preferred_one_is_bound_but_not_listening():
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))  # bound, not listening yet: a connect() would say "free"
        taken = squatter.getsockname()[1]
        with _demo().listen(taken) as chosen:
            assert chosen.getsockname()[1] != taken


def test_demo_names_a_tickets_check_and_item_once_when_its_summary_starts_with_them(monkeypatch):
    monkeypatch.setenv("WARDROUND_LANG", "en")
    line = _demo().ticket_line
    monitoring = {"id": 1, "severity": 2, "host": "vm", "check": "backup_files", "item": "ITEM",
                  "summary": "backup_files ITEM: no backup since 2026-12-04", "response_due": "2026-12-05T16:00:00Z"}
    assert line(monitoring) == ("#1 severity 2 vm backup_files ITEM: no backup since 2026-12-04; "
                                "respond by 2026-12-06 00:00 (Asia/Shanghai)")
    by_hand = {**monitoring, "summary": "the UPS beeps"}  # a summary without them keeps them in front
    assert line(by_hand) == ("#1 severity 2 vm backup_files ITEM: the UPS beeps; "
                             "respond by 2026-12-06 00:00 (Asia/Shanghai)")


def test_demo_says_a_ticket_and_its_times_in_chinese_to_a_chinese_reader(monkeypatch):
    monkeypatch.setenv("WARDROUND_LANG", "zh_CN")
    demo = _demo()
    ticket = {"id": 1, "severity": 2, "host": "vm", "check": "system", "item": "swap",
              "summary": "system swap: no swap configured", "response_due": "2026-12-05T16:00:00Z"}
    opened_by = {"host": "vm", "check": "system", "item": "swap", "message": {"key": "system.no_swap", "args": {}}}
    assert demo.ticket_line(ticket, [opened_by]) == (
        "#1 2 级 vm system swap: 未配置交换空间；须在 2026-12-06 00:00 (Asia/Shanghai) 前响应")
    assert demo.moment(None) == "从未" and demo.status_word(None) == "尚无" and demo.status_word(2) == "严重"
    monkeypatch.setenv("WARDROUND_LANG", "en")
    assert demo.moment(None) == "never" and demo.status_word(2) == "CRITICAL"


def test_demo_issues_the_record_of_the_day_the_collector_is_in_not_the_machines_utc_day():
    # 20:00 UTC is already tomorrow 04:00 in the demo collector's calendar zone (Asia/Shanghai): the patrol
    # it just stored belongs to that day, and yesterday's record would say "no servers, 0 items".
    from datetime import UTC, datetime

    assert _demo().record_day(datetime(2026, 12, 5, 20, 0, tzinfo=UTC)) == "2026-12-06"
    assert _demo().record_day(datetime(2026, 12, 5, 15, 59, tzinfo=UTC)) == "2026-12-05"


def test_demo_run_again_in_the_same_directory_gives_its_engineer_a_new_token(tmp_path, monkeypatch):
    # ./demo is kept between runs (its key, database and spool): the second `make demo` (say in the
    # other language) finds demo-engineer made already and must not stop with a traceback.
    import subprocess
    import sys

    collector = str(Path(sys.executable).parent / "wardround-collector")
    db = f"sqlite:///{tmp_path / 'c.db'}"
    monkeypatch.setenv("WARDROUND_KEY_FILE", str(tmp_path / "c.key"))
    subprocess.run([collector, "migrate", "--db", db], check=True, capture_output=True)
    demo = _demo()
    first = demo.engineer_token(collector, db)
    second = demo.engineer_token(collector, db)
    assert first.startswith("wru_") and second.startswith("wru_") and first != second


def test_demo_shows_the_verify_command_with_the_real_public_key_of_the_record(tmp_path):
    # a new user copies the demo's "verify" line and runs it: it must carry the key `record export` prints
    # (the one that signed the record), never a placeholder to fill in
    import shlex

    from collector.keys import create_key, load_keyring

    key = tmp_path / "c.key"
    create_key(key)
    public = load_keyring(str(key)).public
    line = _demo().verify_command("/bin/wardround-collector", 7, "sqlite:///x.db", key, public.key_id)
    export, verify = line.split(" && ")
    assert shlex.split(export)[1:4] == ["record", "export", "7"]
    assert shlex.split(verify)[-2:] == ["--public-key", public.base64] and "<" not in line


def test_demo_says_where_the_schema_stands_without_alembics_log_of_each_migration(tmp_path, monkeypatch, capsys):
    # the first screen of `make demo` was twenty "INFO alembic.runtime.migration: Running upgrade ..." lines,
    # in English under LANG=zh_CN too
    import sys

    monkeypatch.setenv("WARDROUND_LANG", "zh_CN")
    db = f"sqlite:///{tmp_path / 'c.db'}"
    _demo().migrate(str(Path(sys.executable).parent / "wardround-collector"), db)
    out, err = capsys.readouterr()
    assert out == f"数据库 {db} 已是最新的表结构\n" and "alembic" not in out + err
