"""The three places that read a language's name keep their verdicts (one definition: checks.languages):
a command line's ``WARDROUND_LANG`` and locale, a record's ``language`` (and a page's ``?lang=``/cookie),
a browser's ``Accept-Language`` tag."""

from __future__ import annotations

import pytest

from checks.messages.reader import reader_language
from collector.records.i18n import normalise_language
from collector.web.i18n import choose

NAMES = ["zh_CN", "zh-CN", "zh", "ZH", " zh_cn ", "zh_Hans", "zh-Hans", "zh_TW", "zh-HK", "zh_CN.UTF-8",
         "zh_CN.GBK", "cn", "CN", "en", "EN", "en_US", "en-US", "en_GB", "en-gb", "en_AU", "en_US.UTF-8",
         "C", "C.UTF-8", "POSIX", "c", "fr", "de_DE", "", " ", "english", "chinese", "zhx", "e"]

#: a record's language (and ?lang= or the cookie of a page): exactly these names, case and - or _ aside
RECORD = {"zh_CN": "zh_CN", "zh-CN": "zh_CN", "zh": "zh_CN", "ZH": "zh_CN", " zh_cn ": "zh_CN",
          "zh_Hans": "zh_CN", "zh-Hans": "zh_CN", "cn": "zh_CN", "CN": "zh_CN", "en": "en", "EN": "en",
          "en_US": "en", "en-US": "en", "en_GB": "en", "en-gb": "en"}
#: WARDROUND_LANG: any name starting zh or en, and C/POSIX as English; anything else is ignored
OVERRIDE = {**{n: "zh_CN" for n in NAMES if n.strip().lower().startswith("zh")},
            **{n: "en" for n in NAMES
               if n.strip().lower().startswith(("en", "c.", "posix")) or n.strip() in ("C", "c")}}
#: an Accept-Language tag: any starting zh or en (C is no language tag: the pages' default, zh_CN)
ACCEPT = {n: "zh_CN" if n.strip().lower().startswith("zh") else "en" if n.strip().lower().startswith("en")
          else "zh_CN" for n in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_a_records_language_is_one_of_its_exact_names(name: str) -> None:
    assert normalise_language(name) == RECORD.get(name)
    assert choose(name, None, None) == RECORD.get(name, "zh_CN")  # ?lang= reads the same names


@pytest.mark.parametrize("name", NAMES)
def test_wardround_lang_takes_any_chinese_or_english_name_and_the_c_locale(name: str) -> None:
    assert reader_language({"WARDROUND_LANG": name, "LANG": "de_DE.UTF-8"}) == OVERRIDE.get(name, "en")
    assert reader_language({"WARDROUND_LANG": name, "LANG": "zh_CN.UTF-8"}) == OVERRIDE.get(name, "zh_CN")


@pytest.mark.parametrize("name", NAMES)
def test_a_locale_reads_chinese_only_when_it_names_chinese(name: str) -> None:
    expected = "zh_CN" if OVERRIDE.get(name) == "zh_CN" else "en"
    assert reader_language({"LANG": name}, ui_language=lambda: 0x0804) == (expected if name else "zh_CN")


@pytest.mark.parametrize("name", NAMES)
def test_an_accept_language_tag_starting_zh_or_en_chooses_the_page_language(name: str) -> None:
    assert choose(None, None, f"{name};q=0.9") == ACCEPT[name]
    assert choose(None, None, f"fr, {name}") == ACCEPT[name]


def test_none_and_not_a_string_are_no_language() -> None:
    assert normalise_language(None) is None and normalise_language(3) is None
    assert choose(None, None, None) == "zh_CN"
