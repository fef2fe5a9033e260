"""Collector settings: defaults, an optional YAML file, then command-line flags.

Precedence, highest first: a command-line flag, the config file, the
``WARDROUND_DB`` / ``WARDROUND_KEY_FILE`` environment variables (database URL,
signing key file), the default.  The config file is ``--config F``, else
``$WARDROUND_CONFIG``, else ``/etc/wardround/collector.yaml`` when it exists (where
the install script puts it; one this user may not look at counts as existing: reading it says why),
so ``token create`` run by hand uses the database ``serve`` uses.  :attr:`Settings.db_source` says
where the database came from.

The config file (every key optional)::

    db: postgresql+psycopg://wardround@db.example/wardround
    listen:
      host: 0.0.0.0        # default 127.0.0.1 (local only)
      port: 8480
    workers: 1
    max_body_bytes: 8388608  # cap on a request body, before and after gzip
    notifications: {...}     # e-mail and webhooks of ticket events: docs/notifications.md
    policy_file: policies.yaml  # site policies for tickets (docs/tickets.md); relative to this file
    sweep_seconds: 30        # how often serve checks deadlines and silent agents (0: never)
    key_file: /etc/wardround/collector.key  # the signing key (collector/keys.py); relative to this file
    http:                    # slow or too many clients (collector/httpserver.py)
      header_timeout: 10s    # a request's headers must have arrived within this
      body_timeout: 60s      # ...and its body within this after the headers
      keep_alive: 5s         # an idle kept-alive connection is closed after this
      max_connections: 4096  # at most this many open connections (less if the file limit is low)
    trusted_proxies: [10.0.0.5, 192.168.10.0/24]  # reverse proxies whose X-Forwarded-Proto/-For count
    retention:               # what is kept how long (collector/retention.py, docs/deploy.md)
      results: 100d          # raw results (the default and the least: the quarterly record reads them)
      rollups: 1095d         # day roll-ups (default; at least 400d: the annual record reads them)
      ticket_events: 1095d   # history of tickets done before then (default; at least 400d, or never)
      audit: 1095d           # the audit log (default; at least 180d per 网络安全法 §21, or never)
      records: never         # issued records are never deleted

Every fault in the file is reported at once, each as ``FILE: key: expected ...``
(:class:`ConfigError`, exit code 2).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from checks.entries import Problems, Said
from checks.messages.reader import cli_said
from collector.keys import default_key_file
from collector.notify.config import NotifyConfig, parse_duration, parse_notifications
from collector.retention import Retention, parse_retention

__all__ = ["ConfigError", "HttpLimits", "Settings", "DEFAULT_DB_URL", "DEFAULT_PORT", "load_settings"]

DEFAULT_DB_URL = "sqlite:///wardround.db"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8480
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
DB_ENV = "WARDROUND_DB"
KEYS = ("db", "listen", "workers", "max_body_bytes", "notifications", "policy_file", "sweep_seconds", "key_file",
        "http", "trusted_proxies", "retention")
HTTP_KEYS = ("header_timeout", "body_timeout", "keep_alive", "max_connections")
CONFIG_ENV = "WARDROUND_CONFIG"
INSTALLED_CONFIG = "/etc/wardround/collector.yaml"


def installed_config(path: str | None = None, stat: Callable[[str], os.stat_result] = os.stat) -> str | None:
    """``path`` (default :data:`INSTALLED_CONFIG`) when the installed config is there, None when it is not.
    One this user cannot even look at (``/etc/wardround`` it may not enter: ``install-linux.sh --agent`` once
    locked the collector out) is there too: reading it then says so (exit 2), where taking it for absent ran
    the command on the default database and key without a word."""
    path = INSTALLED_CONFIG if path is None else path
    try:
        st = stat(path)
    except PermissionError:
        return path
    except OSError:
        return None
    import stat as modes

    return path if modes.S_ISREG(st.st_mode) else None


class ConfigError(ValueError):
    """A config file (or flag) the collector cannot use; exit code 2."""

    exit_code = 2

    def __init__(self, problems: list[str], said: Sequence[Said | None] = ()) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
        #: beside each line, the same as a command-line message (:class:`checks.entries.Problems`), or None
        self.said = list(said) or [None] * len(problems)


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What the HTTP server allows a client: see :mod:`collector.httpserver`."""

    header_timeout: float = 10.0  # seconds for a request's headers (from connect, or from its first byte)
    body_timeout: float = 60.0  # seconds for its body, after the headers
    keep_alive: float = 5.0  # seconds an idle kept-alive connection stays open
    max_connections: int = 4096  # open connections at most (lowered to fit the process's file limit)


@dataclass(frozen=True, slots=True)
class Settings:
    db_url: str = DEFAULT_DB_URL
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    workers: int = 1
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    notifications: NotifyConfig | None = None  # the ``notifications:`` section, if any
    policy_file: str | None = None  # ticket policies (collector/policy/); None: built-in defaults
    sweep_seconds: int = 30  # the ticket sweep's interval in serve (0: off)
    key_file: str = dataclasses.field(default_factory=default_key_file)  # the signing key (collector/keys.py)
    http: HttpLimits = HttpLimits()
    trusted_proxies: tuple[str, ...] = ()  # addresses/networks whose forwarded headers are believed
    retention: Retention = Retention()  # the ``retention:`` section (collector/retention.py)
    db_source: str = "the default"  # where db_url came from: "--db", "config F", "$WARDROUND_DB", "the default"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def routing(self) -> bool:
        """Whether ``serve`` routes and sends ticket events: the ``notifications:`` section has channels."""
        return self.notifications is not None and bool(self.notifications.channels)


def _int(value: Any, low: int, high: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return None
    return value


#: what a file that cannot be read is called in its message (read_yaml_file's ``what``) → its message key
_CANNOT_READ = {"": "cli.config.cannot_read_file", "policy file": "cli.config.cannot_read_policy",
                "holiday calendar": "cli.config.cannot_read_holidays"}


def _file_error(path: Path, text: str, key: str, **words: object) -> ConfigError:
    """A whole file's fault: ``FILE: text``, told in the reader's language by ``key`` with ``words``."""
    return ConfigError([f"{path}: {text}"], [(f"{path}: ", key, dict(words), "")])


def read_yaml_file(path: Path, what: str = "") -> Any:
    """The file's YAML document; :class:`ConfigError` if it cannot be read or parsed (``what``: the file's
    name in the message when it cannot be read: ``policy file`` or ``holiday calendar``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        error = str(exc.strerror or exc)
        raise _file_error(path, f"cannot read{f' the {what}' if what else ''}: {error}", _CANNOT_READ[what],
                          error=error) from exc
    except UnicodeDecodeError as exc:
        raise _file_error(path, "expected UTF-8 text", "cli.config.utf8") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = str(getattr(exc, "problem", exc))
        if mark is None:
            raise _file_error(path, f"not valid YAML: {problem}", "cli.config.yaml", problem=problem) from exc
        raise _file_error(path, f"not valid YAML (line {mark.line + 1}): {problem}", "cli.config.yaml_line",
                          line=mark.line + 1, problem=problem) from exc
    except RecursionError as exc:  # nesting too deep
        raise _file_error(path, "not valid YAML: nested too deeply", "cli.config.yaml_deep") from exc
    except ValueError as exc:  # a date that does not exist (2026-02-30)
        raise _file_error(path, f"not valid YAML: {exc}", "cli.config.yaml", problem=str(exc)) from exc


def _text(raw: Any) -> str | None:
    return raw.strip() if isinstance(raw, str) and raw.strip() else None


def _file(raw: Any, folder: Path) -> str | None:
    """A path, relative to the config file's folder."""
    text = _text(raw)
    return None if text is None else str(folder / text)


def _within(low: int, high: int) -> Callable[[Any, Path], int | None]:
    return lambda raw, folder: _int(raw, low, high)


# The numbers and files of the file (each a Settings field of that name): key → (its reader, which returns None
# for a wrong value, and what a wrong value is told: English text, message key and its words).
_VALUES: dict[str, tuple[Callable[[Any, Path], Any], str, tuple[str, dict[str, object]]]] = {
    "workers": (_within(1, 64), "expected an integer 1-64", ("cli.config.integer", {"low": 1, "high": 64})),
    "max_body_bytes": (_within(1024, 1024**3), "expected an integer 1024-1073741824",
                       ("cli.config.integer", {"low": 1024, "high": 1024**3})),
    "policy_file": (_file, "expected the path of a policies YAML file", ("cli.config.policy_path", {})),
    "key_file": (_file, "expected the path of the collector's signing key file", ("cli.config.key_path", {})),
    "sweep_seconds": (_within(0, 86400), "expected an integer 0-86400 (0 turns the sweep off)",
                      ("cli.config.sweep", {"low": 0, "high": 86400})),
}


def unknown_key(p: Problems, key: str, known: Sequence[str], more: str = "") -> None:
    """``key`` is none of ``known`` (the collector's files say "expected", the agent's "known"); ``more``: a
    pointer to the docs appended (``see docs/deploy.md``)."""
    listed = ", ".join(known)
    if more:
        p.add(key, f"unknown key (expected {listed}; see {more})", said=("cli.config.unknown_key_see",
                                                                         {"expected": listed, "doc": more}))
    else:
        p.add(key, f"unknown key (expected {listed})", said=("cli.config.unknown_key_expected", {"expected": listed}))


def _listen(listen: Any, p: Problems, out: dict[str, Any]) -> None:
    """``listen: {host, port}`` into ``out``."""
    if not isinstance(listen, Mapping):
        p.add("listen", "expected a mapping with host and port", said=("cli.config.listen", {}))
        return
    for key in listen:
        if key not in ("host", "port"):
            unknown_key(p, f"listen.{key}", ("host", "port"))
    if "host" in listen:
        if isinstance(listen["host"], str) and listen["host"]:
            out["host"] = listen["host"]
        else:
            p.add("listen.host", "expected an address such as 127.0.0.1 or 0.0.0.0",
                  said=("cli.config.address", {"a": "127.0.0.1", "b": "0.0.0.0"}))
    if "port" in listen:
        port = _int(listen["port"], 1, 65535)
        if port is None:
            p.add("listen.port", "expected a port number 1-65535", said=("cli.config.port", {}))
        out["port"] = port


def _from_file(path: Path) -> dict[str, Any]:
    where = str(path)
    doc = read_yaml_file(path)
    if doc is None:
        return {}
    if not isinstance(doc, Mapping):
        raise _file_error(path, "expected a mapping of settings at the top level", "cli.config.top_mapping")
    out: dict[str, Any] = {}
    p = Problems(where)
    for key in doc:
        if key not in KEYS:
            unknown_key(p, str(key), KEYS)
    if "db" in doc:
        db = _text(doc["db"])
        if db is None:
            p.add("db", "expected a database URL such as sqlite:///wardround.db",
                  said=("cli.config.db_url", {"example": "sqlite:///wardround.db"}))
        else:
            out["db_url"] = db
    _listen(doc.get("listen", {}), p, out)
    folder = path.resolve().parent
    for key, (read, expected, said) in _VALUES.items():
        if key in doc:
            value = read(doc[key], folder)
            if value is None:
                p.add(key, expected, said=said)
            else:
                out[key] = value
    if "http" in doc:
        out["http"] = _http_limits(doc["http"], p)
    if "trusted_proxies" in doc:
        out["trusted_proxies"] = _trusted_proxies(doc["trusted_proxies"], p)
    if "retention" in doc:
        out["retention"] = parse_retention(doc["retention"], p)
    if "notifications" in doc:  # see collector/notify/config.py and docs/notifications.md
        notify, notify_problems = parse_notifications(doc["notifications"])
        for line in notify_problems:  # keyed texts "notifications.<path>: expected": said in the reader's language
            p.add_told("", line)
        out["notifications"] = notify
    if p.lines:
        raise ConfigError(p.lines, p.said)
    return out


def _http_limits(raw: Any, p: Problems) -> HttpLimits:
    if not isinstance(raw, Mapping):
        p.add("http", f"expected a mapping with {', '.join(HTTP_KEYS)}",
              said=("cli.config.mapping_with", {"keys": ", ".join(HTTP_KEYS)}))
        return HttpLimits()
    values: dict[str, Any] = {}
    for key in raw:
        if key not in HTTP_KEYS:
            unknown_key(p, f"http.{key}", HTTP_KEYS)
    for key in ("header_timeout", "body_timeout", "keep_alive"):
        if key in raw:
            seconds = parse_duration(raw[key])
            if seconds is None or seconds > 3600:
                p.add(f"http.{key}", "expected a duration like 10s or 2m, at most 1h", raw[key],
                      said=("cli.config.duration_at_most", {"a": "10s", "b": "2m", "most": "1h"}))
            else:
                values[key] = seconds
    if "max_connections" in raw:
        cap = _int(raw["max_connections"], 16, 1_000_000)
        if cap is None:
            p.add("http.max_connections", "expected an integer 16-1000000",
                  said=("cli.config.integer", {"low": 16, "high": 1_000_000}))
        else:
            values["max_connections"] = cap
    return HttpLimits(**values)


def _trusted_proxies(raw: Any, p: Problems) -> tuple[str, ...]:
    expected = "expected a list of proxy addresses or networks such as [127.0.0.1, 10.0.0.0/8]"
    said: tuple[str, dict[str, object]] = ("cli.config.proxies", {"example": "[127.0.0.1, 10.0.0.0/8]"})
    if not isinstance(raw, list):
        p.add("trusted_proxies", expected, said=said)
        return ()
    out = []
    for i, value in enumerate(raw):
        try:
            out.append(str(ipaddress.ip_network(str(value).strip(), strict=False)))
        except ValueError:
            p.add(f"trusted_proxies[{i}]", expected, value, said=said)
    return tuple(out)


def load_settings(config: str | os.PathLike[str] | None = None, **flags: Any) -> Settings:
    """Settings from the defaults, ``WARDROUND_DB``, the file ``config`` and ``flags``.

    ``flags`` are Settings fields; a flag that is None was not given.  Without ``config``,
    ``$WARDROUND_CONFIG`` or the installed ``/etc/wardround/collector.yaml`` is read.
    """
    settings = Settings(db_url=os.environ.get(DB_ENV) or DEFAULT_DB_URL,
                        db_source=f"${DB_ENV}" if os.environ.get(DB_ENV) else "the default")
    if config is None:
        config = os.environ.get(CONFIG_ENV) or installed_config()
    if config is not None:
        from_file = _from_file(Path(config))
        if "db_url" in from_file:
            from_file["db_source"] = f"config {config}"
        settings = settings.replace(**from_file)
    if flags.get("db_url") is not None:
        flags["db_source"] = "--db"
    problems = []
    if flags.get("port") is not None and _int(flags["port"], 1, 65535) is None:
        problems.append(cli_said("cli.collector.bad_port", option="--port", got=flags["port"]))
    if flags.get("workers") is not None and _int(flags["workers"], 1, 64) is None:
        problems.append(cli_said("cli.collector.bad_workers", option="--workers", got=flags["workers"]))
    if problems:
        raise ConfigError(problems)
    return settings.replace(**flags)
