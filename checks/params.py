"""Typed check parameters: parse a config mapping (or ``k=v`` text) into a dataclass.

Each check declares its parameters as a frozen dataclass whose fields all
have defaults.  :func:`parse_params` turns the raw mapping from the YAML
config (or the strings from ``--param k=v``) into an instance, reporting every
problem at once as ``(key, what was expected)`` pairs.

Supported field types, written as annotations:

=========================  =============================================
annotation                 accepted input
=========================  =============================================
``float`` / ``int``        a number; ``"85"`` from the command line
``str``                    a string
``bool``                   true/false (``yes``/``no``/``1``/``0`` as text)
``Duration``               seconds, or ``"30s"``, ``"5m"``, ``"26h"``, ``"7d"`` (:mod:`checks._units`)
``tuple[str, ...]``        a list, or ``"a,b,c"`` as text
``float | None`` etc.      as above, or null / empty text
=========================  =============================================
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
import types
from collections.abc import Mapping

from checks._units import DURATION_HINT, format_duration, parse_duration

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NewType

__all__ = ["DURATION_HINT", "Duration", "ParamError", "check_above_zero", "check_login", "check_order", "check_percent",
           "check_port", "check_range", "field_types", "format_duration", "parse_duration", "parse_params"]

if TYPE_CHECKING:
    #: Seconds; written in configs as ``30s``, ``5m``, ``26h`` or ``7d`` (the grammar: :mod:`checks._units`).
    Duration = NewType("Duration", float)
else:
    class Duration(float):
        """What ``typing.NewType("Duration", float)`` is to a type checker, without the typing module
        (the agent runs without it, issue 16): ``Duration(x)`` gives back the plain float ``x``, and
        the class is only a marker that :func:`parse_params` reads in annotations."""

        def __new__(cls, value: float) -> float:
            return value


class ParamError(ValueError):
    """Parameters that do not fit a check; ``errors`` lists ``(key, expected)``; ``said``, beside each, its
    ``expected`` as a command-line message (key, words: checks/messages/cli.*.json) or None."""

    def __init__(self, errors: list[tuple[str, str]], said: list[tuple[str, dict[str, object]] | None] | None = None):
        self.errors = errors
        self.said = said or [None] * len(errors)
        super().__init__("; ".join(f"{k}: {m}" for k, m in errors))


class RuleBroken(ValueError):
    """A ``__post_init__`` rule's ``"key: message"`` with that message as a command-line message (``said``:
    key and words), which :class:`ParamError` keeps for the reader's language."""

    def __init__(self, text: str, said: tuple[str, dict[str, object]]):
        super().__init__(text)
        self.said = said


class _Expected(ValueError):
    """What a value should have been, and that as a command-line message key (``cli.config.param_*``)."""

    def __init__(self, text: str, key: str):
        super().__init__(text)
        self.key = key


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def field_types(cls: type) -> dict[str, Any]:
    """The annotations of ``cls`` and its bases as types: what ``typing.get_type_hints`` gives for
    the types parameters use (:func:`_convert`), without importing ``typing`` (issue 16: the agent
    runs without it).  A string annotation is evaluated in its class's module, as there."""
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        module = vars(sys.modules[klass.__module__]) if klass.__module__ in sys.modules else {}
        for name, annotation in vars(klass).get("__annotations__", {}).items():
            hints[name] = eval(annotation, module, dict(vars(klass))) \
                if isinstance(annotation, str) else annotation
    return hints


def _origin(tp: Any) -> Any:
    """``typing.get_origin`` for the annotations :func:`_convert` knows: ``types.UnionType`` for
    ``X | None`` (and ``typing.Optional[X]``, which exists only where ``typing`` was imported)."""
    if isinstance(tp, types.UnionType):
        return types.UnionType
    origin = getattr(tp, "__origin__", None)
    typing = sys.modules.get("typing")
    return types.UnionType if typing is not None and origin is getattr(typing, "Union", None) else origin


def _convert(tp: Any, value: Any, text: bool) -> Any:
    """Convert one value to ``tp``; raise ValueError saying what was expected."""
    origin = _origin(tp)
    if origin is types.UnionType:
        args = [a for a in tp.__args__ if a is not type(None)]
        if value is None or (text and value == ""):
            return None
        if len(args) == 1:
            return _convert(args[0], value, text)
        raise TypeError(f"unsupported parameter type {tp!r}")  # our bug, not the user's
    if tp is Duration:
        try:
            return parse_duration(value)
        except ValueError:
            raise _Expected(f"expected {DURATION_HINT}", "cli.config.param_duration") from None
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise _Expected("expected true or false", "cli.config.param_bool")
    if tp in (int, float):
        if isinstance(value, str) and text:
            try:
                value = float(value)
            except ValueError:
                raise _Expected("expected a number", "cli.config.param_number") from None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise _Expected("expected a number", "cli.config.param_number")
        if tp is int:
            if value != int(value):
                raise _Expected("expected a whole number", "cli.config.param_whole")
            return int(value)
        return float(value)
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise _Expected("expected a string", "cli.config.param_string")
    if origin is tuple:
        (item_tp, *_rest) = tp.__args__
        if isinstance(value, str):
            items: list[Any] = [v.strip() for v in value.split(",") if v.strip()] if text else [value]
        elif isinstance(value, list | tuple):
            items = list(value)
        else:
            raise _Expected("expected a list", "cli.config.param_list")
        return tuple(_convert(item_tp, v, text) for v in items)
    raise TypeError(f"unsupported parameter type {tp!r}")


def parse_params(params_cls: type, raw: Mapping[str, Any] | None, *, text: bool = False) -> Any:
    """Build ``params_cls`` from ``raw``; every problem is reported at once.

    ``text=True`` is for values typed on a command line, where everything is a
    string: ``"85"`` becomes 85.0 and ``"a,b"`` a list.
    """
    raw = raw or {}
    if not isinstance(raw, Mapping):
        raise ParamError([("params", "expected a mapping of parameter names to values")])
    hints = field_types(params_cls)
    fields = {f.name: f for f in dataclasses.fields(params_cls)}
    errors: list[tuple[str, str]] = []
    said: list[tuple[str, dict[str, object]] | None] = []  # beside each error (ParamError.said)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            known = ", ".join(sorted(fields)) or "none"
            errors.append((str(key), f"unknown parameter (known: {known})"))
            said.append(("cli.config.param_unknown", {"known": known}) if fields else None)
            continue
        try:
            values[key] = _convert(hints[key], value, text)
        except ValueError as exc:
            errors.append((key, f"{exc} (got {value!r})" if "(got" not in str(exc) else str(exc)))
            said.append((exc.key, {"got": repr(value)}) if isinstance(exc, _Expected) else None)
    try:
        instance = params_cls(**values)
    except ValueError as exc:  # __post_init__ range and cross-field checks
        key, message = _split_post_init_error(exc)
        # With type errors, the fields that failed hold their defaults here: a range error is
        # reported along with them (one pass) unless it is about one of those fields.
        failed = {k for k, _ in errors}
        if not failed or (key not in failed and not any(re.search(rf"\b{re.escape(k)}\b", message)
                                                        for k in failed)):
            errors.append((key, message))
            said.append(exc.said if isinstance(exc, RuleBroken) else None)
    else:
        if not errors:
            return instance
    raise ParamError(errors, said)


def _split_post_init_error(exc: ValueError) -> tuple[str, str]:
    """``__post_init__`` raises ``ValueError("key: message")``."""
    key, sep, message = str(exc).partition(": ")
    return (key, message) if sep else ("params", str(exc))


# Rules that several checks' parameters share, called from their ``__post_init__``: each raises
# ``ValueError("key: message")`` as :func:`_split_post_init_error` reads it.  The wording a check
# gives (``expected``) is that check's own, as its users have always seen it; the rule is one.

def check_port(key: str, value: int, *, what: str = "", unset_ok: bool = False) -> None:
    """A port 1-65535 (0 too with ``unset_ok``: not given yet); ``what`` names it, e.g. ``a TCP port``."""
    if not (0 if unset_ok else 1) <= value <= 65535:
        raise ValueError(f"{key}: expected {what + ' ' if what else ''}1-65535 (got {value})")


def check_order(params: object, low: str, high: str, unit: str = "") -> None:
    """``low`` must not be above ``high`` (a WARNING threshold below its CRITICAL one, or the
    reverse for days left); either may be None (not judged)."""
    lo, hi = getattr(params, low), getattr(params, high)
    if lo is not None and hi is not None and lo > hi:
        raise RuleBroken(f"{low}: must not be above {high} ({lo:g}{unit} > {hi:g}{unit})",
                         ("cli.config.order", {"high": high, "lo": f"{lo:g}{unit}", "hi": f"{hi:g}{unit}"}))


def check_range(params: object, *keys: str, low: float, high: float, unit: str = "", noun: str = "",
                above_low: bool = False) -> None:
    """Each of ``keys`` from ``low`` to ``high`` (``above_low``: more than ``low``), e.g.
    ``count: expected 1 to 1000 probes (got 5000)`` or ``wait: expected more than 0 s and at most 60 s``."""
    for key in keys:
        v = getattr(params, key)
        if (low < v if above_low else low <= v) and v <= high:
            continue
        got = f"{v:g}" if isinstance(v, float) else v
        if above_low:
            raise ValueError(f"{key}: expected more than {low:g}{unit} and at most {high:g}{unit} (got {got})")
        raise ValueError(f"{key}: expected {low:g}{unit} to {high:g}{unit}{noun} (got {got})")


def check_percent(params: object, *keys: str) -> None:
    for key in keys:
        v = getattr(params, key)
        if not 0 <= v <= 100:
            raise ValueError(f"{key}: expected a percentage between 0 and 100 (got {v:g})")


def check_above_zero(params: object, *keys: str, expected: str = "expected a duration above 0") -> None:
    for key in keys:
        if getattr(params, key) <= 0:
            raise ValueError(f"{key}: {expected}")


def check_login(params: object, *required: str) -> None:
    """An SSH login: each of ``required`` (the user, the known host keys...) is given, and a key
    file or a password file."""
    for key in required:
        if not getattr(params, key):
            raise ValueError(f"{key}: required")
    if not any(getattr(params, key) for key in ("key_file", "password_file")):
        raise ValueError("key_file: give key_file or password_file")
