"""The language of the person at a command line: zh_CN or en.

``WARDROUND_LANG`` (``zh_CN``, ``zh``, ``en`` …) chooses it outright.  Otherwise the POSIX
locale of messages: the first non-empty of ``LC_ALL``, ``LC_MESSAGES``, ``LANG``; a locale
``zh…`` (``zh_CN.UTF-8``, ``zh_CN.GBK``, ``zh_TW``) reads Chinese, any other (``C``,
``C.UTF-8``, ``en_US.UTF-8``, ``de_DE``) English.  On Windows, where none of these is usually
set, the user's display language (``GetUserDefaultUILanguage``): Chinese reads Chinese.

:func:`tell` says a command line's text (``checks/messages/cli.{zh_CN,en}.json``, ``cli.*`` keys,
rendered by :mod:`checks.messages` with the checks' value formatter) in that language;
``wardround-agent`` and ``wardround-collector`` use it for what they print for a person.

Standard library only, imported only by a command that prints something.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from checks.languages import language_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["OVERRIDE", "aligned", "cli_said", "cli_templates", "reader_language", "tell", "tell_error",
           "tell_problem", "told", "windows_ui_language", "worded_said"]

#: the environment variable that chooses the language outright
OVERRIDE = "WARDROUND_LANG"
_LOCALE = ("LC_ALL", "LC_MESSAGES", "LANG")
_LANG_CHINESE = 0x04  # the primary language of a Windows LANGID (0x0804 zh-CN, 0x0404 zh-TW …)


def _language_of(value: str) -> str | None:
    """``zh_CN``/``en`` for a language or locale name (:func:`checks.languages.language_of`); None for one
    naming neither."""
    return language_of(value, prefix=True, locale=True)


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
    """``key`` with ``args`` for a terminal, which takes ``<``/``>`` as they are: masked while rendered
    (:func:`_masked`), so a word holding them (``warn: must not be above crit (95 > 90)``, ``got '<5'``)
    is said, not refused as markup."""
    from checks.messages import said, text_of

    english = said(key, {k: _masked(v) for k, v in args.items()}, cli_templates("en"))
    lang = reader_language()
    text = str.__str__(english) if lang == "en" else text_of(str.__str__(english), english.message, lang,
                                                             cli_templates(lang))
    return str(_masked(text, back=True))


@cache
def cli_templates(lang: str) -> Mapping[str, str]:
    """The command lines' templates of ``lang`` (``checks/messages/cli.{lang}.json``: ``cli.*`` keys),
    rendered by :func:`checks.messages.render` beside the checks' own (its ``more``); loaded only
    when a command prints (the checks' catalogue, which a running agent holds, does not carry them)."""
    from checks.messages import catalogue

    catalogue(lang)  # the same languages (ValueError for another)
    with (Path(__file__).resolve().parent / f"cli.{lang}.json").open(encoding="utf-8") as f:
        return {str(k): str(v) for k, v in json.load(f).items()}


def tell_error(exc: object, more: Mapping[str, str] | None = None) -> str:
    """What an error says to the reader: its command-line message when it carries one (``key`` and
    ``words``, e.g. :class:`agent.Worded` or an outcome that kept them; or a keyed text, :func:`cli_said`
    or the collector's own with its templates in ``more``), else its own (English) text."""
    key, words = getattr(exc, "key", ""), getattr(exc, "words", None)
    if key and isinstance(words, dict):
        return _told(key, words)
    if not isinstance(exc, BaseException):
        return str(exc)
    from checks.messages import error_text

    return told(error_text(exc), more)


def told(text: str, more: Mapping[str, str] | None = None) -> str:
    """A keyed text (:func:`cli_said`; the collector's own with its templates in ``more``) in the reader's
    language; any other text as it is."""
    from checks.messages import Said, text_of

    if not isinstance(text, Said):
        return text
    lang = reader_language()
    english = str.__str__(text)
    if lang == "en":
        return english
    worded = text_of(english, _masked(text.message), lang, {**cli_templates(lang), **(more or {})})
    return str(_masked(worded, back=True))


def aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    """``rows`` as the lines of a table for a terminal: every column but the last padded to its widest
    cell, two spaces apart; a Chinese character takes two cells (East Asian wide)."""
    import unicodedata

    def width(text: str) -> int:
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)

    widths = [max(width(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join([*(cell + " " * (w - width(cell)) for cell, w in zip(row, widths, strict=False)), row[-1]])
            .rstrip() for row in rows]


def tell_problem(line: str, said: tuple[str, str, Mapping[str, object], str] | None) -> str:
    """A config or fleet file's problem line (``FILE: key: expected``, :class:`checks.entries.Problems`) for
    the reader: its ``expected`` from its message key when it has one (``said``), the file and key as they are."""
    if said is None or reader_language() == "en":  # the line is the English text
        return line
    prefix, key, words, shown = said
    return prefix + _told(key, words) + (_told("cli.config.got", {"got": shown}) if shown else "")


def cli_said(key: str, /, **args: object) -> str:
    """The English text of the command-line message ``key`` carrying its key and arguments (a
    :class:`checks.messages.Said`): for an error raised now and told later (:func:`tell_error`).

    A word holding ``<`` or ``>`` (another program's detail: PyYAML's ``found '<stream end>'``) is written as it
    is; :func:`checks.messages.render` refuses markup in the words of a text it renders for a page."""
    return _keyed(key, args)


def worded_said(exc: BaseException) -> str:
    """An error that carries a command-line message (``key`` and ``words``: :class:`agent.Worded`) as a keyed text
    (:func:`cli_said`), e.g. a word of another keyed text; any other error as its text."""
    key, words = getattr(exc, "key", ""), getattr(exc, "words", None)
    return _keyed(key, words) if key and isinstance(words, dict) else str(exc)


def _keyed(key: str, args: Mapping[str, object]) -> str:
    from checks.messages import Said, said
    from checks.result import Message

    english = said(key, {k: _masked(v) for k, v in args.items()}, cli_templates("en"))
    words = {k: _masked(v, back=True) for k, v in english.message.args.items()}
    return Said(_masked(str.__str__(english), back=True), Message(key, words))


_MASK = {"<": "\ue000", ">": "\ue001"}  # private-use characters no text holds


def _masked(value: Any, back: bool = False) -> Any:
    """A plain text's ``<``/``>`` as private-use characters (``back``: the other way), a keyed text's and a nested
    message's words too (``cli_said(key, what=cli_said(...))``), any other value as it is."""
    from checks.messages import Said
    from checks.result import Message

    if isinstance(value, Said):
        return Said(_masked(str.__str__(value), back), _masked(value.message, back))
    if isinstance(value, Message):
        return Message(value.key, {k: _masked(v, back) for k, v in value.args.items()})
    if isinstance(value, list):
        return [_masked(v, back) for v in value]
    if type(value) is not str:
        return value
    for mark, mask in _MASK.items():
        value = value.replace(mask, mark) if back else value.replace(mark, mask)
    return value
