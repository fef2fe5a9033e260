"""Translation catalogs for records: every word a record prints comes from here.

The catalogs are ``collector/records/i18n/{zh_CN,en}.json``: flat mappings of
dotted keys to text with ``{name}`` placeholders (``str.format``).  A kind
may bring its own words in ``i18n/<part>.<lang>.json`` (e.g.
``annual.zh_CN.json`` with ``annual.*`` keys); they are merged in, and a key
defined twice is an error.  A key
missing from a language falls back to English, then to the key itself (a
test checks both catalogs have the same keys, so the fallback is for
third-party kinds only).

Key families: ``verdict.<verdict>``, ``kind.<kind>``, ``heading.<name>``,
``column.<name>``, ``check.<check>`` (item label, ``{item}``),
``suggest.<check>`` (suggestion for an anomaly), ``sla.<outcome>``,
``state.<ticket state>``, ``role.<role>``, ``sign.<name>``, ``gap.<name>``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from checks.languages import language_of
from collector.records.model import LANGUAGES

__all__ = ["DEFAULT_LANGUAGE", "catalog", "normalise_language", "text"]

DEFAULT_LANGUAGE = "zh_CN"
_DIR = Path(__file__).resolve().parent / "i18n"


@cache
def catalog(lang: str) -> dict[str, str]:
    """The catalog of ``lang`` (``zh_CN`` or ``en``)."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r} (expected {', '.join(LANGUAGES)})")
    out: dict[str, str] = {}
    for path in [_DIR / f"{lang}.json", *sorted(_DIR.glob(f"*.{lang}.json"))]:
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
        twice = sorted(set(out) & set(data))
        if twice:
            raise ValueError(f"{path}: key(s) already defined: {', '.join(twice[:5])}")
        out.update({str(k): str(v) for k, v in data.items()})
    return out


def normalise_language(value: Any) -> str | None:
    """``zh_CN``/``zh-CN``/``zh``/``en``/``en_US`` → a catalog name; None if not one we have (exactly the
    names :func:`checks.languages.language_of` reads)."""
    return language_of(value)


def text(lang: str, key: str, /, **values: Any) -> str:
    """The text of ``key`` in ``lang`` with ``values`` filled in."""
    template = catalog(lang).get(key)
    if template is None:
        template = catalog("en").get(key, key)
    if not values:
        return template
    try:
        return template.format_map(_Blank(values))
    except (ValueError, IndexError, AttributeError):  # a malformed template must not break a rendering
        return template


class _Blank(dict[str, Any]):
    """Placeholders with no value print as ``?`` (content read back may lack a field)."""

    def __missing__(self, key: str) -> str:
        return "?"
