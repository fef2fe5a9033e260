"""The reports of ``wardround-collector key``, ``record``, ``audit``, ``policy``, ``import`` and ``prune``, and
their errors, speak the reader's language (``cli.collector.*``, ``cli.policy.*``, ``cli.prune.*`` texts); in
this process (``main``), as tests/collector/test_cli_language.py does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.agent.test_cli_language import _english_prose
from tests.collector import test_cli_language
from tests.collector.conftest import write_bundle
from tests.collector.test_cli_language import run

db = test_cli_language.db  # the fixture: a migrated database, LANG=zh_CN.UTF-8

POLICIES = Path(__file__).resolve().parents[2] / "deploy" / "policies.example.yaml"


def _prose(texts: list[str], *identifiers: str) -> list[str]:
    """English words in ``texts`` outside paths, quoted values, options, hex digests, ids and ``identifiers``."""
    text = "\n".join(texts)
    for name in sorted(identifiers, key=len, reverse=True):
        text = text.replace(name, " ")
    # a key in base64 ("+" splits it into words: one without a digit read as English once in a while)
    text = re.sub(r"[A-Za-z0-9+/]{40,}={0,2}", " ", text)
    text = re.sub(r"(?:[0-9a-f]{4} ){15}[0-9a-f]{4}|\S*/\S*|'[^']*'|(?<![\w-])--?[a-z][\w-]*|\b[\w-]*\d[\w-]*\b"
                  r"|-----BEGIN[\s\S]*?-----END[A-Z ]*-----", " ", text)
    return _english_prose(text, {"wardround-collector", "record", "verify", "key", "create", "import"})


def test_key_record_and_audit_reports_speak_chinese_to_a_chinese_reader(db, tmp_path, capsys, monkeypatch):
    key = str(tmp_path / "k.key")
    code, created, _ = run(capsys, "key", "create", "--key-file", key)
    assert code == 0 and created.startswith(f"签名密钥已写入 {key}（权限 0600；")
    code, rotated, _ = run(capsys, "key", "rotate", "--key-file", key)
    assert code == 0 and "已退役" in rotated and "新密钥已写入" in rotated
    code, shown, _ = run(capsys, "key", "show", "--key-file", key)
    assert code == 0 and re.search(r"^指纹（SHA-256）[0-9a-f ]+$", shown, re.M) and "公钥（base64）" in shown
    public = re.search(r"^公钥（base64）(\S+)$", shown, re.M).group(1)  # type: ignore[union-attr]
    code, empty, _ = run(capsys, "audit", "verify", "--db", db, "--key-file", key)
    assert code == 0 and empty.strip() == "审计日志为空"
    assert run(capsys, "token", "create", "--site", "s1", "--host", "h1", "--db", db, "--key-file", key)[0] == 0
    code, audited, _ = run(capsys, "audit", "verify", "--db", db, "--key-file", key)
    assert code == 0 and audited.startswith("审计日志完好：共 1 条；最新为第 1 条，哈希 ")  # the token's creation
    code, _, missing = run(capsys, "record", "export", "999", "--db", db, "--key-file", key)
    assert code == 1 and missing.splitlines()[-1].startswith("wardround-collector: ") and "999" in missing
    garbage = tmp_path / "r.json"
    garbage.write_text('{"format": "something else"}')
    code, _, refused = run(capsys, "record", "verify", str(garbage), "--public-key", public)
    assert code == 1 and refused.strip() == (
        f"wardround-collector: {garbage}: 不是巡检记录导出文件（应为 \"format\": \"wardround-record-export\"）")
    code, _, unread = run(capsys, "record", "verify", str(tmp_path / "none.json"), "--public-key", public)
    assert code == 1 and unread.strip().startswith(f"wardround-collector: {tmp_path / 'none.json'}：无法读取：")
    texts = [created, rotated, shown, empty, audited, missing.splitlines()[-1], refused, unread]
    prose = _prose(texts, "format", "something", "else", "wardround-record-export", "SHA", public,
                   "No such file or directory")  # the operating system words its own error
    assert prose == [], (prose, texts)
    monkeypatch.setenv("WARDROUND_LANG", "en")
    code, audited, _ = run(capsys, "audit", "verify", "--db", db, "--key-file", key)
    assert code == 0 and audited.startswith("audit log intact: ") and "'audit #'" in audited


def test_policy_import_and_prune_reports_speak_chinese_to_a_chinese_reader(db, tmp_path, capsys):
    code, policy, _ = run(capsys, "policy", "check", str(POLICIES))
    assert code == 0 and policy.startswith(f"{POLICIES}：没有问题")
    assert "  1 级 paralysis：响应 1h，解决 4h（7×24 小时）" in policy.splitlines()
    garbage = tmp_path / "garbage.wrb"
    garbage.write_text("not a bundle\n")
    code, _, refused = run(capsys, "import", str(garbage), "--db", db)
    assert code == 1 and refused.splitlines()[-1] == (
        "garbage.wrb：整包拒收：不是中继数据包（首行应为 'WRB1 <签名>'）")
    code, _, nothing = run(capsys, "import", "--db", db)
    assert code == 2 and nothing.splitlines()[-1] == "wardround-collector: import：请指定数据包文件，或 --watch DIR"
    code, dry, _ = run(capsys, "prune", "--db", db, "--dry-run", "--keep-results", "50d")
    assert code == 0 and "之前开始的原始结果：将删除 0 条" in dry
    assert dry.splitlines()[-2:] == ["已出具的巡检记录：保留",
                                     "不加 --dry-run 时会被拒绝：--keep-results 50d 短于 100d："
                                     "季度巡检记录在季度结束后由该季度的原始结果生成"]
    code, _, short = run(capsys, "prune", "--db", db, "--keep-results", "50d")
    assert code == 2 and short.splitlines()[-1] == (
        "wardround-collector: --keep-results：50d 短于 100d：季度巡检记录在季度结束后由该季度的原始结果生成")
    code, _, bad = run(capsys, "prune", "--db", db, "--keep-results", "soon")
    assert code == 2 and bad.splitlines()[-1] == (
        "wardround-collector: --keep-results：应为时长，如 30s、5m、26h、7d（收到 'soon'）")
    names = {  # as the policies file writes them: level names, terms, checks and items, zones, sites, values
        "system down", "general fault", "working days", "potential paralysis", "paralysis", "degraded",
        "indirect effect", "minor", "mon,tue,wed,thu,fri", "Asia/Shanghai", "quarterly", "handled", "C:*",
        "four-level-hospital", "central-hospital", "disk", "ping", "certificate", "restore_drill", "antivirus",
        "db_accounts", "accounts", "empty_password", "db_backup", "backup_files", "offsite_copy", "agent spool",
        "retention.rollups", "import", "WRB1", "garbage.wrb", "relay_results", "relay_batches", "audit.prune"}
    texts = [policy, refused.splitlines()[-1], nothing.splitlines()[-1], dry, short.splitlines()[-1]]
    prose = _prose(texts, *names)
    assert prose == [], (prose, texts)


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_a_prune_report_logs_in_english_whatever_the_reader_reads(lang, monkeypatch):
    from datetime import UTC, datetime

    from collector.retention import PruneReport

    monkeypatch.setenv("WARDROUND_LANG", lang)
    report = PruneReport(cutoff=datetime(2026, 9, 1, tzinfo=UTC), results=3, batches=1, dry_run=False, freed_pages=2)
    assert "; ".join(report.lines()) == (  # what the maintenance job logs
        "raw results started before 2026-09-01T00:00:00+00:00: removed 3 in 1 batch(es); SQLite pages returned "
        "to the file system: 2; roll-ups: removed 0 hour row(s) (with the raw results), 0 day row(s) (older than "
        "retention.rollups); issued records: kept")


def test_import_of_a_mistyped_path_imports_nothing_and_records_no_refused_bundle(db, tmp_path, capsys):
    # /media/usb/bundel-0001.wrb typed by hand: not a forged bundle for the log, the audit log and
    # wardround_ferry_bundles_total{outcome="refused"} (an alert), but a usage error; a folder is not a bundle either
    from sqlalchemy import create_engine

    from collector.store.relays import bundle_counts

    garbage = tmp_path / "garbage.wrb"
    garbage.write_text("not a bundle\n")
    code, _, err = run(capsys, "import", str(garbage), str(tmp_path / "bundel-0001.wrb"), "--db", db)
    assert code == 2 and err.splitlines()[-1] == (
        f"wardround-collector: import：{tmp_path / 'bundel-0001.wrb'} 不是文件（未导入任何数据包）")
    code, _, err = run(capsys, "import", str(tmp_path), "--db", db)
    assert code == 2 and err.splitlines()[-1] == f"wardround-collector: import：{tmp_path} 不是文件（未导入任何数据包）"
    engine = create_engine(db)
    with engine.connect() as conn:
        assert bundle_counts(conn) == (0, 0)  # not even garbage.wrb: nothing was started
    engine.dispose()


@pytest.mark.parametrize(("lang", "said"), [("en", "record 3 written to r.json; check it with: "),
                                            ("zh_CN", "巡检记录 3 已写入 r.json；用此命令核验：")])
def test_an_export_without_a_signing_key_names_the_key_to_use_in_the_readers_words(lang, said, monkeypatch, caplog):
    """A record stored before keyed signatures has no key in its export: the line names where the key comes
    from (its placeholder once held '<...>', which the messages refuse as markup: a raw key was printed)."""
    from checks.messages.reader import tell

    monkeypatch.setenv("WARDROUND_LANG", lang)
    line = tell("cli.collector.record_written", id=3, file="r.json",
                command="wardround-collector record verify r.json --public-key",
                public_key=tell("cli.collector.public_key_placeholder"))
    assert line.startswith(f"{said}wardround-collector record verify r.json --public-key KEY")
    assert "key show" in line and "not rendered" not in caplog.text


def test_a_token_rotated_behind_a_file_gateway_says_to_carry_it_by_hand(db, tmp_path, capsys, monkeypatch):
    # behind a 网闸 an agent cannot fetch its successor (its relay never reaches the collector): after the
    # grace it met 401 at the relay and its results waited in its spool, while rotate had said "the agent
    # fetches this one itself"
    key = str(tmp_path / "k.key")
    for site, host in (("s1", "his-db"), ("s2", "lis-db")):
        assert run(capsys, "token", "create", "--site", site, "--host", host, "--db", db, "--key-file", key)[0] == 0
    code, made, _ = run(capsys, "token", "create", "--relay", "--site", "s1", "--host", "front-01", "--db", db,
                        "--key-file", key)
    assert code == 0 and made.strip().splitlines()[-1].startswith("wrr_")
    bundle = write_bundle(tmp_path, made.strip().splitlines()[-1], "s1", [])
    assert run(capsys, "import", str(bundle), "--db", db, "--key-file", key)[0] == 0
    code, said, _ = run(capsys, "token", "rotate", "--site", "s1", "--host", "his-db", "--db", db, "--key-file", key)
    head, token = said.strip().splitlines()
    assert code == 0 and token.startswith("wra_")
    assert "经文件摆渡" in head and "front-01" in head and "会在此之前自行取回" not in head, head
    assert "wardround-collector relay bundle --site s1 --relay front-01" in head
    monkeypatch.setenv("WARDROUND_LANG", "en")
    code, said, _ = run(capsys, "token", "rotate", "--site", "s2", "--host", "lis-db", "--db", db, "--key-file", key)
    assert code == 0 and "the agent fetches this one itself" in said  # a site without a gateway: as before
    code, said, _ = run(capsys, "token", "rotate", "--site", "s1", "--host", "his-db", "--db", db, "--key-file", key)
    assert code == 0 and "file gateway" in said and "fetches this one itself" not in said, said


def test_token_rotate_help_says_a_gateway_agent_cannot_fetch_its_token(capsys, monkeypatch):
    # the help said "the agent fetches the new one itself" with no exception, untrue behind a file gateway
    for lang, said in (("zh_CN", "网闸"), ("en", "file gateway")):
        monkeypatch.setenv("WARDROUND_LANG", lang)
        with pytest.raises(SystemExit):
            run(capsys, "token", "rotate", "--help")
        page = " ".join(capsys.readouterr().out.split())  # argparse wraps the description
        assert said in page and "relay bundle" in page, page


def test_a_database_migrated_by_a_newer_collector_is_named_not_a_traceback(db, capsys, monkeypatch):
    # an older collector restarted during a rolling upgrade (docs/deploy.md: one at a time), or rolled back:
    # alembic's "Can't locate revision identified by '0099'" came out as a traceback from every command
    from sqlalchemy import create_engine, text

    from collector.store.migrate import head_revision

    engine = create_engine(db)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    for command in (["host", "list"], ["migrate"]):
        code, _, err = run(capsys, *command, "--db", db)
        assert code == 1 and "Traceback" not in err, err
        assert err.splitlines()[-1] == (f"wardround-collector: 数据库 {db} 的表结构是第 0099 版，比本采集端所知的"
                                        f"（第 {head_revision()} 版）新：请升级本采集端（docs/deploy.md，"
                                        f"“Upgrading”），不要降级数据库"), err
    monkeypatch.setenv("WARDROUND_LANG", "en")
    code, _, err = run(capsys, "host", "list", "--db", db)
    assert code == 1 and err.splitlines()[-1] == (
        f"wardround-collector: the database {db} has schema version 0099, newer than this collector knows "
        f"({head_revision()}): upgrade this collector (docs/deploy.md, \"Upgrading\"); never downgrade a database")


def test_a_sync_bundle_fed_to_import_is_named_as_one(db, tmp_path, capsys):
    # the gateway carried a .wrs (collector → relay) the wrong way: "not a Wardround bundle (expected a first
    # line 'WRB1 …')" sent the operator hunting for corruption; it is refused as before, but named
    key = str(tmp_path / "k.key")
    assert run(capsys, "token", "create", "--relay", "--site", "s1", "--host", "front-01", "--db", db,
               "--key-file", key)[0] == 0
    assert run(capsys, "relay", "bundle", "--site", "s1", "--relay", "front-01", str(tmp_path), "--db", db,
               "--key-file", key)[0] == 0
    (sync,) = tmp_path.glob("*.wrs")
    code, _, refused = run(capsys, "import", str(sync), "--db", db, "--key-file", key)
    assert code == 1 and refused.splitlines()[-1] == (
        f"{sync.name}：整包拒收：这是采集端发往中继收件箱的同步包（.wrs），不是中继的数据包：网闸应把它带往中继一侧")
