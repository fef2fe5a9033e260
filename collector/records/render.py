"""Renderings of a stored record: HTML, PDF (the HTML printed) and CSV.

Every rendering is made from the stored record only — its content as
issued, its stored digest, its signatures and how it verified at read
(:class:`collector.records.service.StoredRecord`) — so rendering an old
record again gives the same text.  Every rendering prints the SHA-256
digest and the collector key that signed the record (key id, fingerprint
and public key, so a customer can check it offline); one that fails
verification says so in large letters, one stored before keyed signatures
says it is checked by digest only.
All words come from the catalogs in the record's language; times are shown
in the record's time zone.

* HTML: ``templates/record.html.j2`` with ``templates/record.css`` inlined
  (one request on a slow hospital network, no scripts).
* PDF: the same HTML printed by :mod:`collector.records.printer` with the
  print rules of ``record.css`` (A4 landscape, the record number, digest and
  key id at the foot of every page), the fonts it names embedded
  (:mod:`collector.records.fonts`: found by fontconfig; CJK text needs a
  CJK font on the machine, Debian ``fonts-wqy-zenhei`` or
  ``fonts-noto-cjk``).  Thousands of rows a second (WeasyPrint, which
  printed it before, managed about 100: docs/records.md).
* CSV: UTF-8 with a byte-order mark (Excel in China opens it right), CRLF
  line ends; a block of header lines, then each part of the record as a
  titled table separated by blank lines.  A text cell a spreadsheet would
  run as a formula (starting with ``= + - @``, tab or CR) is written behind a
  single quote (the OWASP rule); numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from markupsafe import Markup

from collector import record_kinds
from collector.messages import local_moment
from collector.records.i18n import text
from collector.records.service import StoredRecord

__all__ = ["PdfUnavailable", "body", "csv_bytes", "html", "pdf"]

log = logging.getLogger(__name__)
_TEMPLATES = Path(__file__).resolve().parent / "templates"


class PdfUnavailable(RuntimeError):
    """What a PDF needs is not installed: fontconfig, any font record.css names, or fontTools for
    a font with CFF outlines."""


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=False)
    env.filters["local"] = lambda value, zone: _local(zone)(value)
    return env


@cache
def _css() -> Markup:
    """The record's style sheet, inlined as it is (our own file: HTML-escaping it would break its quotes)."""
    return Markup((_TEMPLATES / "record.css").read_text(encoding="utf-8"))


def _css_string(value: str) -> Markup:
    """``value`` as a quoted CSS string for the style element (page-footer text): nothing in it can end
    the string, the rule or the ``<style>`` element."""
    escaped = "".join(f"\\{ord(ch):x} " if ch in '"\\<>&\'' or ord(ch) < 32 else ch for ch in value)
    return Markup(f'"{escaped}"')


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _local(zone: ZoneInfo) -> Callable[[str | None], str]:
    """A stored time in the record's zone, which its header names (:func:`collector.messages.local_moment`)."""
    def local(value: str | None) -> str:
        return local_moment(value, zone, named=False) or ""
    return local


def _lang(record: StoredRecord) -> str:
    lang = record.content.get("header", {}).get("language", record.language)
    return lang if lang in ("zh_CN", "en") else record.language


def _title(lang: str, kind: str) -> str:
    declared = record_kinds.BY_NAME.get(kind)
    return text(lang, declared.title_key if declared is not None else "title.record")


def html(record: StoredRecord) -> str:
    """The record as one self-contained HTML page."""
    c = record.content
    lang = _lang(record)
    h = c.get("header", {})
    zone = _zone(h.get("timezone", "UTC"))

    def t(key: str, **values: Any) -> str:
        return text(lang, key, **values)

    by_host: dict[str, list[Any]] = {}
    for row in c.get("rows", []):
        by_host.setdefault(str(row.get("host", "")), []).append(_Obj(row))
    # One table per host: a host's rows stay together under their own header row.
    return _env().get_template("record.html.j2").render(
        c=_Obj(c), h=_Obj(h), lang=lang, t=t, title=_title(lang, h.get("kind", record.kind)), css=_css(),
        footer=_css_string(_footer(record, lang)),
        record_id=record.id, digest=record.digest, integrity=record.integrity, key=record.key,
        key_id=record.key_id, verification=_verified_word(record.integrity), verified_word=_verified_word,
        signatures=record.signatures, by_host=list(by_host.items()), tz=zone)


def body(record: StoredRecord) -> Markup:
    """What :func:`html` shows, without its page around it: the record inside another page (the record
    page of the web console, whose own style sheet styles it, under ``.record-doc``)."""
    page = html(record)
    start = page.index(">", page.index("<body")) + 1
    return Markup(page[start:page.rindex("</body>")])


class _Obj(dict[str, Any]):
    """A dict whose keys read as attributes in templates (``r.host``), recursively, missing = empty."""

    def __getattr__(self, name: str) -> Any:
        value = self.get(name)
        if isinstance(value, dict):
            return _Obj(value)
        if isinstance(value, list):
            return [_Obj(v) if isinstance(v, dict) else v for v in value]
        return value


def _footer(record: StoredRecord, lang: str) -> str:
    """The foot of every printed page: record number, digest and the id of the key that signed it."""
    return (f"{text(lang, 'header.record_id')} {record.id} · SHA-256 {record.digest}"
            + (f" · {text(lang, 'page.key', key_id=record.key_id)}" if record.key_id else ""))


def pdf(record: StoredRecord) -> bytes:
    """The record as PDF: its HTML page printed (:mod:`collector.records.printer`)."""
    from collector.records import fonts, printer  # loaded when a PDF is first asked for

    try:
        return printer.print_pdf(html(record), footer=_footer(record, _lang(record)))
    except fonts.FontsUnavailable as exc:
        raise PdfUnavailable(str(exc)) from exc


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _verified_word(status: str) -> str:
    """The catalog key naming a verification outcome (integrity.VERIFIED, DIGEST_ONLY, FAILED)."""
    return {"verified": "verify.ok", "digest_only": "verify.digest_only"}.get(status, "verify.failed")


def _key_line(record: StoredRecord, t: Any) -> str:
    if record.key is not None:
        return str(t("integrity.key", key_id=record.key.key_id, fingerprint=record.key.fingerprint,
                      public_key=record.key.base64))
    return str(t("integrity.unknown_key", key_id=record.key_id)) if record.key_id else ""


def _cell(value: Any) -> Any:
    """A CSV cell: numbers as numbers, text that a spreadsheet would run as a formula behind a quote."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    cell = str(value)
    if cell.startswith(_FORMULA_START) and not _NUMBER_RE.fullmatch(cell):
        return "'" + cell
    return cell


def _sla(t: Callable[..., str], outcome: str | None, term: str | None) -> str:
    """An SLA outcome cell: ``达标 (3个工作日)``; empty when there is no such deadline."""
    if not outcome:
        return ""
    return t("sla." + outcome) + (f" ({term})" if term else "")


def csv_bytes(record: StoredRecord) -> bytes:
    """The record as CSV: UTF-8 with BOM, CRLF, header lines then one titled table per part."""
    c = record.content
    lang = _lang(record)
    h = c.get("header", {})
    local = _local(_zone(h.get("timezone", "UTC")))

    def t(key: str, **values: Any) -> str:
        return text(lang, key, **values)

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")

    def line(cells: list[Any]) -> None:  # every cell of every line goes through _cell
        writer.writerow([_cell(v) for v in cells])

    line([_title(lang, h.get("kind", record.kind))])
    period = h.get("period_from", "") + ("" if h.get("period_to") == h.get("period_from")
                                        else " – " + h.get("period_to", ""))
    systems, hosts = ", ".join(h.get("systems", [])), ", ".join(h.get("hosts", []))
    counts = t("header.counts", **h["counts"]) if h.get("counts") else ""
    for key, value in (("header.record_id", record.id), ("header.customer", h.get("customer", "")),
                       ("header.site", h.get("site", "")), ("header.systems", systems),
                       ("header.kind", t("kind." + h.get("kind", record.kind))),
                       ("header.period", f"{period} ({h.get('timezone', '')})"),
                       ("header.inspector", h.get("inspector", "")),
                       ("header.generated_at", local(h.get("generated_at"))),
                       ("header.hosts", hosts), ("header.summary", counts), ("header.digest", record.digest),
                       ("header.verification", t(_verified_word(record.integrity))),
                       ("header.key", _key_line(record, t))):
        line([t(key), value])
    if record.integrity == "failed":
        line([t("integrity.failed")])
    elif record.integrity == "digest_only":
        line([t("integrity.digest_only")])

    def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
        line([])
        line([title])
        line(columns)
        for row in rows:
            line(row)

    def cols(*names: str) -> list[str]:
        return [t("column." + n) for n in names]

    if c.get("rows") or not c.get("sections"):
        table(t("heading.rows"),
              cols("host", "check", "item", "standard", "value", "unit", "measured", "verdict", "remark",
                   "at"),
              [[r["host"], r["check"], r["label"], r["standard"], r["value"], r["unit"], r["measured"],
                t("verdict." + r["verdict"]), r["remark"], local(r["at"])] for r in c.get("rows", [])])
        table(t("heading.gaps"), cols("host", "item", "last_seen", "remark"),
              [[g["host"], g["label"], local(g["last_seen"]), g["remark"]] for g in c.get("gaps", [])])
        table(t("heading.anomalies"), cols("host", "item", "verdict", "summary", "suggestion"),
              [[a["host"], a["label"], t("verdict." + a["verdict"]), a["summary"], a["suggestion"]]
               for a in c.get("anomalies", [])])
        table(t("heading.tickets"),
              cols("ticket", "host", "severity", "summary", "state", "opened_at", "acknowledged_at",
                   "resolved_at", "response", "resolution", "onsite"),
              [[k["id"], k["host"], k["severity"], k["summary"], t("state." + k["state"]),
                local(k["opened_at"]), local(k["acknowledged_at"]), local(k["resolved_at"]),
                _sla(t, k["response"], k.get("response_term")), _sla(t, k["resolution"], k.get("resolve_term")),
                _sla(t, k.get("onsite"), None)] for k in c.get("tickets", [])])
        table(t("heading.backups"), cols("host", "item", "last_good_at", "size", "verdict", "remark"),
              [[b["host"], b["label"], local(b["last_good_at"]), b["size_bytes"],
                t("verdict." + b["verdict"]), b["remark"]] for b in c.get("backup_evidence", [])])
    for s in c.get("sections", []):
        table(s.get("title", ""), list(s.get("columns", [])), [list(r) for r in s.get("rows", [])])
    table(t("heading.signatures"), [*cols("role", "signer", "signed_at", "note"), "SHA-256", t("header.verification")],
          [[t("role." + s["role"]), s["signer"], local(s["signed_at"]), s["note"], s["digest"],
            t(_verified_word(s.get("status", "")))]
           for s in record.signatures])
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")
