"""The language of the person at a command line: zh_CN or en.

``WARDROUND_LANG`` (``zh_CN``, ``zh``, ``en`` …) chooses it outright.  Otherwise the POSIX
locale of messages: the first non-empty of ``LC_ALL``, ``LC_MESSAGES``, ``LANG``; a locale
``zh…`` (``zh_CN.UTF-8``, ``zh_CN.GBK``, ``zh_TW``) reads Chinese, any other (``C``,
``C.UTF-8``, ``en_US.UTF-8``, ``de_DE``) English.  On Windows, where none of these is usually
set, the user's display language (``GetUserDefaultUILanguage``): Chinese reads Chinese.

Standard library only, imported only by a command that prints something.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path

__all__ = ["OVERRIDE", "cli_templates", "reader_language", "tell", "tell_error", "windows_ui_language"]

#: the environment variable that chooses the language outright
OVERRIDE = "WARDROUND_LANG"
_LOCALE = ("LC_ALL", "LC_MESSAGES", "LANG")
_LANG_CHINESE = 0x04  # the primary language of a Windows LANGID (0x0804 zh-CN, 0x0404 zh-TW …)


def _language_of(value: str) -> str | None:
    """``zh_CN``/``en`` for a language or locale name; None for one naming neither."""
    v = value.strip().replace("-", "_").lower()
    if v.startswith("zh"):
        return "zh_CN"
    if v.startswith("en") or v.split(".")[0] in ("c", "posix"):
        return "en"
    return None


def windows_ui_language() -> int | None:
    """The LANGID of the Windows user's display language; None elsewhere or when it cannot be read."""
    try:
        import ctypes

        windll = ctypes.windll  # type: ignore[attr-defined,unused-ignore]  # ctypes: Windows-only
        return int(windll.kernel32.GetUserDefaultUILanguage())
    except (ImportError, AttributeError, OSError, ValueError):
        return None


def reader_language(environ: Mapping[str, str] | None = None,
                    ui_language: Callable[[], int | None] | None = None) -> str:
    """``zh_CN`` or ``en``: the language the reader of this command's output reads (module doc).

    ``environ``: the environment (default ``os.environ``); ``ui_language``: the Windows display
    language's LANGID (default :func:`windows_ui_language` on Windows, none elsewhere)."""
    env = os.environ if environ is None else environ
    chosen = _language_of(env.get(OVERRIDE, ""))
    if chosen is not None:
        return chosen
    for name in _LOCALE:
        value = env.get(name, "")
        if value:
            return "zh_CN" if _language_of(value) == "zh_CN" else "en"
    if ui_language is None and sys.platform == "win32":
        ui_language = windows_ui_language
    langid = ui_language() if ui_language is not None else None
    return "zh_CN" if langid is not None and langid & 0x3FF == _LANG_CHINESE else "en"



def tell(key: str, /, **args: object) -> str:
    """The command-line text ``key`` (:func:`cli_templates`; a check's key such as ``status.ok`` too), values
    through the checks' formatter, in the reader's language; the English text when it cannot be rendered
    in the reader's."""
    return _told(key, args)


def _told(key: str, args: Mapping[str, object]) -> str:
    from checks.messages import said, text_of

    english = said(key, args, cli_templates("en"))
    lang = reader_language()
    if lang == "en":
        return str.__str__(english)
    return text_of(str.__str__(english), english.message, lang, cli_templates(lang))


@cache
def cli_templates(lang: str) -> Mapping[str, str]:
    """The command lines' templates of ``lang`` (``checks/messages/cli.{lang}.json``: ``cli.*`` keys),
    rendered by :func:`checks.messages.render` beside the checks' own (its ``more``); loaded only
    when a command prints (the checks' catalogue, which a running agent holds, does not carry them)."""
    from checks.messages import catalogue

    catalogue(lang)  # the same languages (ValueError for another)
    with (Path(__file__).resolve().parent / f"cli.{lang}.json").open(encoding="utf-8") as f:
        return {str(k): str(v) for k, v in json.load(f).items()}


def tell_error(exc: BaseException) -> str:
    """What an error says to the reader: its command-line message when it carries one (``key`` and
    ``words``, e.g. :class:`agent.Worded`), else its own (English) text."""
    key, words = getattr(exc, "key", ""), getattr(exc, "words", None)
    return _told(key, words) if key and isinstance(words, dict) else str(exc)
