"""The record content model: canonical form, digest, verdicts, catalogs and the kind registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector.records import i18n, kinds
from collector.records.model import (
    Header,
    RecordContent,
    Row,
    Section,
    canonical,
    digest,
    verdict_of_status,
    worse,
)


def _content() -> RecordContent:
    header = Header(site="s", customer="中心医院", systems=["HIS"], hosts=["a"], kind="daily",
                    period_from="2026-11-22", period_to="2026-11-22", period_start="x", period_end="y",
                    timezone="Asia/Shanghai", inspector="张伟", generated_at="z", language="zh_CN")
    row = Row(host="a", check="disk", item="/", label="磁盘空间 /", standard="used < 80 %", value=41.2,
              unit="%", measured="41.2 %", verdict="normal", remark="", summary="ok", at="t", results=1,
              bad=0, worst="normal")
    return RecordContent(header=header, rows=[row],
                         sections=[Section(key="k", title="T", columns=["a"], rows=[[1, None, "x"]])])


def test_canonical_form_is_sorted_compact_utf8_when_content_has_cjk_text() -> None:
    data = canonical(_content().to_json())
    expected = json.dumps(_content().to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert data == expected.encode("utf-8")
    assert "中心医院".encode() in data
    doc = json.loads(data)
    assert list(doc) == sorted(doc)
    assert list(doc["header"]) == sorted(doc["header"])
    assert doc["schema"] == 1


def test_digest_changes_when_one_character_of_the_content_changes() -> None:
    a = _content().to_json()
    b = _content().to_json()
    b["rows"][0]["measured"] = "41.3 %"
    assert digest(canonical(a)) == digest(canonical(_content().to_json()))
    assert digest(canonical(a)) != digest(canonical(b))
    assert len(digest(canonical(a))) == 64


def test_verdicts_follow_the_status_codes_when_mapped() -> None:
    assert [verdict_of_status(s) for s in (0, 1, 2, 3)] == ["normal", "warning", "abnormal", "no_data"]
    assert worse("warning", "abnormal") == "abnormal"
    assert worse("no_data", "warning") == "no_data"
    assert worse("normal", "normal") == "normal"


def test_catalogs_have_the_same_keys_when_loaded() -> None:
    base = Path(i18n.__file__).parent / "i18n"
    en = json.loads((base / "en.json").read_text(encoding="utf-8"))
    zh = json.loads((base / "zh_CN.json").read_text(encoding="utf-8"))
    assert set(en) == set(zh)
    assert i18n.text("zh_CN", "verdict.abnormal") == "异常"
    assert i18n.text("en", "check.disk", item="C:") == "Disk space C:"
    assert i18n.normalise_language("zh-CN") == "zh_CN" and i18n.normalise_language("fr") is None


def test_register_refuses_a_kind_outside_the_list_when_called() -> None:
    with pytest.raises(kinds.UnknownKind):
        kinds.register("hourly", lambda *a, **k: _content())


def test_every_part_catalog_has_the_same_keys_in_both_languages_when_loaded() -> None:
    """The parts merged into the catalogs (tickets.*, followups.*, hygiene.*, errors.*, notify.*): a word
    in one language only would fall back to English in a Chinese text."""
    base = Path(i18n.__file__).parent / "i18n"
    parts = sorted(base.glob("*.en.json"))
    assert "notify.en.json" in [p.name for p in parts]
    for en_path in parts:
        zh_path = base / en_path.name.replace(".en.json", ".zh_CN.json")
        en = json.loads(en_path.read_text(encoding="utf-8"))
        zh = json.loads(zh_path.read_text(encoding="utf-8"))
        assert set(en) == set(zh), en_path.name
    assert i18n.text("zh_CN", "notify.event.opened") == "新故障单"
    assert i18n.text("en", "notify.digest.rate", count=20, per="minute") == "20 per minute"
