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

import logging
import os
import re
import shutil
import socket
import tempfile
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
from collector.policy import default_policies
from collector.records import render
from collector.records.service import Records
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


@pytest.fixture
def issued(tmp_path: Path, sqlite_template: Any) -> Any:
    from collector.store.db import make_engine
    path = tmp_path / "w.db"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    app = create_app(Settings(db_url=f"sqlite:///{path}"), engine=engine)
    now = datetime.now(UTC).replace(microsecond=0)
    backups = Path(tempfile.mkdtemp(prefix="wr-bak-"))  # short: a printed cell wraps a long path anywhere
    results = _results(backups, now)
    assert all(r.message is not None and r.standard_message is not None or not r.standard for r in results)
    token = create_agent_token(engine, site=SITE, host=HOST)
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.post("/api/v1/results", json={"results": [x.to_wire() for x in results]},
                        headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
    policies = default_policies()
    zone = policies.for_site(SITE).calendar.zone
    day = now.astimezone(zone).date().isoformat()
    records = Records(engine, policies, clock=lambda: now + timedelta(days=1))
    recs = {lang: records.get(records.issue(site=SITE, kind="daily", period=day, language=lang, actor="li").id)
            for lang in ("zh_CN", "en")}
    yield recs, results, backups
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


def test_a_zh_record_after_a_patrol_with_many_failures_has_no_english_prose_and_the_en_one_no_chinese(
        issued: Any, tmp_path: Path) -> None:
    recs, results, backups = issued
    zh, en = recs["zh_CN"], recs["en"]
    content = zh.content
    assert {a["check"] for a in content["anomalies"]} == {r.check for r in results}, content["anomalies"]
    assert len(content["tickets"]) == 2
    identifiers = _identifiers(results) | {str(backups), "HIS_full.bak", "*.bak", "sqlservr", "HIS/full"}
    texts = {"html": _words(render.html(zh)), "csv": render.csv_bytes(zh).decode("utf-8-sig")}
    _need_pdf_tools()
    # a printed table wraps long names anywhere: read the PDF's text without its line breaks and spaces
    texts["pdf"] = _squash(_pdf_text(render.pdf(zh), tmp_path))
    identifiers |= {_squash(x) for x in identifiers}
    flat = _html_text(render.html(zh))
    assert "一般故障" in flat and "已用95.0%" in flat and "未执行" in flat and "拒绝连接" in flat
    for kind, text in texts.items():
        assert sorted(_english_prose(text, identifiers)) == [], kind
    en_texts = {"html": _words(render.html(en)), "csv": render.csv_bytes(en).decode("utf-8-sig"),
                "pdf": _pdf_text(render.pdf(en), tmp_path)}
    assert "general fault" in en_texts["html"] and "95.0 % used" in en_texts["html"]
    for kind, text in en_texts.items():
        assert re.findall(r"[\u4e00-\u9fff]+", text) == [], kind


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
