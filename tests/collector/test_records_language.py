"""Issue 14's "done when": a record speaks its reader's language end to end.

Real checks (with their seams: a fake filesystem list, an empty process table, a fake ping
probe; a real refused port, a real stale backup file, a real system check) produce keyed
results; they go through the HTTP ingest (which opens backup tickets); a zh_CN and an en
daily record are issued; their HTML, PDF text (pdftotext) and CSV are read back.  The zh_CN
record holds no English prose outside identifiers; the en record holds no Chinese outside
names.  Bad message input (a wrong placeholder, missing arguments, markup) renders the
fallback: never a failed record or page.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from checks import backup_files, certificate, disk, ping, port, process, system
from checks._network import PingStats
from checks.context import CheckContext
from checks.db_backup.judge import Rule, Seen, judge_backup
from checks.messages import catalogue, say
from checks.params import parse_params
from checks.result import Result, Status, new_result_id
from collector.app import create_app
from collector.auth import create_agent_token, create_user
from collector.config import Settings
from collector.policy import default_policies, load_policies
from collector.records import render
from collector.records.service import Records
from collector.store.tickets import TicketFilter
from tests.collector.test_records_render import _BodyText, _html_text, _need_pdf_tools, _pdf_text, _squash

SITE, HOST = "central-hospital", "his-db-01"
GiB = 1024**3
# what a Chinese record may hold in Latin letters: identifiers (hosts, checks, items, paths, file names),
# units and acronyms -- issue 14's "outside identifiers"
ALLOWED = {"CPU", "SQL", "TLS", "UTC", "ms", "KiB", "MiB", "GiB", "TiB", "SHA", "PDF", "CSV", "HIS", "WAL",
           "CHECKSUM", "ID", "IP", "min", "max", "avg", "rtt",
           "count", "ratio"}  # wire units: the CSV's machine-readable unit column beside the measured text


def _results(tmp: Path, now: datetime) -> list[Result]:
    ctx = CheckContext(now=now)
    out: list[Result] = []
    out += disk.run(disk.DiskParams(), ctx, filesystems=lambda: [disk.Filesystem("/data", "/dev/sdb1", "ext4")],
                    usage=lambda m: (100 * GiB, 95 * GiB, 5 * GiB), inodes=lambda m: (1000, 10))
    out += [r for r in system.run(parse_params(system.SystemParams, {"cpu_warn": 0, "cpu_crit": 0, "mem_warn": 0,
                                                                     "mem_crit": 0}), ctx) if r.item == "memory"]
    bak = tmp / "HIS_full.bak"
    bak.write_bytes(b"x" * 4096)
    old = (now - timedelta(days=2)).timestamp()
    os.utime(bak, (old, old))
    out += backup_files.run(parse_params(backup_files.BackupFilesParams, {
        "path": str(tmp), "pattern": "*.bak", "schedule": "0 2 * * *", "grace": "90m", "verify": False}), ctx)
    with socket.socket() as s:  # a port nothing listens on: refused
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    out += port.run(parse_params(port.PortParams, {"host": "127.0.0.1", "port": free}), ctx)
    out += process.run(parse_params(process.ProcessParams, {"name": "sqlservr"}), ctx, processes=lambda: [])

    def refused(*a: Any, **k: Any) -> Any:
        raise ConnectionRefusedError(111, "Connection refused")
    out += certificate.run(parse_params(certificate.CertificateParams, {"host": "his-web"}), ctx, fetch=refused)
    out += ping.run(parse_params(ping.PingParams, {"target": "192.0.2.9", "raise_after": 1}), ctx,
                    probe_fn=lambda p: (PingStats(sent=4, received=0, loss_ratio=1.0, recognised=True), "icmp"))
    full = Rule(say("db_backup.what.full"), 26 * 3600)
    out.append(judge_backup("HIS/full", "HIS", full, Seen(now - timedelta(days=3), 3 * 86400, 10 * GiB),
                            earlier_sizes=[20 * GiB] * 4))
    return [r.with_origin(site=SITE, host=HOST, started_at=now) for r in out]


# the site names its levels itself, in both languages (issue 14 item 3)
POLICY = f"""\
sites:
  {SITE}:
    levels:
      - {{name: {{zh_CN: 全院停摆, en: hospital-wide outage}}, response: 2h, resolve: 8h, clock: 24x7}}
      - {{name: {{zh_CN: 科室故障, en: department fault}}, response: 2h, resolve: 2 working days}}
      - {{name: {{zh_CN: 轻微问题, en: minor issue}}, response: 9h, resolve: 3wd}}
"""


@dataclass
class Issued:
    recs: dict[str, Any]  # daily and annual records by language
    results: list[Result]
    backups: Path
    pages: dict[str, str]  # the agent-silent ticket's page by language
    notes: dict[str, list[str]]  # its outbox notifications' bodies (e-mail, WeCom, DingTalk, Feishu) by language


def _bodies(engine: Any, ticket_id: int) -> dict[str, list[str]]:
    """What the e-mail, WeCom, DingTalk and Feishu receivers of the ticket's events get, in each language."""
    from sqlalchemy import select

    from collector.notify.base import Outgoing
    from collector.notify.config import parse_notifications
    from collector.notify.email import build_message
    from collector.notify.messages import render as render_message
    from collector.notify.webhook import payload
    from collector.store.tables import notify_events
    config, problems = parse_notifications({"channels": {
        "mail": {"type": "email", "host": "127.0.0.1", "from": "wardround@example.cn", "to": ["li@example.cn"]},
        **{kind: {"type": kind, "url": f"https://{kind}.example.cn/robot"}
           for kind in ("wecom", "dingtalk", "feishu")}}})
    assert problems == [] and config is not None
    with engine.connect() as conn:
        rows = conn.execute(select(notify_events).where(notify_events.c.ticket_id == str(ticket_id))).all()
    out: dict[str, list[str]] = {"zh_CN": [], "en": []}
    for row in rows:
        ticket = json.loads(row.ticket)
        for lang, language in (("zh_CN", "zh"), ("en", "en")):
            message = render_message(row.event, ticket, at=row.at, language=language, timezone="Asia/Shanghai")
            sent = Outgoing(key="k", event_uid=row.uid, event=row.event, at=row.at, ticket=ticket, language=language,
                            message=message)
            mail = build_message(config.channels["mail"], sent)
            out[lang] += [str(mail["Subject"]), mail.get_content()]
            out[lang] += [json.dumps(payload(config.channels[k], sent)[1], ensure_ascii=False)
                          for k in ("wecom", "dingtalk", "feishu")]
    return out


@pytest.fixture
def issued(tmp_path: Path, sqlite_template: Any) -> Any:
    from sqlalchemy import update

    from collector.store.db import make_engine
    from collector.store.tables import hosts
    from collector.tickets import Tickets
    path = tmp_path / "w.db"
    shutil.copyfile(sqlite_template, path)
    (tmp_path / "policies.yaml").write_text(POLICY, encoding="utf-8")
    engine = make_engine(f"sqlite:///{path}")
    app = create_app(Settings(db_url=f"sqlite:///{path}", policy_file=str(tmp_path / "policies.yaml")), engine=engine)
    now = datetime.now(UTC).replace(microsecond=0)
    backups = Path(tempfile.mkdtemp(prefix="wr-bak-"))  # short: a printed cell wraps a long path anywhere
    results = _results(backups, now)
    assert all(r.message is not None and r.standard_message is not None or not r.standard for r in results)
    token = create_agent_token(engine, site=SITE, host=HOST)
    policies = load_policies(tmp_path / "policies.yaml")
    viewer = create_user(engine, name="vera", role="viewer")
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.post("/api/v1/results", json={"results": [x.to_wire() for x in results]},
                        headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        # then the agent falls silent: the collector opens agent/silent itself; an engineer acknowledges it
        with engine.begin() as conn:
            conn.execute(update(hosts).values(last_seen=now - timedelta(hours=1)))
        ledger = Tickets(engine, policies, clock=lambda: now)
        assert ledger.sweep(now).silent_opened == 1
        [silent] = [t for t in ledger.list(TicketFilter()) if t["check"] == "agent"]
        ledger.acknowledge(silent["id"], "li")
        client.post("/login", data={"token": viewer, "next": "/hosts"})
        pages = {lang: _words(client.get(f"/tickets/{silent['id']}?lang={lang}").text) for lang in ("zh_CN", "en")}
    zone = policies.for_site(SITE).calendar.zone
    day = now.astimezone(zone).date().isoformat()
    records = Records(engine, policies, clock=lambda: now + timedelta(days=1))
    recs = {lang: records.get(records.issue(site=SITE, kind="daily", period=day, language=lang, actor="li").id)
            for lang in ("zh_CN", "en")}
    year_end = datetime(now.astimezone(zone).year + 1, 1, 1, tzinfo=zone).astimezone(UTC)
    annual = Records(engine, policies, clock=lambda: year_end + timedelta(minutes=1))
    recs |= {f"annual.{lang}": annual.get(annual.issue(site=SITE, kind="annual", period={"date": day}, language=lang,
                                                      actor="li").id) for lang in ("zh_CN", "en")}
    yield Issued(recs, results, backups, pages, _bodies(engine, silent["id"]))
    engine.dispose()
    shutil.rmtree(backups)


# what every record prints that is a name, not prose: the zone, the key's algorithm, the offline check's command
BOILERPLATE = {"Asia/Shanghai", "Ed25519", "restore_drill", "tracert", "inode", "base64",
               "wardround-collector record export", "wardround-collector record verify",
               "record.json", "--out", "--public-key"}


def _words(page: str) -> str:
    """The text a reader sees of an HTML page, its pieces apart (so that words do not run together)."""
    reader = _BodyText()
    reader.feed(page)
    return " ".join(reader.parts)


def _english_prose(text: str, identifiers: set[str]) -> set[str]:
    # digests, key ids, public keys, fingerprints in groups of four
    text = re.sub(r"[A-Za-z0-9+/]{43}=", " ", text)  # the public key (Ed25519, base64), before names cut it
    text = re.sub(r"[0-9a-f]{16,}|(?:[0-9a-f]{4}[\s·:]+){3,}[0-9a-f]{4}", " ", text)  # digests, fingerprints
    for name in sorted(identifiers, key=len, reverse=True):
        text = text.replace(name, " ")
    return {w for w in re.findall(r"[A-Za-z]{2,}", text) if w not in ALLOWED}


def _identifiers(results: list[Result]) -> set[str]:
    out = {SITE, HOST, "127.0.0.1", "192.0.2.9", "his-web", "Wardround", "li", *BOILERPLATE}
    for r in results:
        out |= {r.check, r.item, *r.item.split("/")}
        out |= {v for v in r.details.values() if isinstance(v, str) and " " not in v}  # paths, devices
    return {x for x in out if x}


def _chinese(text: str) -> list[str]:
    return re.findall(r"[\u4e00-\u9fff]+", text)


def test_a_zh_record_after_a_patrol_with_many_failures_has_no_english_prose_and_the_en_one_no_chinese(
        issued: Issued, tmp_path: Path) -> None:
    recs, results, backups = issued.recs, issued.results, issued.backups
    identifiers = _identifiers(results) | {str(backups), "HIS_full.bak", "*.bak", "sqlservr", "HIS/full",
                                           "agent", "silent"}  # the agent-silent ticket's check and item
    zh, en = recs["zh_CN"], recs["en"]
    content = zh.content
    assert {a["check"] for a in content["anomalies"]} == {r.check for r in results}, content["anomalies"]
    # the two backup tickets the ingest opened and the agent-silent one the collector opened itself
    assert len(content["tickets"]) == 3
    _need_pdf_tools()
    for key in ("zh_CN", "annual.zh_CN"):
        texts = {"html": _words(render.html(recs[key])), "csv": render.csv_bytes(recs[key]).decode("utf-8-sig"),
                 # a printed table wraps long names anywhere: read the PDF's text without its line breaks and spaces
                 "pdf": _squash(_pdf_text(render.pdf(recs[key]), tmp_path))}
        for kind, text in texts.items():
            assert sorted(_english_prose(text, identifiers | {_squash(x) for x in identifiers})) == [], (key, kind)
    flat = _html_text(render.html(zh))
    assert "科室故障" in flat and "已用95.0%" in flat and "未执行" in flat and "拒绝连接" in flat
    assert "代理程序无响应" in flat  # the collector's own ticket, in the record's language
    assert "科室故障" in _html_text(render.html(recs["annual.zh_CN"]))
    for key in ("en", "annual.en"):
        en_texts = {"html": _words(render.html(recs[key])), "csv": render.csv_bytes(recs[key]).decode("utf-8-sig"),
                    "pdf": _pdf_text(render.pdf(recs[key]), tmp_path)}
        for kind, text in en_texts.items():
            assert _chinese(text) == [], (key, kind)
    assert "department fault" in _words(render.html(en)) and "95.0 % used" in _words(render.html(en))
    assert "agent silent on his-db-01" in _words(render.html(en))


def test_the_collectors_own_ticket_reads_in_the_readers_language_on_its_page_and_in_notifications(
        issued: Issued) -> None:
    """agent/silent: summary, history notes (opened, acknowledged), the site's own level name."""
    words = ALLOWED | {"Wardround", "agent", "silent", "his-db-01", "central-hospital", "li", "vera",
                       "zh", "CN", "en", "UTC", "Shanghai", "Asia",
                       "English"}  # the language switch
    zh, en = issued.pages["zh_CN"], issued.pages["en"]
    assert "代理程序无响应" in zh and "监控开单" in zh and "已响应" in zh and "科室故障" in zh
    assert sorted(_english_prose(zh, words)) == []
    assert "agent silent on his-db-01" in en and "opened from monitoring" in en and "department fault" in en
    assert "科室故障" not in en and "代理程序" not in en
    bodies = issued.notes
    assert len(bodies["zh_CN"]) == 10  # opened and acknowledged: subject, mail body, WeCom, DingTalk, Feishu
    for text in bodies["zh_CN"]:
        assert sorted(_english_prose(text, words | {"msgtype", "markdown", "content", "title", "text", "https",
                                                    "example", "cn", "robot", "msg_type"})) == [], text
    assert all("科室故障" in t for t in bodies["zh_CN"][1:5]) and "代理程序无响应" in bodies["zh_CN"][1]
    assert all(_chinese(t) == [] for t in bodies["en"]) and "department fault" in bodies["en"][1]


def test_bad_messages_render_the_fallback_and_are_logged_never_a_failed_record(
        tmp_path: Path, sqlite_template: Any, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    from collector.store.db import make_engine
    path = tmp_path / "w.db"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    app = create_app(Settings(db_url=f"sqlite:///{path}"), engine=engine)
    now = datetime.now(UTC).replace(microsecond=0)
    base = Result("disk", "/", Status.CRITICAL, summary="/ fallback one", standard="used < 80 %",
                  site=SITE, host=HOST, started_at=now).to_wire()
    bad = [{**base, "id": new_result_id(), "item": "/a", "summary": "fallback missing args",
            "message": {"key": "disk.used", "args": {"mount": "/a"}}},
           {**base, "id": new_result_id(), "item": "/b", "summary": "fallback markup",
            "message": {"key": "disk.used", "args": {"mount": "<img src=x>", "used": 1, "free": 1, "total": 2}}},
           {**base, "id": new_result_id(), "item": "/c", "summary": "fallback wrong placeholder",
            "message": {"key": "disk.full_in", "args": {"days": 1.0, "growth": 1}}},
           {**base, "id": new_result_id(), "item": "/d", "summary": "fallback newer agent",
            "message": {"key": "disk.from_a_newer_agent", "args": {}}}]
    broken = {**catalogue("zh_CN"), "disk.full_in": "{dayz:.1f} 天后写满"}
    monkeypatch.setattr("checks.messages.catalogue", lambda lang: broken if lang == "zh_CN" else catalogue(lang))
    token = create_agent_token(engine, site=SITE, host=HOST)
    viewer = create_user(engine, name="vera", role="viewer")
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/api/v1/results", json={"results": bad},
                           headers={"Authorization": f"Bearer {token}"}).status_code == 200
        client.post("/login", data={"token": viewer, "next": "/hosts"})
        with caplog.at_level(logging.WARNING, logger="checks.messages"):
            page = client.get(f"/hosts/{SITE}/{HOST}")
        assert page.status_code == 200
        assert all(f"fallback {x}" in page.text for x in ("missing args", "markup", "wrong placeholder", "newer agent"))
        assert "<img" not in page.text
    policies = default_policies()
    day = now.astimezone(policies.for_site(SITE).calendar.zone).date().isoformat()
    records = Records(engine, policies, clock=lambda: now + timedelta(days=1))
    with caplog.at_level(logging.WARNING, logger="checks.messages"):
        rec = records.get(records.issue(site=SITE, kind="daily", period=day, language="zh_CN", actor="li").id)
    html = render.html(rec)
    assert all(f"fallback {x}" in html for x in ("missing args", "wrong placeholder", "newer agent"))
    assert "<img" not in html
    assert caplog.text.count("not rendered") >= 8  # page and record, each bad message logged
    engine.dispose()
