"""Check entries — agent.yaml's ``checks:`` and each template of the fleet file — validated one way.

The agent validates its own file with :func:`check_entries`; ``wardround-collector
fleet apply`` validates every template of a fleet file with the same function, and the
agent validates what ``GET /api/v1/agent/config`` hands it with it once more.  So a
fleet file the collector accepts is one every agent accepts.

Each problem reads ``FILE: key.path: what was expected (got ...)``::

    agent.yaml: checks[2].every: expected a duration like 30s, 5m, 26h, 7d (got '5 minutes')
    fleet.yaml: templates.base-linux[0].params.warn: expected a number (got 'high')

Imports: the standard library, PyYAML, :mod:`checks.params`, :mod:`checks._cron` and :mod:`checks.catalogue`, which
reads a check's parameters dataclass from its leaf module ``checks/_params/<check>.py`` and
imports no check (:func:`checks.catalogue.params_of`; the four check packages aside).  Check modules import
their heavy libraries (psutil, pyodbc, paramiko, icmplib) inside the functions that
measure, never at module level, so the collector — which imports this module and not
the agent — validates a fleet file without them (``tests/collector/test_imports.py``
proves it with those libraries made unimportable).  Cron expressions are read by
:mod:`checks._cron`, the reader the agent's scheduler asks for every fire time.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from checks._cron import CronError, parse_cron
from checks.catalogue import CATALOGUE, CheckSpec, UnknownCheck, default_timeout, get_check, params_of
from checks.params import DURATION_HINT, ParamError, parse_duration, parse_params
from checks.result import is_name  # the one name rule: sites, hosts, check instances

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["CheckConfig", "ENTRY_KEYS", "NAME_HINT", "Problems", "check_entries", "check_keys",
           "forget_yaml_loader", "is_name", "parse_yaml", "read_duration", "read_text"]

NAME_HINT = "1-64 letters, digits, '.', '_' or '-' (starting with a letter or digit)"
ENTRY_KEYS = frozenset({"check", "name", "host", "every", "cron", "params", "timeout"})


@dataclass(frozen=True)
class CheckConfig:
    """One configured check instance."""

    check: str
    name: str  # unique among the instances: the job id and the state key
    params: Any
    timeout_s: float
    every_s: float | None = None
    cron: str | None = None
    #: report the results under this host instead of the agent's own (a host checked remotely)
    host: str | None = None
    #: the entry as written (JSON-compatible), to compare and to hand on
    raw: Mapping[str, Any] | None = None

    @property
    def spec(self) -> CheckSpec:
        """The check itself (imports its module): for the agent, which runs it."""
        return get_check(self.check)


class Problems:
    """Every problem of one file, as complete lines ``FILE: key: expected``; ``said``: beside each line,
    its ``expected`` as a command-line message (key, words) with the value shown, for the reader's
    language (``checks.messages.reader.tell_problem``), or None."""

    def __init__(self, file: str):
        self.file = file
        self.lines: list[str] = []
        self.said: list[Said | None] = []

    def add(self, key: str, expected: str, got: Any = ..., *, show: bool = True,
            said: tuple[str, dict[str, object]] | None = None) -> None:
        shown = ""
        if got is not ... and show and "(got " not in expected:
            shown = _show(got)
            expected = f"{expected} (got {shown})"
        prefix = f"{self.file}: {key}: " if key else f"{self.file}: "
        self.lines.append(prefix + expected)
        self.said.append(None if said is None else (prefix, said[0], said[1], shown))

    def add_error(self, key: str, exc: BaseException) -> None:
        """``exc``'s text as the problem of ``key``, told in the reader's language when it carries a message
        key (:func:`checks.messages.error_text`: raised as ``ValueError(cli_said(...))``)."""
        from checks.messages import error_text

        text = error_text(exc)
        self.add_told(key, text)

    def add_told(self, key: str, text: str) -> None:
        """``text`` as the problem of ``key``, told in the reader's language when it is a keyed text
        (:func:`checks.messages.reader.cli_said`)."""
        from checks.messages import Said as Keyed

        self.add(key, str.__str__(text), said=("cli.config.said", {"what": text}) if isinstance(text, Keyed) else None)


#: a problem's line as a command-line message: (``FILE: key: ``, message key, its words, the value shown or "")
Said = tuple[str, str, dict[str, object], str]


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_keys(problems: Problems, where: str, data: Mapping[str, Any], allowed: set[str] | frozenset[str]) -> None:
    for key in data:
        if key not in allowed:
            path = f"{where}.{key}" if where else str(key)
            known = ", ".join(sorted(allowed))
            problems.add(path, f"unknown key (known: {known})", said=("cli.config.unknown_key", {"known": known}))


def read_duration(problems: Problems, key: str, value: Any, *, minimum: float = 0.0) -> float | None:
    try:
        seconds = parse_duration(value)
    except ValueError:
        problems.add(key, f"expected {DURATION_HINT}", value, said=("cli.config.duration", {}))
        return None
    if seconds < minimum:
        problems.add(key, f"expected at least {minimum:g}s", value,
                     said=("cli.config.at_least", {"minimum": f"{minimum:g}s"}))
        return None
    return seconds


def read_text(problems: Problems, key: str, value: Any, *, name: bool = False) -> str | None:
    if not isinstance(value, str) or not value.strip():
        problems.add(key, "expected a non-empty string", value, said=("cli.config.non_empty", {}))
        return None
    if name and not is_name(value):
        problems.add(key, f"expected {NAME_HINT}", value, said=("cli.config.name", {}))
        return None
    return value


def check_entries(problems: Problems, where: str, raw: Any) -> list[CheckConfig]:
    """The check entries of the list ``raw`` found at ``where`` (``checks``, ``templates.base``).

    Every problem goes to ``problems``; only sound entries are returned.  Names are unique
    within the list (an entry's name is its ``name``, else its check, ``check@host`` for a
    host checked remotely).
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.add(where, "expected a list of checks (- check: disk ...)", raw,
                     said=("cli.config.checks_list", {"example": "- check: disk ..."}))
        return []
    out: list[CheckConfig] = []
    names: dict[str, int] = {}
    for i, entry in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(entry, Mapping):
            problems.add(at, "expected a mapping like {check: disk, every: 5m}", entry,
                         said=("cli.config.entry_mapping", {"example": "{check: disk, every: 5m}"}))
            continue
        check_keys(problems, at, entry, ENTRY_KEYS)
        check: str | None = None
        params_type: type | None = None
        if "check" not in entry:
            problems.add(f"{at}.check", "required: a name from the check catalogue",
                         said=("cli.config.check_required", {}))
        else:
            try:
                params_type = params_of(entry["check"])
                check = entry["check"]
            except UnknownCheck as exc:
                problems.add(f"{at}.check", f"expected a check name from the catalogue: {exc}", said=(
                    "cli.config.unknown_check", {"name": repr(entry["check"]), "known": ", ".join(sorted(CATALOGUE))}))
        host = None
        if "host" in entry:
            host = read_text(problems, f"{at}.host", entry["host"], name=True)
        # A check reported for another host is named check@host unless named: twenty NAS boxes
        # checked by one agent need no twenty names.
        name = entry.get("name", entry.get("check"))
        if "name" in entry:
            name = read_text(problems, f"{at}.name", entry["name"], name=True)
        elif host is not None and isinstance(name, str):
            name = f"{name}@{host}"
        if isinstance(name, str) and check is not None:
            if name in names:
                problems.add(f"{at}.name", f"{name!r} is already the name of {where}[{names[name]}]; "
                             "give each instance of the same check its own name:",
                             said=("cli.config.name_taken", {"name": repr(name), "other": f"{where}[{names[name]}]"}))
            names[name] = i
        every = cron = None
        if "every" in entry and "cron" in entry:
            problems.add(at, "give every or cron, not both", said=("cli.config.not_both", {"a": "every", "b": "cron"}))
        elif "every" in entry:
            every = read_duration(problems, f"{at}.every", entry["every"], minimum=1)
        elif "cron" in entry:
            cron = _cron(problems, f"{at}.cron", entry["cron"])
        else:
            problems.add(at, "expected every: (e.g. 5m) or cron: (e.g. \"0 8 * * *\")",
                         said=("cli.config.every_or_cron", {"every": "every:", "cron": "cron:"}))
        params = None
        if params_type is not None:
            try:
                params = parse_params(params_type, entry.get("params") or {})
            except ParamError as exc:
                for (key, message), said in zip(exc.errors, exc.said, strict=True):
                    problems.add(f"{at}.params" if key == "params" else f"{at}.params.{key}", message, said=said)
        timeout = None
        if "timeout" in entry:
            timeout = read_duration(problems, f"{at}.timeout", entry["timeout"], minimum=0.1)
        if check is None or params is None or not isinstance(name, str) or (every is None and cron is None):
            continue
        if "host" in entry and host is None:
            continue
        out.append(CheckConfig(check=check, name=name, params=params,
                               timeout_s=timeout if timeout is not None else default_timeout(check),
                               every_s=every, cron=cron, host=host, raw=dict(entry)))
    return out


def _cron(problems: Problems, key: str, value: Any) -> str | None:
    example = '"0 8 * * *"'
    if not isinstance(value, str):
        problems.add(key, f"expected a 5-field crontab like {example} (minute hour day month weekday)", value,
                     said=("cli.config.crontab", {"example": example}))
        return None
    try:
        parse_cron(value)  # the one crontab reader: the agent's scheduler asks it for every fire time
    except CronError as exc:
        from checks.messages import error_text

        problems.add(key, f"expected a 5-field crontab like {example}: {exc}", value,
                     said=("cli.config.crontab_why", {"example": example, "why": error_text(exc)}))
        return None
    return value


def parse_yaml(text: str, file: str) -> Any:
    """YAML ``text`` (safe types only) with every key given once; ValueError ``FILE: line L, column C: ...``."""
    import yaml

    try:
        return yaml.load(text, Loader=_unique_key_loader())  # noqa: S506 (a SafeLoader subclass)
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise ValueError(_yaml_error(exc, file)) from None


def _yaml_error(exc: BaseException, file: str) -> str:
    """``parse_yaml``'s error as a keyed text (said in the reader's language); the messages' module is loaded
    only here (a running agent keeps it out)."""
    import yaml

    from checks.messages.reader import cli_said

    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark
        problem = " ".join(str(exc.problem or exc.context or "syntax error").split())
        if mark:
            return cli_said("cli.config.yaml_at", file=file, line=mark.line + 1, column=mark.column + 1,
                            problem=problem)
        return cli_said("cli.config.yaml_in", file=file, problem=problem)
    if isinstance(exc, RecursionError):  # nesting too deep
        return cli_said("cli.config.yaml_deep_in", file=file)
    # another YAMLError, or a date that does not exist (2026-02-30)
    return cli_said("cli.config.yaml_in", file=file, problem=" ".join(str(exc).split()))


def forget_yaml_loader() -> None:
    """Drop the cached loader class, which holds PyYAML: for a caller that unloads PyYAML after
    reading its config (the agent, agent/config.py), so its memory can be freed."""
    _unique_key_loader.cache_clear()


@functools.cache
def _unique_key_loader() -> type:
    import yaml

    class Loader(yaml.SafeLoader):  # type: ignore[misc,unused-ignore]  # PyYAML ships no types
        """``yaml.safe_load`` that refuses a key given twice (the second would silently win)."""

    def construct_mapping(loader: Any, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark)
            seen.add(key if isinstance(key, str) else id(key_node))
        return yaml.SafeLoader.construct_mapping(loader, node, deep)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return Loader
