"""Fonts of printed records: found through fontconfig, subset with their glyph ids kept, CFF ones too."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fontTools.fontBuilder import FontBuilder
from fontTools.pens.t2CharStringPen import T2CharStringPen
from fontTools.ttLib import TTFont

from collector.records import fonts, printer
from tests.conftest import missing

WQY = "WenQuanYi Zen Hei"


def _family(name: str) -> fonts.Family:
    try:
        return fonts.family_chain((name,))[0]
    except fonts.FontsUnavailable as exc:
        missing(name, f"apt-get install fontconfig fonts-wqy-zenhei fonts-dejavu-core ({exc})")
        raise


def test_truetype_subset_keeps_glyph_ids_and_only_the_glyphs_used_when_a_cjk_font_is_cut() -> None:
    face = _family(WQY).regular
    used = {face.cmap[ord(ch)] for ch in "巡检记录Ab1"}
    data = fonts.subset(face, used)
    font = TTFont(io.BytesIO(data))
    order = font.getGlyphOrder()
    glyf = font["glyf"]
    assert len(order) == len(face.advances)  # ids kept: the page's glyph ids need no remapping
    drawn = {gid for gid, name in enumerate(order) if glyf[name].numberOfContours != 0}
    assert used <= drawn and drawn <= used | {0}
    assert len(data) < os.path.getsize(face.path) / 20


def test_truetype_subset_takes_the_parts_of_a_composite_glyph_when_only_the_composite_is_used() -> None:
    face = _family("DejaVu Sans").regular
    source = TTFont(face.path)
    gid = face.cmap[ord("é")]
    composite = source["glyf"][source.getGlyphName(gid)]
    if not composite.isComposite():
        pytest.skip("this DejaVu Sans draws é as one outline")
    parts = {source.getGlyphID(c.glyphName) for c in composite.components}
    font = TTFont(io.BytesIO(fonts.subset(face, {gid})))
    order = font.getGlyphOrder()
    assert all(font["glyf"][order[p]].numberOfContours != 0 for p in parts)


def _cff_font(path: Path, family: str) -> None:
    """A small CFF-outlined OpenType font (as Noto Sans CJK is) drawing A, B and 巡 as boxes."""
    names = [".notdef", "A", "B", "uni5DE1", "space"]
    strings = {}
    for name in names:
        pen = T2CharStringPen(600, None)
        if name != "space":
            pen.moveTo((50, 0))
            pen.lineTo((550, 0))
            pen.lineTo((550, 700))
            pen.lineTo((50, 700))
            pen.closePath()
        strings[name] = pen.getCharString()
    fb = FontBuilder(1000, isTTF=False)
    fb.setupGlyphOrder(names)
    fb.setupCharacterMap({ord("A"): "A", ord("B"): "B", 0x5DE1: "uni5DE1", 32: "space"})
    fb.setupCFF("TestCFF-Regular", {"FullName": family}, strings, {})
    fb.setupHorizontalMetrics({n: (600, 50) for n in names})
    fb.setupHorizontalHeader(ascent=880, descent=-120)
    fb.setupNameTable({"familyName": family, "styleName": "Regular"})
    fb.setupOS2(sTypoAscender=880, sTypoDescender=-120, usWinAscent=880, usWinDescent=120)
    fb.setupPost()
    fb.save(str(path))


@pytest.fixture
def noto_stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A CFF font installed as "Noto Sans CJK SC" (the first family record.css names) for fontconfig,
    through a configuration that adds a font directory to the machine's own."""
    if shutil.which("fc-list") is None:
        missing("fontconfig", "apt-get install fontconfig")
    _cff_font(tmp_path / "stand-in.otf", "Noto Sans CJK SC")
    conf = tmp_path / "fonts.conf"
    conf.write_text(f'<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
                    f'<include ignore_missing="yes">/etc/fonts/fonts.conf</include>\n<dir>{tmp_path}</dir>\n'
                    f'<cachedir>{tmp_path / "cache"}</cachedir>\n</fontconfig>\n', encoding="utf-8")
    monkeypatch.setenv("FONTCONFIG_FILE", str(conf))
    for cached in (fonts._installed, fonts.family_chain, fonts._face):
        cached.cache_clear()
    yield tmp_path
    monkeypatch.delenv("FONTCONFIG_FILE")
    for cached in (fonts._installed, fonts.family_chain, fonts._face):
        cached.cache_clear()


def test_a_cff_font_named_first_by_the_style_sheet_is_embedded_and_its_text_reads_back(
        noto_stand_in: Path) -> None:
    if shutil.which("pdffonts") is None or shutil.which("pdftotext") is None:
        missing("pdffonts and pdftotext", "apt-get install poppler-utils")
    chain = fonts.family_chain(printer._css_families("html"))
    assert chain[0].name == "Noto Sans CJK SC" and chain[0].regular.cff
    page = '<html lang="zh-CN"><body><h1>AB 巡检</h1><p>BA 巡</p></body></html>'
    (noto_stand_in / "r.pdf").write_bytes(printer.print_pdf(page, "A 1"))
    listing = subprocess.run(["pdffonts", str(noto_stand_in / "r.pdf")], capture_output=True, text=True,
                             check=True, timeout=60).stdout
    cff = [line for line in listing.splitlines() if "Noto-Sans-CJK-SC" in line]
    assert cff and all("Type 0C" in line and " yes yes yes " in line for line in cff), listing
    assert any("WenQuanYi" in line for line in listing.splitlines())  # 检: not in the stand-in, next family
    text = subprocess.run(["pdftotext", "-raw", "-enc", "UTF-8", str(noto_stand_in / "r.pdf"), "-"],
                          capture_output=True, text=True, check=True, timeout=60).stdout
    assert "".join(text.split()) == "AB巡检BA巡A11/1"


def test_a_character_no_installed_font_has_is_printed_as_a_box_and_logged(caplog: pytest.LogCaptureFixture,
                                                                         tmp_path: Path) -> None:
    _family(WQY)
    if shutil.which("pdftotext") is None:
        missing("pdftotext", "apt-get install poppler-utils")
    with caplog.at_level("WARNING", logger="collector.records.printer"):
        data = printer.print_pdf("<html><body><p>巡检 \ue000 ok</p></body></html>", "")
    assert "U+E000" in caplog.text
    (tmp_path / "r.pdf").write_bytes(data)
    text = subprocess.run(["pdftotext", "-raw", "-enc", "UTF-8", str(tmp_path / "r.pdf"), "-"],
                          capture_output=True, text=True, check=True, timeout=60).stdout
    assert "巡检" in text and "ok" in text
