"""The security hygiene and restore drill sections of patrol records, and the annual report's counts of
them and of the customer follow-ups: content in zh_CN and en (Chinese sections carry no English prose),
renderings, and records that still verify."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from collector.policy import Policies, default_policies, load_policies
from collector.records import render
from collector.records.kinds import builder
from collector.records.service import Records
from collector.store import rollups
from collector.store.db import reading
from collector.tickets import Tickets
from tests.collector.hygiene_data import MS_DRILL, PG_DRILL, drills, fill_hygiene
from tests.collector.records_data import DAY, SITE, ZONE, result, store_results

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=ZONE)
# What a Chinese section may hold in Latin letters: identifiers (hosts, accounts, databases, products,
# engines, files, check names), never English words.
IDENTIFIERS = ("his-db-01", "win-his-01", "lis-01", "olduser", "backup", "hisapp", "Guest", "ClamAV",
               "Microsoft Defender", "PostgreSQL", "SQL Server", "pg_hba.conf", "trust", "sa", "his", "HIS",
               "restore_drill", "GiB")


def english_words(cells: list[Any]) -> list[str]:
    """Latin words left in ``cells`` once the identifiers are taken out."""
    found = []
    for cell in cells:
        rest = str(cell)
        for name in sorted(IDENTIFIERS, key=len, reverse=True):
            rest = rest.replace(name, " ")
        found += re.findall(r"[A-Za-z]{2,}", rest)
    return found


def section_text(section: dict[str, Any]) -> list[Any]:
    return [section["title"], section["note"], *section["columns"], *(c for row in section["rows"] for c in row)]


def _section(content: dict[str, Any], key: str) -> dict[str, Any] | None:
    return next((s for s in content["sections"] if s["key"] == key), None)


@pytest.fixture
def records(engine: Any) -> Records:
    fill_hygiene(engine)
    return Records(engine, default_policies(), clock=lambda: NOW.astimezone(UTC))


def test_daily_record_shows_hygiene_per_server_and_aspect_in_chinese_when_the_checks_reported(records):
    rec = records.issue(site=SITE, kind="daily", period={"date": DAY}, actor="li")
    assert rec.language == "zh_CN"
    h = _section(rec.content, "hygiene")
    assert h["title"] == "安全卫生（补丁、杀毒软件、账户）"
    assert h["columns"] == ["服务器", "项目", "结论", "检查情况", "检测时间"]
    assert h["rows"] == [
        ["his-db-01", "系统补丁", "警告",
         "待安装安全更新 3 个，最早的自首次发现起已等待 40天（共 11 个更新待安装）；"
         "上次安装更新在 5天前；已等待重启 35天，已安装的更新尚未生效", "2026-11-22 07:30"],
        ["his-db-01", "杀毒软件", "警告", "ClamAV 病毒库更新于 4天前", "2026-11-22 07:30"],
        ["his-db-01", "本地账户", "异常", "空密码账户 1 个：olduser；密码永不过期的账户 2 个：backup, hisapp",
         "2026-11-22 07:30"],
        ["his-db-01", "数据库账户", "异常", "PostgreSQL pg_hba.conf 第 95 行允许经网络免密码连接（trust）",
         "2026-11-22 07:30"],
        ["lis-01", "杀毒软件", "无数据", "未发现杀毒软件", "2026-11-22 07:30"],
        ["win-his-01", "杀毒软件", "正常", "Microsoft Defender 病毒库更新于 6小时前", "2026-11-22 07:30"],
        ["win-his-01", "本地账户", "异常", "Guest 账户已启用", "2026-11-22 07:30"],
        ["win-his-01", "数据库账户", "警告", "SQL Server sa 账户已启用（登录名：sa）", "2026-11-22 07:30"],
    ]
    assert english_words(section_text(h)) == []
    # the rows of the record name the new checks in Chinese too
    labels = {r["label"] for r in rec.content["rows"] if r["check"] in ("patches", "restore_drill")}
    assert labels == {"系统补丁 security", "系统补丁 last_update", "系统补丁 reboot", f"恢复演练 {PG_DRILL}",
                      f"恢复演练 {MS_DRILL}"}


def test_daily_record_shows_each_drills_last_success_and_the_quarters_promise_when_drills_ran(records):
    rec = records.issue(site=SITE, kind="daily", period={"date": DAY}, actor="li")
    d = _section(rec.content, "drills")
    assert d["title"] == "数据恢复演练"
    assert d["rows"] == [
        ["his-db-01", "his", "2026-10-04 03:00", "95秒", "7 GiB", "0 / 1", "已完成", "异常",
         "2026-11-22 03:00 的演练失败"],
        ["win-his-01", "HIS", "2026-09-10 04:00", "25分钟", "29.8 GiB", "0 / 1", "尚未进行（周期未结束）", "异常",
         "2026-11-22 04:00 的演练失败"],
    ]
    assert d["note"] == "站点策略承诺：每个数据库每季度至少成功恢复演练一次。2026年第4季度：1 / 2 个已完成。"
    assert english_words(section_text(d)) == []
    en = records.issue(site=SITE, kind="daily", period={"date": DAY}, language="en", actor="li")
    d_en = _section(en.content, "drills")
    assert d_en["rows"][1][:7] == ["win-his-01", "HIS", "2026-09-10 04:00", "25 minutes", "29.8 GiB", "0 / 1",
                                   "not yet (period still running)"]
    assert d_en["note"] == ("The site's policy promises a successful restore drill of each database every "
                            "quarter. Q4 2026: 1 of 2 done.")
    h_en = _section(en.content, "hygiene")
    assert h_en["rows"][0][3] == ("3 security update(s) pending, the oldest for 40 days since first seen "
                                  "(11 update(s) pending in all); updates last installed 5 days ago; "
                                  "a reboot pending for 35 days: installed updates are not in effect")
    assert not re.search(r"[\u4e00-\u9fff]", str(section_text(h_en) + section_text(d_en)))


def test_quarterly_record_says_a_promised_drill_was_missed_when_the_quarter_ended_without_a_good_one(records):
    rec = records.issue(site=SITE, kind="quarterly", period={"date": "2026-08-01"}, actor="li")
    assert _section(rec.content, "hygiene") is None  # no hygiene check ran in the third quarter
    d = _section(rec.content, "drills")
    assert [(r[0], r[2], r[5], r[6], r[7]) for r in d["rows"]] == [
        ("his-db-01", "一年内无成功演练", "0 / 1", "未完成", "异常"),
        ("win-his-01", "2026-09-10 04:00", "1 / 1", "已完成", "正常"),
    ]
    assert d["note"].endswith("2026年第3季度：1 / 2 个已完成。")


def test_a_promise_without_any_drill_is_shown_and_no_promise_without_drills_shows_nothing(engine, tmp_path):
    store_results(engine, [result("clinic-01", "disk", "/", 0, datetime(2026, 11, 22, 9, tzinfo=ZONE),
                                  site="clinic"),
                           result("dental-01", "disk", "/", 0, datetime(2026, 11, 22, 9, tzinfo=ZONE),
                                  site="dental")])
    path = tmp_path / "p.yaml"
    path.write_text("sites:\n  dental:\n    restore_drills: off\n", encoding="utf-8")
    recs = Records(engine, load_policies(path), clock=lambda: NOW.astimezone(UTC))
    clinic = recs.issue(site="clinic", kind="daily", period={"date": DAY}, actor="li").content
    d = _section(clinic, "drills")
    assert d["rows"] == [] and d["note"] == ("站点策略承诺：每个数据库每季度至少成功恢复演练一次。"
                                             "本站点尚无恢复演练的结果：请配置 restore_drill 检查。")
    assert _section(clinic, "hygiene") is None
    dental = recs.issue(site="dental", kind="daily", period={"date": DAY}, actor="li").content
    assert _section(dental, "drills") is None


def test_record_with_the_new_sections_verifies_and_renders_them_in_html_csv_and_pdf_when_issued(
        records, tmp_path):
    rec = records.issue(site=SITE, kind="daily", period={"date": DAY}, actor="li")
    signed = records.sign(rec.id, signer="王主任", role="customer", actor="li")
    assert signed.verified and records.verify(rec.id)["verified"] is True
    page = render.html(signed)
    assert 'id="section-hygiene"' in page and 'id="section-drills"' in page
    assert "空密码账户 1 个：olduser" in page and "2026年第4季度：1 / 2 个已完成" in page
    csv_text = render.csv_bytes(signed).decode("utf-8-sig")
    assert "安全卫生（补丁、杀毒软件、账户）" in csv_text and "数据恢复演练" in csv_text
    assert "his-db-01,his,2026-10-04 03:00,95秒,7 GiB,0 / 1,已完成,异常" in csv_text
    from tests.collector.test_records_render import _need_pdf_tools, _pdf_text

    _need_pdf_tools()
    txt = re.sub(r"\s+", "", _pdf_text(render.pdf(signed), tmp_path))
    for words in ("安全卫生", "未发现杀毒软件", "数据恢复演练", "最近一次成功演练", "2026年第4季度"):
        assert words in txt, words


# -- the annual service report -----------------------------------------------------------------

def _followup_year(engine: Any, policies: Policies) -> None:
    """Tickets of 2026 with their follow-ups, through the ledger (see the test below)."""
    box = {"now": datetime(2026, 3, 2, 10, tzinfo=ZONE)}
    ledger = Tickets(engine, policies, clock=lambda: box["now"].astimezone(UTC))

    def ticket(severity: int, opened: datetime, resolved: datetime, summary: str) -> int:
        box["now"] = opened
        t, _ = ledger.open_manual(actor="erin", site=SITE, host="his-db-01", severity=severity, summary=summary,
                                  reported_via="phone")
        box["now"] = resolved
        ledger.resolve(t["id"], "erin")
        return int(t["id"])

    def follow(ticket_id: int, when: datetime, score: int) -> None:
        box["now"] = when
        ledger.follow_up(ticket_id, "erin", satisfaction=score, contact="王主任")

    a = ticket(2, datetime(2026, 3, 2, 9, tzinfo=ZONE), datetime(2026, 3, 2, 10, tzinfo=ZONE), "a")
    follow(a, datetime(2026, 3, 3, 10, tzinfo=ZONE), 5)  # due Thursday 5 March: on time
    b = ticket(2, datetime(2026, 6, 1, 9, tzinfo=ZONE), datetime(2026, 6, 1, 10, tzinfo=ZONE), "b")
    follow(b, datetime(2026, 6, 10, 10, tzinfo=ZONE), 2)  # late, and a complaint (left open)
    ticket(3, datetime(2026, 8, 3, 9, tzinfo=ZONE), datetime(2026, 8, 3, 10, tzinfo=ZONE), "c")  # never called
    ticket(1, datetime(2026, 12, 31, 15, tzinfo=ZONE), datetime(2026, 12, 31, 16, tzinfo=ZONE), "d")  # not due
    late = ticket(3, datetime(2026, 12, 1, 9, tzinfo=ZONE), datetime(2026, 12, 1, 10, tzinfo=ZONE), "e")
    follow(late, datetime(2027, 1, 2, 10, tzinfo=ZONE), 4)  # after the year: not counted in it


def _roll_up(engine: Any) -> None:
    """What the roll-up job (or issuing the record) does first: the annual report reads roll-ups."""
    rollups.refresh(engine, lambda site: ZONE, before=datetime(2027, 1, 1, tzinfo=ZONE))


def test_annual_report_counts_drills_hygiene_and_follow_ups_per_level_when_built(engine):
    fill_hygiene(engine)
    policies = default_policies()
    _followup_year(engine, policies)
    _roll_up(engine)
    with reading(engine) as conn:
        content = builder("annual")(conn, site=SITE, period_start=datetime(2026, 1, 1, tzinfo=ZONE),
                                    period_end=datetime(2027, 1, 1, tzinfo=ZONE), lang="zh_CN",
                                    inspector="张伟", policy=policies.default).to_json()
    f = _section(content, "followups")
    assert f["title"] == "客户回访与满意度"
    assert f["rows"] == [
        ["1 · system down", 1, 0, 0, 0, 1, "—", "—", 0],
        ["2 · general fault", 2, 2, 1, 0, 0, "100.0 %", "3.50", 1],
        ["3 · minor", 2, 0, 0, 2, 0, "0.0 %", "—", 0],  # "c" never called, "e" only after the year
        ["合计", 5, 2, 1, 2, 1, "50.0 %", "3.50", 1],
    ]
    d = _section(content, "drills")
    # the site's first host reported on 2026-09-06: the promise counts Q3 and Q4 only;
    # his-db-01 failed in Q3 and succeeded in Q4, win-his-01 the other way round
    assert d["rows"] == [["his-db-01", "his", 3, 1, 2, 0, "1 / 2", "50.0 %"],
                         ["win-his-01", "HIS", 2, 1, 1, 0, "1 / 2", "50.0 %"]]
    hy = _section(content, "hygiene")
    assert hy["rows"] == [["系统补丁", 1, 1, 2, 3, 0], ["杀毒软件", 3, 1, 2, 3, 0], ["本地账户", 2, 2, 3, 4, 0],
                          ["数据库账户", 2, 2, 2, 3, 0]]
    recs = [r[1] for r in _section(content, "recommendations")["rows"]]
    assert "his-db-01 his：1 个周期未完成承诺的恢复演练（每季度一次）：请安排演练。" in recs
    assert "2 台服务器在期末仍有安全卫生问题（补丁、杀毒软件或账户）：请处理。" in recs
    assert "2 张已解决的故障单未按时回访：请补做回访。" in recs
    for key in ("followups", "drills", "hygiene"):
        assert english_words([c for c in section_text(_section(content, key))
                              if not str(c).startswith(("1 · ", "2 · ", "3 · "))]) == [], key


def test_annual_drill_periods_count_from_the_sites_first_host_when_it_joined_mid_year(engine):
    store_results(engine, drills())
    _roll_up(engine)
    with reading(engine) as conn:
        content = builder("annual")(conn, site=SITE, period_start=datetime(2026, 1, 1, tzinfo=ZONE),
                                    period_end=datetime(2027, 1, 1, tzinfo=ZONE), lang="en", inspector="Zhang",
                                    policy=default_policies().default).to_json()
    d = _section(content, "drills")
    assert [r[6] for r in d["rows"]] == ["1 / 2", "1 / 2"]  # Q3 and Q4: the site was first seen in September
    assert d["note"].startswith("The site's policy promises a successful drill of each database every quarter; "
                                "2 promise periods")


def test_annual_follow_up_section_says_none_is_asked_when_the_policy_is_off(engine, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("default:\n  followup: off\n", encoding="utf-8")
    policy = load_policies(path).default
    with reading(engine) as conn:
        content = builder("annual")(conn, site=SITE, period_start=datetime(2026, 1, 1, tzinfo=ZONE),
                                    period_end=datetime(2026, 1, 1, tzinfo=ZONE) + timedelta(days=365),
                                    lang="en", inspector="Zhang", policy=policy).to_json()
    f = _section(content, "followups")
    assert f["rows"] == [] and f["note"] == "The site's policy asks for no customer follow-ups."


def test_drill_rows_tolerate_results_with_broken_metrics_or_details_when_stored(records, engine):
    bad = result("pacs-01", "restore_drill", "/x/*.dump", 0, datetime(2026, 11, 22, 5, tzinfo=ZONE))
    bad["metrics"], bad["details"] = "not json", "[1, 2]"
    store_results(engine, [bad])
    rec = records.issue(site=SITE, kind="daily", period={"date": DAY}, actor="li")
    row = next(r for r in _section(rec.content, "drills")["rows"] if r[0] == "pacs-01")
    assert row[:5] == ["pacs-01", "/x/*.dump", "2026-11-22 05:00", "", ""]
