from __future__ import annotations

import dataclasses
import pathlib

import pytest

from checks import _docs
from checks.catalogue import CATALOGUE

PAGE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "checks.md"


def test_docs_checks_md_is_up_to_date_with_the_catalogue():
    expected = _docs.render()
    actual = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
    if actual != expected:
        pytest.fail(f"docs/checks.md is out of date with the check catalogue; regenerate it with\n"
                    f"    {_docs.COMMAND}", pytrace=False)


def test_docs_list_every_check_with_every_parameter_and_its_default():
    page = _docs.render()
    for name, spec in CATALOGUE.items():
        assert f"\n## {name}\n" in page
        for f in dataclasses.fields(spec.params):
            if f.init and not f.name.startswith("_"):
                assert f"| `{f.name}` |" in page, f"{name}.{f.name} missing"
    assert "| `days_warn` | number | `30` | forecast days until full at or below which" in page
    assert "| `forecast_window` | duration | `1w` |" in page
    assert "| `max` | integer or empty | — |" in page


def test_docs_show_each_checks_status_table():
    page = _docs.render()
    for name in ("disk", "uptime", "service", "process", "logscan"):
        section = page.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]
        for status in ("OK", "WARNING", "CRITICAL", "UNKNOWN"):
            assert status in section, f"{name} documents no {status}"
