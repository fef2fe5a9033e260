"""What a check says, in every language people read it: message keys and their catalogues.

A check writes its summary and standard with :func:`say`::

    summary=say("disk.used", mount="/", used=41.2, free=2**30, total=2**33)

``say`` returns the English text (a ``str``: today's ``summary``, kept for logs and for
collectors that know no keys) that also carries the key and its arguments;
:class:`checks.result.Result` puts them on the wire as ``message``/``standard_message``
(``{"key": "disk.used", "args": {...}}``, contract.md).  The collector renders them in the
reader's language with :func:`render`, and falls back to the English text for a key it does
not know (a newer agent) or cannot render.

The catalogues are ``checks/messages/{zh_CN,en}.json``: one flat mapping of key to template
per language, ``str.format`` placeholders whose format spec may name how a value is shown
(:data:`KINDS`): ``{age:dur}`` (seconds, :func:`checks._units.format_seconds`), ``{free:bytes}``,
``{used:pct}``, ``{n:num}``, ``{what:t}`` (the argument is another key, rendered without
arguments: a word such as "full backup"), ``{parts:list}`` (a list of nested messages, joined),
``{why:msg}`` (one nested message), ``{days:words}`` (a list of keys, each a word),
``{parts:phrases}`` (nested messages joined by a comma); any other spec is Python's
(``{value:.1f}``).  Both
catalogues have the same keys with the same placeholders, every key is used by a check, and
no Chinese template carries English prose (``tests/checks/test_messages.py``).

Standard library only, a leaf: the collector imports it.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from checks._logs import get as _logger
from checks._units import LANGUAGES, _num, format_bytes, format_seconds
from checks.result import MAX_MESSAGE_DEPTH, MAX_SUMMARY_LEN, Message, MessageArg

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["KINDS", "LANGUAGES", "Said", "answer_body", "catalogue", "error_text", "fit_summary", "joined", "listed",
           "placeholders", "render", "said", "say", "text_of"]

_DIR = Path(__file__).resolve().parent
_JOIN = {"en": "; ", "zh_CN": "；"}
_WORDS = {"en": ",", "zh_CN": "、"}
_COMMA = {"en": ", ", "zh_CN": "，"}
_MARKUP = ("<", ">")
#: templates of another catalogue :func:`render` was given (``more``): the collector's own texts
_MORE: ContextVar[Mapping[str, str] | None] = ContextVar("more_templates", default=None)


@cache
def catalogue(lang: str) -> Mapping[str, str]:
    """The templates of ``lang`` (``zh_CN`` or ``en``) by key."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r} (expected {', '.join(LANGUAGES)})")
    with (_DIR / f"{lang}.json").open(encoding="utf-8") as f:
        data = json.load(f)
    return {str(k): str(v) for k, v in data.items()}


class Said(str):
    """The English text of a message that also carries its :class:`Message` (``.message``)."""

    __slots__ = ("message",)
    message: Message

    def __new__(cls, text: str, message: Message) -> Said:
        obj = super().__new__(cls, text)
        obj.message = message
        return obj


def answer_body(detail: Any, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A refused request's JSON body, as the collector and the relay answer it: ``{"detail": English}`` (or
    ``body``), with ``"message"`` when ``detail`` is a keyed text (:class:`Said`), so an agent says it in its
    reader's language."""
    body = {"detail": str.__str__(detail) if isinstance(detail, str) else detail} if body is None else body
    if isinstance(detail, Said):
        body["message"] = detail.message.to_wire()
    return body


def _arg(value: Any) -> MessageArg:
    """A call's argument as it goes on the wire: scalars as they are, Said as its message."""
    if isinstance(value, Said):
        return value.message
    if isinstance(value, list | tuple):
        return [_arg(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool | Message):
        return value
    return str(value)


def say(key: str, /, **args: Any) -> Said:
    """The message ``key`` with ``args``: its English text, carrying the key and arguments.

    Nested messages (another :func:`say`, or a list of them) are arguments too.  A key or an
    argument the English catalogue cannot render is a bug in the check: logged, and the text
    is the key with its arguments (a check never fails for its wording).
    """
    return said(key, args)


def said(key: str, args: Mapping[str, Any], more: Mapping[str, str] | None = None) -> Said:
    """:func:`say` with the arguments as a mapping; ``more``: the English templates of keys that
    are not checks' own (:func:`render`), e.g. the collector's ticket texts."""
    message = Message(key, {k: _arg(v) for k, v in args.items()})
    text = render(message, "en", more)
    if text is None:
        text = f"{key} {json.dumps(message.to_wire()['args'], ensure_ascii=False, default=str)}"
    return Said(text, message)


def _render_list(value: Any, lang: str, depth: int) -> str:
    if not isinstance(value, list):
        raise TypeError("expected a list of messages")
    return _JOIN[lang].join(_render_one(v, lang, depth) for v in value)


def _render_one(value: Any, lang: str, depth: int) -> str:
    if isinstance(value, Message):
        return _render(value, lang, depth + 1)
    if isinstance(value, str):
        return value
    raise TypeError("expected a message")


def _word(value: Any, lang: str, depth: int) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a key")
    return _render(Message(value, {}), lang, depth + 1)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("expected a number")
    return float(value)


def _words(value: Any, lang: str, depth: int) -> str:
    if not isinstance(value, list):
        raise TypeError("expected a list of keys")
    return _WORDS[lang].join(_word(v, lang, depth) for v in value)


def _phrases(value: Any, lang: str, depth: int) -> str:
    if not isinstance(value, list):
        raise TypeError("expected a list of messages")
    return _COMMA[lang].join(_render_one(v, lang, depth) for v in value)


#: how a placeholder's format spec shows its argument: (value, language, depth) → text
KINDS: Mapping[str, Callable[[Any, str, int], str]] = {
    "dur": lambda v, lang, d: format_seconds(_number(v), lang),
    "bytes": lambda v, lang, d: format_bytes(_number(v)),
    "pct": lambda v, lang, d: f"{_num(_number(v))} %",
    "num": lambda v, lang, d: _num(_number(v)),
    "t": _word,
    "msg": _render_one,
    "list": _render_list,
    "words": _words,
    "phrases": _phrases,
}


class _Formatter(string.Formatter):
    def __init__(self, lang: str, depth: int) -> None:
        self.lang, self.depth = lang, depth

    def get_value(self, key: int | str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if isinstance(key, int):
            raise KeyError(key)  # positional placeholders are not ours
        return kwargs[key]

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion is not None:
            raise ValueError(f"conversion !{conversion} is not allowed")
        return value

    def format_field(self, value: Any, format_spec: str) -> str:
        kind = KINDS.get(format_spec)
        if kind is not None:
            return kind(value, self.lang, self.depth)
        if isinstance(value, Message | list):
            raise TypeError("a nested message needs the msg or list kind")
        return format(value, format_spec)


class _CannotRender(Exception):
    pass


def _render(message: Message, lang: str, depth: int) -> str:
    if depth > MAX_MESSAGE_DEPTH:
        raise _CannotRender("messages nested too deep")
    template = catalogue(lang).get(message.key) or (_MORE.get() or {}).get(message.key)
    if template is None:
        raise _CannotRender(f"unknown key {message.key!r}")
    for value in message.args.values():
        if isinstance(value, str) and any(c in value for c in _MARKUP):
            raise _CannotRender("an argument holds markup")
    try:
        return _Formatter(lang, depth).vformat(template, (), message.args)
    except _CannotRender:
        raise
    except (KeyError, IndexError) as exc:
        raise _CannotRender(f"missing argument {exc}") from None
    except (ValueError, TypeError, AttributeError) as exc:
        raise _CannotRender(f"{type(exc).__name__}: {exc}") from None


def render(message: Message | None, lang: str, more: Mapping[str, str] | None = None) -> str | None:
    """``message`` in ``lang``; None (logged) when it cannot be: an unknown key, a missing or
    mistyped argument, a wrong placeholder in the catalogue, an argument holding markup.

    ``more``: templates (of ``lang``) of keys that are not checks' own, e.g. the collector's ticket
    texts, whose arguments may be checks' messages."""
    if message is None:
        return None
    token = _MORE.set(more)
    try:
        return _render(message, lang, 0)
    except _CannotRender as exc:
        _logger(__name__).warning("message %s not rendered in %s (%s); showing the summary",
                                  message.key[:64], lang, exc)
        return None
    finally:
        _MORE.reset(token)


def text_of(fallback: str, message: Message | None, lang: str, more: Mapping[str, str] | None = None) -> str:
    """What a person reads: ``message`` in ``lang``, else ``fallback`` (the English summary)."""
    text = render(message, lang, more)
    return fallback if text is None else text


def joined(parts: Sequence[str], lang: str) -> str:
    """Texts said one after another in ``lang``: ``a; b`` or ``a；b`` (as a list argument is rendered)."""
    return _JOIN[lang].join(parts)


def listed(names: Sequence[str], limit: int = 12) -> str:
    """The first ``limit`` names joined by ", " (names are identifiers: one argument), and how many more."""
    shown = ", ".join(names[:limit])
    return say("results.more", names=shown, more=len(names) - limit) if len(names) > limit else shown


def error_text(exc: BaseException) -> str:
    """What an error says: its keyed text when it carries one (a ``message`` attribute, or raised
    as ``ValueError(say(...))``), else Python's text of it."""
    for said in (getattr(exc, "message", None), exc.args[0] if exc.args else None):
        if isinstance(said, Said):
            return said
    return str(exc)


def fit_summary(text: str, limit: int = MAX_SUMMARY_LEN) -> str:
    """A summary within the wire's 1,000 characters: a keyed text keeps its key when it fits
    (a text cut short is the plain English text)."""
    return text if len(text) <= limit else str.__str__(text)[:limit]


def placeholders(template: str) -> dict[str, str]:
    """The placeholders of a template with their format specs: ``"{a:dur} {b}"`` → ``{"a": "dur", "b": ""}``."""
    return {name: spec or "" for _, name, spec, _ in string.Formatter().parse(template) if name is not None}
