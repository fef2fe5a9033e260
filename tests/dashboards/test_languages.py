"""Each dashboard exists in zh_CN and en, the same in everything but its words.

The two languages are built from one description (dashboards/build.py) and
the words of ``dashboards/i18n/<lang>.json`` (plus the pages' status, kind and
role words): these tests hold them to the same panels, queries, units and
layout, hold the catalogues to the same keys and placeholders with none
unused, and read every word a person sees — titles, descriptions, legends,
column names, value mappings, variable labels — for the other language's
script.
"""

from __future__ import annotations

import json
import re
import string
from typing import Any

from dashboards.build import LANGUAGES, Words, build
from tests.dashboards.helpers import ROOT, dashboards

# Where a string is words for people (the key holding it, or the override property id it is the value of).
TEXT_KEYS = {"title", "description", "legendFormat", "text", "label", "noValue", "displayName"}
TEXT_PROPERTIES = {"displayName", "noValue"}
SUFFIX = "suffix:"  # a custom unit: Grafana prints the text after it ("results/s")
# Names that stay as they are in Chinese text: the product, the tools, acronyms.
KEEP = {"Wardround", "Prometheus", "CPU", "TCP", "NTP"}
CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")


def _pair(a: Any, b: Any, path: str, out: list[tuple[str, Any, Any, dict[str, Any]]],
          parent: dict[str, Any] | None = None) -> None:
    """Walk two dashboards together; collect (path, a, b, the dict holding a) where they differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            out.append((path, sorted(a), sorted(b), {}))
            return
        for k in a:
            _pair(a[k], b[k], f"{path}.{k}", out, a)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append((path, len(a), len(b), {}))
            return
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _pair(x, y, f"{path}[{i}]", out)
    elif a != b:
        out.append((path, a, b, parent or {}))


def _words(node: Any, out: list[str], parent_id: str | None = None) -> None:
    """Every string a person reads in a dashboard."""
    if isinstance(node, dict):
        for k, v in node.items():
            if not isinstance(v, str) or v == "__auto":  # __auto: Grafana names the series itself
                _words(v, out)
            elif k in TEXT_KEYS or (k == "value" and node.get("id") in TEXT_PROPERTIES):
                out.append(v)
            elif (k == "unit" or (k == "value" and node.get("id") == "unit")) and v.startswith(SUFFIX):
                out.append(v.removeprefix(SUFFIX))
            else:
                _words(v, out)
    elif isinstance(node, list):
        for v in node:
            _words(v, out)


def test_both_languages_have_the_same_dashboards_when_built():
    names = {lang: {n.split("/")[1] for n in dashboards(lang)} for lang in LANGUAGES}
    assert names["zh_CN"] == names["en"] and len(names["en"]) == 5


def test_the_languages_differ_only_in_words_when_compared():
    for name, zh in dashboards("zh_CN").items():
        en = dashboards("en")[name.replace("zh_CN/", "en/")]
        diffs: list[tuple[str, Any, Any, dict[str, Any]]] = []
        _pair(zh, en, name, diffs)
        structural = []
        for path, a, b, parent in diffs:
            key = re.sub(r"\[\d+\]$", "", path).rsplit(".", 1)[-1]
            prop = parent.get("id") if key == "value" else None
            if not (isinstance(a, str) and isinstance(b, str)):
                structural.append((path, a, b))
            elif key == "uid":
                assert b == a + "-en", path
            elif key in TEXT_KEYS or prop in TEXT_PROPERTIES or path.endswith(".tags[1]"):
                continue
            elif (key == "unit" or prop == "unit") and a.startswith(SUFFIX) and b.startswith(SUFFIX):
                continue
            else:
                structural.append((path, a, b))
        assert structural == [], name
        assert zh["uid"] != en["uid"] and zh["title"] != en["title"]


def test_each_language_links_only_to_its_own_dashboards_when_built():
    for lang in LANGUAGES:
        for name, d in dashboards(lang).items():
            assert d["tags"] == ["wardround", lang], name
            assert all(link["tags"] == ["wardround", lang] for link in d["links"]), name


def test_chinese_dashboards_have_no_english_words_when_read():
    found = set()
    for name, d in dashboards("zh_CN").items():
        texts: list[str] = []
        _words(d, texts)
        assert texts, name
        for text in texts:
            bare = re.sub(r"\{\{\s*\w+\s*\}\}", "", text)  # {{host}}, {{item}}: label values, not words
            bare = bare.removeprefix("suffix:")  # Grafana's custom unit syntax
            found |= {(name, w) for w in re.findall(r"[A-Za-z]{2,}", bare) if w not in KEEP}
    assert sorted(found) == []


def test_english_dashboards_have_no_chinese_when_read():
    found = []
    for name, d in dashboards("en").items():
        texts: list[str] = []
        _words(d, texts)
        found += [(name, t) for t in texts if CJK.search(t)]
    assert found == []


def test_status_words_are_the_pages_words_when_mapped():
    from collector.web.i18n import text

    for lang in LANGUAGES:
        d = dashboards(lang)[f"{lang}/host-detail.json"]
        [timeline] = [p for p in d["panels"] if p["type"] == "state-timeline"]
        options = timeline["fieldConfig"]["defaults"]["mappings"][0]["options"]
        assert [options[str(c)]["text"] for c in range(4)] == [
            text(lang, f"status.{s}") for s in ("OK", "WARNING", "CRITICAL", "UNKNOWN")]


def _fields(template: str) -> set[str]:
    return {f for _lit, f, _spec, _conv in string.Formatter().parse(template) if f}


def test_catalogues_have_the_same_keys_and_placeholders_and_none_unused_when_built():
    words = {lang: Words(lang) for lang in LANGUAGES}
    build(words)
    zh, en = words["zh_CN"].catalogue, words["en"].catalogue
    assert sorted(zh) == sorted(en)
    assert [k for k in zh if not zh[k].strip() or not en[k].strip()] == []
    assert {k: (_fields(zh[k]), _fields(en[k])) for k in zh if _fields(zh[k]) != _fields(en[k])} == {}
    for lang, w in words.items():
        assert sorted(set(w.catalogue) - w.used) == [], f"{lang}: keys no dashboard uses"
    for lang in LANGUAGES:
        raw = (ROOT / "dashboards" / "i18n" / f"{lang}.json").read_text(encoding="utf-8")
        assert list(json.loads(raw)) == sorted(json.loads(raw)), f"{lang}.json: keep the keys sorted"
