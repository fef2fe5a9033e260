"""The pages' interface text in zh-CN and en (``collector/web/i18n/*.json``).

The language of a page: ``?lang=`` (remembered in a cookie), else the
cookie, else the browser's ``Accept-Language``, else zh-CN.  A record's own
text is in the record's language whatever the page's.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from checks.languages import LANGUAGES, language_of
from collector.records.i18n import normalise_language

__all__ = ["LANGUAGES", "Worded", "choose", "text"]

_DIR = Path(__file__).resolve().parent / "i18n"


@cache
def _catalog(lang: str) -> dict[str, str]:
    with (_DIR / f"{lang}.json").open(encoding="utf-8") as f:
        return {str(k): str(v) for k, v in json.load(f).items()}


def text(lang: str, key: str, /, **values: Any) -> str:
    template = _catalog(lang).get(key) or _catalog("en").get(key, key)
    return template.format(**values) if values else template


class Worded(str):
    """A message in English (an error's ``detail``, as the API and logs read it) that also names its
    catalogue key: the error page says it in the reader's language (:meth:`in_language`)."""

    __slots__ = ("key", "values")
    key: str
    values: dict[str, Any]

    def __new__(cls, key: str, /, **values: Any) -> Worded:
        obj = super().__new__(cls, text("en", key, **values))
        obj.key, obj.values = key, values
        return obj

    def in_language(self, lang: str) -> str:
        return text(lang, self.key, **self.values)


def choose(query: str | None, cookie: str | None, accept: str | None) -> str:
    for candidate in (query, cookie):
        lang = normalise_language(candidate)
        if lang:
            return lang
    for part in (accept or "").split(","):
        lang = language_of(part.split(";")[0], prefix=True)  # any zh… or en… tag
        if lang:
            return lang
    return "zh_CN"
