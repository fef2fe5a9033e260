"""The agent's YAML config → a frozen :class:`AgentConfig`, every error at once.

Each error reads ``FILE: key.path: what was expected (got ...)``, e.g.::

    agent.yaml: checks[2].every: expected a duration like 30s, 5m, 26h, 7d (got '5 minutes')

Unknown keys are errors (they are usually typos).  :class:`ConfigError`
carries all of them; the CLI prints them and exits 2 before anything starts.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from checks.catalogue import CheckSpec, UnknownCheck, get_check
from checks.params import ParamError, parse_duration, parse_params

__all__ = ["AgentConfig", "CheckConfig", "CollectorConfig", "ConfigError", "load_config",
           "collector_url_problem", "parse_size", "default_spool_path", "redact_url",
           "short_hostname"]

log = logging.getLogger(__name__)

EXIT_CONFIG = 2
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_NAME_HINT = "1-64 letters, digits, '.', '_' or '-' (starting with a letter or digit)"
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$")
_SIZE_UNITS = {None: 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9,
               "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}
_DURATION_HINT = "a duration like 30s, 5m, 26h, 7d"


class ConfigError(Exception):
    """A config that cannot be used; ``errors`` are complete lines ready to print."""

    exit_code = EXIT_CONFIG

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


@dataclass(frozen=True)
class CollectorConfig:
    url: str
    token: str = field(repr=False)
    ca_file: str | None = None
    timeout_s: float = 10.0
    batch_size: int = 500


@dataclass(frozen=True)
class CheckConfig:
    """One configured check instance."""

    check: str
    name: str  # unique among the instances: the job id and the state key
    spec: CheckSpec
    params: Any
    timeout_s: float
    every_s: float | None = None
    cron: str | None = None
    #: report the results under this host instead of the agent's own (a host checked remotely)
    host: str | None = None


@dataclass(frozen=True)
class AgentConfig:
    path: str
    site: str
    host: str
    collector: CollectorConfig | None
    spool: str
    spool_max_age_s: float = 7 * 86400.0
    spool_max_bytes: int = 256 * 2**20
    jitter_s: float = 30.0
    checks: tuple[CheckConfig, ...] = ()


def default_spool_path() -> str:
    if sys.platform == "win32":
        return r"C:\ProgramData\Wardround\spool.db"
    return "/var/lib/wardround/spool.db"


def short_hostname() -> str:
    return socket.gethostname().split(".")[0] or "localhost"


def parse_size(value: Any) -> int:
    """``268435456``, ``"256MiB"``, ``"1 GB"`` → bytes."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int) and value > 0:
        return value
    m = _SIZE_RE.match(value) if isinstance(value, str) else None
    if not m or float(m.group(1)) <= 0:
        raise ValueError
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2)])


class _Errors:
    def __init__(self, file: str):
        self.file = file
        self.lines: list[str] = []

    def add(self, key: str, expected: str, got: Any = ..., *, show: bool = True) -> None:
        if got is not ... and show and "(got " not in expected:
            expected = f"{expected} (got {_show(got)})"
        self.lines.append(f"{self.file}: {key}: {expected}")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _known(allowed: set[str]) -> str:
    return ", ".join(sorted(allowed))


def _check_keys(err: _Errors, where: str, data: Mapping[str, Any], allowed: set[str]) -> None:
    for key in data:
        if key not in allowed:
            path = f"{where}.{key}" if where else str(key)
            err.add(path, f"unknown key (known: {_known(allowed)})")


def _duration(err: _Errors, key: str, value: Any, *, minimum: float = 0.0) -> float | None:
    try:
        seconds = parse_duration(value)
    except ValueError:
        err.add(key, f"expected {_DURATION_HINT}", value)
        return None
    if seconds < minimum:
        err.add(key, f"expected at least {minimum:g}s", value)
        return None
    return seconds


def _str(err: _Errors, key: str, value: Any, *, name: bool = False) -> str | None:
    if not isinstance(value, str) or not value.strip():
        err.add(key, "expected a non-empty string", value)
        return None
    if name and not _NAME_RE.match(value):
        err.add(key, f"expected {_NAME_HINT}", value)
        return None
    return value


def _readable_file(err: _Errors, key: str, value: Any, base: Path) -> Path | None:
    if _str(err, key, value) is None:
        return None
    path = Path(value)
    if not path.is_absolute():
        path = base / path
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        err.add(key, f"expected a readable file ({exc.strerror or type(exc).__name__}: {path})")
        return None
    return path


_TOP_KEYS = {"site", "host", "collector", "spool", "spool_max_age", "spool_max_bytes", "jitter", "checks"}
_COLLECTOR_KEYS = {"url", "token_file", "token", "ca_file", "timeout", "batch_size"}
_CHECK_KEYS = {"check", "name", "host", "every", "cron", "params", "timeout"}


def load_config(path: str | os.PathLike[str], *, need_collector: bool = False) -> AgentConfig:
    """Read, validate and freeze the config at ``path``; raise ConfigError listing every problem.

    ``need_collector``: ``run`` and ``once --push`` cannot work without ``collector``.
    """
    file = os.fspath(path)
    data = _read_yaml(file)
    err = _Errors(file)
    base = Path(file).resolve().parent
    if not isinstance(data, Mapping):
        raise ConfigError([f"{file}: expected a mapping of keys (site, collector, checks, ...) "
                           f"at the top (got {type(data).__name__})"])
    _check_keys(err, "", data, _TOP_KEYS)

    site = _str(err, "site", data["site"], name=True) if "site" in data else None
    if "site" not in data:
        err.add("site", "required: the customer / site this host belongs to, e.g. central-hospital")
    host = _str(err, "host", data["host"], name=True) if "host" in data else short_hostname()
    if host is not None and not _NAME_RE.match(host):
        err.add("host", f"the machine's hostname {host!r} is not {_NAME_HINT}; set host: explicitly")

    collector = None
    if "collector" in data:
        collector = _collector(err, data["collector"], base)
    elif need_collector:
        err.add("collector", "required for `run` and `once --push` (url and token_file)")

    spool = default_spool_path()
    if "spool" in data:
        spool = _str(err, "spool", data["spool"]) or spool
        if not os.path.isabs(spool):
            spool = str(base / spool)
    max_age = _duration(err, "spool_max_age", data.get("spool_max_age", "7d"), minimum=60)
    try:
        max_bytes = parse_size(data.get("spool_max_bytes", 256 * 2**20))
        if max_bytes < 2**20:
            err.add("spool_max_bytes", "expected at least 1 MiB", data["spool_max_bytes"])
    except ValueError:
        err.add("spool_max_bytes", "expected a size like 256MiB, 1GiB or a number of bytes",
                data.get("spool_max_bytes"))
        max_bytes = 0
    jitter = _duration(err, "jitter", data.get("jitter", "30s"))

    checks = _checks(err, data.get("checks", []))
    if err.lines:
        raise ConfigError(err.lines)
    assert site is not None and host is not None and max_age is not None and jitter is not None
    return AgentConfig(path=file, site=site, host=host, collector=collector, spool=spool,
                       spool_max_age_s=max_age, spool_max_bytes=max_bytes, jitter_s=jitter,
                       checks=tuple(checks))


def _read_yaml(file: str) -> Any:
    import yaml

    try:
        with open(file, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError([f"{file}: cannot read the config: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    try:
        return yaml.load(text, Loader=_unique_key_loader())  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = " ".join(str(exc.problem or exc.context or "syntax error").split())
        raise ConfigError([f"{file}: {where}not valid YAML: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{file}: not valid YAML: {' '.join(str(exc).split())}"]) from None


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


def collector_url_problem(url: Any) -> str | None:
    """What is wrong with ``collector.url`` (None: nothing), never echoing a secret.

    Credentials, a query or a fragment are refused: the agent authenticates with its
    token, and anything after ``?`` or ``#`` would end up in logs and error messages.
    """
    if not isinstance(url, str):
        return f"expected an http:// or https:// URL (got a value of type {type(url).__name__})"
    shown = redact_url(url)
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not re.match(r"^https?://[^/\s?#]+", url.strip(),
                                                                     re.IGNORECASE):
        return f"expected an http:// or https:// URL (got {shown!r})"
    if "@" in parts.netloc:
        return ("expected no user:password@ in the URL: the agent authenticates with "
                f"token_file (got {shown!r})")
    if parts.query or url.strip().endswith("?"):
        return f"expected no query (?...) in the URL (got {shown!r})"
    if parts.fragment or "#" in url:
        return f"expected no fragment (#...) in the URL (got {shown!r})"
    if any(c.isspace() for c in url.strip()):
        return f"expected a URL without spaces (got {shown!r})"
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return f"expected a port from 1 to 65535 (got {shown!r})"
    return None


def redact_url(url: str) -> str:
    """``https://user:pw@host:8480/x?token=t#f`` → ``https://***@host:8480/x?***#***``."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    rest, hash_, fragment = rest.partition("#")
    rest, mark, query = rest.partition("?")
    netloc, slash, path = rest.partition("/")
    _, at, hostport = netloc.rpartition("@")
    return (scheme + sep + ("***@" if at else "") + hostport + slash + path
            + ("?***" if query else mark) + ("#***" if fragment else hash_))


def _collector(err: _Errors, raw: Any, base: Path) -> CollectorConfig | None:
    if not isinstance(raw, Mapping):
        err.add("collector", "expected a mapping with url and token_file", raw)
        return None
    _check_keys(err, "collector", raw, _COLLECTOR_KEYS)
    url = raw.get("url")
    if url is None:
        err.add("collector.url", "required, e.g. https://collector.example:8480")
    elif (problem := collector_url_problem(url)) is not None:
        err.add("collector.url", problem)
        url = None
    token = None
    if "token_file" in raw and "token" in raw:
        err.add("collector", "give token_file or token, not both")
    elif "token_file" in raw:
        token_path = _readable_file(err, "collector.token_file", raw["token_file"], base)
        if token_path is not None and os.name == "posix" and token_path.stat().st_mode & 0o077:
            log.warning("collector.token_file %s is readable by other users; "
                        "make it readable only by the agent's user (chmod 600)", token_path)
        if token_path is not None:
            try:
                token = token_path.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError):
                err.add("collector.token_file", f"expected a readable UTF-8 file ({token_path})")
            else:
                if not token or any(c.isspace() for c in token):
                    # never show the content: it may be a token with a stray character
                    err.add("collector.token_file", f"expected one token on one line ({token_path})")
                    token = None
    elif "token" in raw:
        t = raw["token"]
        if not isinstance(t, str) or not t.strip() or any(c.isspace() for c in t.strip()):
            err.add("collector.token", "expected the agent token as one word (prefer token_file)")
        else:
            token = t.strip()
    else:
        err.add("collector.token_file", "required (or token): the file holding the agent token")
    ca_file = None
    if "ca_file" in raw:
        ca_path = _readable_file(err, "collector.ca_file", raw["ca_file"], base)
        ca_file = str(ca_path) if ca_path else None
        if ca_file is not None:
            import ssl

            try:
                ssl.create_default_context(cafile=ca_file)
            except (ssl.SSLError, ValueError) as exc:
                err.add("collector.ca_file", f"expected PEM CA certificates ({ca_file}: "
                        f"{getattr(exc, 'reason', None) or exc})")
                ca_file = None
    timeout = _duration(err, "collector.timeout", raw.get("timeout", "10s"), minimum=1)
    batch = raw.get("batch_size", 500)
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 10_000:
        err.add("collector.batch_size", "expected a whole number from 1 to 10000", batch)
        batch = 500
    if url is None or token is None or timeout is None:
        return None
    return CollectorConfig(url=url, token=token, ca_file=ca_file, timeout_s=timeout, batch_size=batch)


def _checks(err: _Errors, raw: Any) -> list[CheckConfig]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        err.add("checks", "expected a list of checks (- check: disk ...)", raw)
        return []
    out: list[CheckConfig] = []
    names: dict[str, int] = {}
    for i, entry in enumerate(raw):
        where = f"checks[{i}]"
        if not isinstance(entry, Mapping):
            err.add(where, "expected a mapping like {check: disk, every: 5m}", entry)
            continue
        _check_keys(err, where, entry, _CHECK_KEYS)
        spec = None
        if "check" not in entry:
            err.add(f"{where}.check", "required: a name from the check catalogue")
        else:
            try:
                spec = get_check(entry["check"]) if isinstance(entry["check"], str) else None
                if spec is None:
                    raise UnknownCheck(entry["check"])
            except UnknownCheck as exc:
                err.add(f"{where}.check", f"expected a check name from the catalogue: {exc}")
        host = None
        if "host" in entry:
            host = _str(err, f"{where}.host", entry["host"], name=True)
        # A check reported for another host is named check@host unless named: twenty NAS boxes
        # checked by one agent need no twenty names.
        name = entry.get("name", entry.get("check"))
        if "name" in entry:
            name = _str(err, f"{where}.name", entry["name"], name=True)
        elif host is not None and isinstance(name, str):
            name = f"{name}@{host}"
        if isinstance(name, str) and spec is not None:
            if name in names:
                err.add(f"{where}.name", f"{name!r} is already the name of checks[{names[name]}]; "
                        "give each instance of the same check its own name:")
            names[name] = i
        every = cron = None
        if "every" in entry and "cron" in entry:
            err.add(where, "give every or cron, not both")
        elif "every" in entry:
            every = _duration(err, f"{where}.every", entry["every"], minimum=1)
        elif "cron" in entry:
            cron = _cron(err, f"{where}.cron", entry["cron"])
        else:
            err.add(where, "expected every: (e.g. 5m) or cron: (e.g. \"0 8 * * *\")")
        params = None
        if spec is not None:
            raw_params = entry.get("params") or {}
            try:
                params = parse_params(spec.params, raw_params)
            except ParamError as exc:
                for key, message in exc.errors:
                    path = f"{where}.params" if key == "params" else f"{where}.params.{key}"
                    err.add(path, message)
        timeout = None
        if "timeout" in entry:
            timeout = _duration(err, f"{where}.timeout", entry["timeout"], minimum=0.1)
        if spec is None or params is None or not isinstance(name, str) or (every is None and cron is None):
            continue
        if "host" in entry and host is None:
            continue
        out.append(CheckConfig(check=spec.name, name=name, spec=spec, params=params,
                               timeout_s=timeout if timeout is not None else spec.timeout_s,
                               every_s=every, cron=cron, host=host))
    return out


def _cron(err: _Errors, key: str, value: Any) -> str | None:
    if not isinstance(value, str) or len(value.split()) != 5:
        err.add(key, 'expected a 5-field crontab like "0 8 * * *" (minute hour day month weekday)', value)
        return None
    try:
        cron_trigger(value, jitter_s=0)
    except ValueError as exc:
        err.add(key, f"expected a 5-field crontab like \"0 8 * * *\": {exc}", value)
        return None
    return value


def cron_trigger(expr: str, *, jitter_s: float, timezone: Any = None) -> Any:
    """An APScheduler CronTrigger for a 5-field crontab, with jitter.

    Not ``CronTrigger.from_crontab``: in APScheduler 3.x weekday 0 is Monday,
    in crontab it is Sunday, so ``1-5`` would mean Tuesday to Saturday.
    Numeric weekdays are translated to names, which both agree on.
    """
    from apscheduler.triggers.cron import CronTrigger

    minute, hour, day, month, day_of_week = expr.split()
    return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                       day_of_week=crontab_weekdays(day_of_week),
                       timezone=timezone, jitter=int(jitter_s) or None)


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def crontab_weekdays(field: str) -> str:
    """Crontab's weekday field (0 or 7 = Sunday) as APScheduler day names."""
    if field in ("*", "?"):
        return "*"
    days: list[str] = []
    for part in field.split(","):
        span, slash, step_text = part.partition("/")
        if not re.fullmatch(r"\*|\d+(-\d+)?", span):
            days.append(part)  # names (mon-fri) mean the same in both
            continue
        if slash and not step_text.isdigit() or step_text == "0":
            raise ValueError(f"bad step in the weekday field {field!r}")
        step = int(step_text) if slash else 1
        if span == "*":
            lo, hi = 0, 6
        else:
            lo_text, _, hi_text = span.partition("-")
            lo = int(lo_text)
            hi = int(hi_text) if hi_text else (6 if slash else lo)
        if not (0 <= lo <= hi <= 7):
            raise ValueError(f"weekdays run from 0 to 7 (0 and 7 are Sunday), got {part!r}")
        days.extend(_WEEKDAYS[d] for d in range(lo, hi + 1, step))
    return ",".join(dict.fromkeys(days))
