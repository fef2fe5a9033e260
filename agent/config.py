"""The agent's YAML config → a frozen :class:`AgentConfig`, every error at once.

Each error reads ``FILE: key.path: what was expected (got ...)``, e.g.::

    agent.yaml: checks[2].every: expected a duration like 30s, 5m, 26h, 7d (got '5 minutes')

Unknown keys are errors (they are usually typos).  :class:`ConfigError`
carries all of them; the CLI prints them and exits 2 before anything starts.
"""

from __future__ import annotations

import gc
import os
import re
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from agent import logs
from checks.entries import (
    NAME_HINT,
    CheckConfig,
    Problems,
    Said,
    check_entries,
    check_keys,
    forget_yaml_loader,
    is_name,
    parse_yaml,
    read_duration,
    read_text,
)
from checks.params import parse_duration

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["AgentConfig", "CheckConfig", "CollectorConfig", "ConfigError", "load_config",
           "collector_url_problem", "parse_size", "default_spool_path", "redact_url",
           "short_hostname", "token_file_problem", "proxy_url_problem",
           "DEFAULT_CONFIG_EVERY_S"]

log = logs.get(__name__)

EXIT_CONFIG = 2
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$")
_SIZE_UNITS = {None: 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9,
               "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}
DEFAULT_CONFIG_EVERY_S = 300.0


class ConfigError(Exception):
    """A config that cannot be used; ``errors`` are complete lines ready to print."""

    exit_code = EXIT_CONFIG

    def __init__(self, errors: list[str], said: Sequence[Said | None] = ()):
        self.errors = errors
        #: beside each line, the same as a command-line message (checks.entries.Problems.said), or None
        self.said = list(said) or [None] * len(errors)
        super().__init__("\n".join(errors))


@dataclass(frozen=True)
class CollectorConfig:
    url: str
    token: str = field(repr=False)
    ca_file: str | None = None
    timeout_s: float = 10.0
    batch_size: int = 500
    #: where the token came from (the agent writes a rotated token back there); None for ``token:``
    token_file: str | None = None
    #: an HTTP(S) proxy to reach the collector through (CONNECT for https)
    proxy: str | None = None
    #: ``user:password`` for the proxy, read from ``proxy_credentials_file``
    proxy_credentials: str | None = field(default=None, repr=False)


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
    #: how often the central config (``GET /api/v1/agent/config``) is fetched; None: never
    config_every_s: float | None = DEFAULT_CONFIG_EVERY_S


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


def _readable_file(err: Problems, key: str, value: Any, base: Path) -> Path | None:
    if read_text(err, key, value) is None:
        return None
    path = Path(value)
    if not path.is_absolute():
        path = base / path
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        error = exc.strerror or type(exc).__name__
        err.add(key, f"expected a readable file ({error}: {path})",
                said=("cli.config.readable_file", {"error": error, "path": str(path)}))
        return None
    return path


_TOP_KEYS = {"site", "host", "collector", "spool", "spool_max_age", "spool_max_bytes", "jitter", "checks",
             "config_every"}
_COLLECTOR_KEYS = {"url", "token_file", "token", "ca_file", "timeout", "batch_size", "proxy",
                   "proxy_credentials_file"}


def load_config(path: str | os.PathLike[str], *, need_collector: bool = False,
                owner: int | None = None) -> AgentConfig:
    """Read, validate and freeze the config at ``path``; raise ConfigError listing every problem.

    ``need_collector``: ``run`` and ``once --push`` cannot work without ``collector``.  ``owner``: the uid of
    the agent's user, whose secret files must be theirs (default: whoever runs this; ``enrol --user``, run as
    root, names the service's user).
    """
    file, data, err, base = _open_config(path, _TOP_KEYS, "site, collector, checks, ...")
    site = _site(err, data, "the customer / site this host belongs to, e.g. central-hospital", "cli.config.site_agent")
    host = read_text(err, "host", data["host"], name=True) if "host" in data else short_hostname()
    if host is not None and not is_name(host):
        err.add("host", f"the machine's hostname {host!r} is not {NAME_HINT}; set host: explicitly",
                said=("cli.config.hostname", {"host": repr(host), "key": "host:"}))

    collector = None
    if "collector" in data:
        collector = _collector(err, data["collector"], base, owner)
    elif need_collector:
        words: dict[str, object] = {"run": "`run`", "push": "`once --push`", "url": "url", "file": "token_file"}
        err.add("collector", "required for `run` and `once --push` (url and token_file)",
                said=("cli.config.collector_required", words))

    spool = default_spool_path()
    if "spool" in data:
        spool = read_text(err, "spool", data["spool"]) or spool
        if not os.path.isabs(spool):
            spool = str(base / spool)
    max_age = read_duration(err, "spool_max_age", data.get("spool_max_age", "7d"), minimum=60)
    try:
        max_bytes = parse_size(data.get("spool_max_bytes", 256 * 2**20))
        if max_bytes < 2**20:
            err.add("spool_max_bytes", "expected at least 1 MiB", data["spool_max_bytes"],
                    said=("cli.config.at_least", {"minimum": "1 MiB"}))
    except ValueError:
        err.add("spool_max_bytes", "expected a size like 256MiB, 1GiB or a number of bytes",
                data.get("spool_max_bytes"), said=("cli.config.size", {"a": "256MiB", "b": "1GiB"}))
        max_bytes = 0
    jitter = read_duration(err, "jitter", data.get("jitter", "30s"))

    config_every: float | None = None
    raw_every = data.get("config_every", "5m")
    if raw_every is not False and raw_every != "off":  # YAML reads a bare off as false
        try:
            config_every = parse_duration(raw_every)
        except ValueError:
            config_every = 0.0
        if config_every < 10:
            err.add("config_every", "expected a duration of at least 10s like 5m, or off", raw_every,
                    said=("cli.config.config_every", {"least": "10s", "example": "5m", "off": "off"}))
    checks = check_entries(err, "checks", data.get("checks", []))
    if err.lines:
        raise ConfigError(err.lines, err.said)
    assert site is not None and host is not None and max_age is not None and jitter is not None
    return AgentConfig(path=file, site=site, host=host, collector=collector, spool=spool,
                       spool_max_age_s=max_age, spool_max_bytes=max_bytes, jitter_s=jitter,
                       checks=tuple(checks), config_every_s=config_every)


def _open_config(path: str | os.PathLike[str], top_keys: set[str], keys: str
                 ) -> tuple[str, Mapping[str, Any], Problems, Path]:
    """A config file (the agent's or the relay's): its path, its YAML mapping, the :class:`Problems` of it
    (unknown top-level keys noted already) and its folder, which relative paths in it start from.

    ConfigError when it cannot be read or is no mapping (``keys``: the keys that message names)."""
    file = os.fspath(path)
    data = _read_yaml(file)
    if not isinstance(data, Mapping):
        raise ConfigError([f"{file}: expected a mapping of keys ({keys}) at the top (got {type(data).__name__})"],
                          [(f"{file}: ", "cli.config.agent_top", {"keys": keys, "type": type(data).__name__}, "")])
    err = Problems(file)
    check_keys(err, "", data, top_keys)
    return file, data, err, Path(file).resolve().parent


def _site(err: Problems, data: Mapping[str, Any], what: str, key: str) -> str | None:
    """The required ``site:`` (a name); ``what``: what the missing key's message says it is, ``key`` the same
    as a command-line message (``cli.config.site_*``, its example ``central-hospital``)."""
    if "site" not in data:
        err.add("site", f"required: {what}", said=(key, {"example": "central-hospital"}))
        return None
    return read_text(err, "site", data["site"], name=True)


def _read_yaml(file: str) -> Any:
    try:
        with open(file, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        error = str(exc.strerror or exc)
        raise ConfigError([f"{file}: cannot read the config: {error}"],
                          [(f"{file}: ", "cli.config.cannot_read", {"error": error}, "")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})"],
                          [(f"{file}: ", "cli.config.not_utf8", {"reason": exc.reason, "at": exc.start}, "")]) from None
    try:
        return _parse_yaml_and_unload(text, file)
    except ValueError as exc:  # YAML syntax: checks.entries.parse_yaml's keyed text
        from checks.messages import error_text

        line = error_text(exc)
        raise ConfigError([line], [("", "cli.config.said", {"what": line}, "")]) from None


def _parse_yaml_and_unload(text: str, file: str) -> Any:
    """:func:`parse_yaml`, then PyYAML leaves memory again (about 0.9 MB of an idle agent; the
    agent reads YAML only at start, central configs come as JSON).

    Its C extension is kept out (a C extension is never unloaded, and it would hold the pure-Python
    modules): the loader used is a ``SafeLoader`` subclass, pure Python either way.  When PyYAML
    was loaded already (by a caller of this module), it stays.
    """
    if "yaml" in sys.modules:
        return parse_yaml(text, file)
    sys.modules["yaml._yaml"] = None  # type: ignore[assignment]  # import yaml._yaml -> ImportError
    try:
        return parse_yaml(text, file)
    finally:
        for name in [n for n in sys.modules if n == "yaml" or n.startswith("yaml.")]:
            del sys.modules[name]
        forget_yaml_loader()
        gc.collect()  # classes are cycles: free them now, before the agent allocates its own


def collector_url_problem(url: Any) -> str | None:
    """What is wrong with ``collector.url`` (None: nothing), never echoing a secret.

    Credentials, a query or a fragment are refused: the agent authenticates with its
    token, and anything after ``?`` or ``#`` would end up in logs and error messages.
    """
    return _url_problem(url, proxy=False)


def _url_problem(url: Any, proxy: bool) -> str | None:
    """:func:`collector_url_problem`, of a proxy's URL when ``proxy``; the problem as a command-line message
    (:func:`checks.messages.reader.cli_said`: the reader's language when told), whose module is loaded only
    then (a running agent keeps it out, tests/agent/test_footprint.py)."""
    fault = _url_fault(url)
    if fault is None:
        return None
    from checks.messages.reader import cli_said

    what = cli_said("cli.config.url_proxy", example="http://proxy.example:3128") if proxy else cli_said(
        "cli.config.url_http")
    if not isinstance(url, str):
        return cli_said("cli.config.url_type", what=what, type=type(url).__name__)
    shown = repr(redact_url(url))
    if fault == "credentials":
        return cli_said("cli.config.url_credentials", user="user:password@", key="token_file", got=shown)
    if fault == "query":
        return cli_said("cli.config.url_query", query="?...", got=shown)
    if fault == "fragment":
        return cli_said("cli.config.url_fragment", fragment="#...", got=shown)
    if fault == "spaces":
        return cli_said("cli.config.url_spaces", got=shown)
    if fault == "port":
        return cli_said("cli.config.url_port", got=shown)
    return cli_said("cli.config.url", what=what, got=shown)


def _url_fault(url: Any) -> str | None:
    """What is wrong with a URL, in one word (None: nothing): see :func:`collector_url_problem`."""
    if not isinstance(url, str):
        return "type"
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not re.match(r"^https?://[^/\s?#]+", url.strip(),
                                                                     re.IGNORECASE):
        return "scheme"
    if "@" in parts.netloc:
        return "credentials"
    if parts.query or url.strip().endswith("?"):
        return "query"
    if parts.fragment or "#" in url:
        return "fragment"
    if any(c.isspace() for c in url.strip()):
        return "spaces"
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "port"
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


def token_file_problem(path: Path) -> str | None:
    """What breaks the one rule for token files (None: nothing): owned by the agent's user, mode 0600.

    The same rule holds for the agent's token, the proxy credentials and what
    ``wardround-agent enrol`` writes; docs/agent.md states it once.  Windows: an ACL for the
    service account and Administrators, which this check does not read.
    """
    fault = _token_file_fault(path)
    return None if fault is None else fault[0]


def _token_file_fault(path: Path, owner: int | None = None) -> tuple[str, str, dict[str, object]] | None:
    """:func:`token_file_problem`'s English text, and what is wrong (``mode``, ``owner``) with its words for the
    command-line message ``cli.agent.log.token_file_<what>`` (:func:`agent.logs.told_too`)."""
    if os.name != "posix":
        return None
    st = path.stat()
    if st.st_mode & 0o077:
        mode = f"{st.st_mode & 0o777:04o}"
        return (f"{path} is readable by other users (mode {mode}): it must be readable only by the agent's user: "
                "chmod 600 it", "mode", {"path": str(path), "mode": mode, "command": f"chmod 600 {path}"})
    agent = os.geteuid() if owner is None else owner
    if st.st_uid != agent:
        return (f"{path} belongs to uid {st.st_uid}, not to the agent's user (uid {agent}): chown it to the "
                "user the agent runs as", "owner",
                {"path": str(path), "owner": f"uid {st.st_uid}", "agent": f"uid {agent}", "command": "chown"})
    return None


def _secret_file(err: Problems, key: str, value: Any, base: Path,
                 what: str, owner: int | None = None) -> tuple[Path | None, str | None]:
    """A file holding one secret word (a token, ``user:password``): its path and its text."""
    path = _readable_file(err, key, value, base)
    if path is None:
        return None, None
    if (fault := _token_file_fault(path, owner)) is not None:
        problem, fault_kind, words = fault
        log.warning("%s: %s", key, problem)

        def in_their_words() -> str:  # a person acts on it (chmod, chown): said in their language too
            from checks.messages.reader import tell

            if fault_kind == "mode":
                return tell("cli.agent.log.token_file_mode", option=key, **words)
            return tell("cli.agent.log.token_file_owner", option=key, **words)

        logs.told_too(log, in_their_words)
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        err.add(key, f"expected a readable UTF-8 file ({path})", said=("cli.config.utf8_file", {"path": str(path)}))
        return path, None
    if not secret or any(c.isspace() for c in secret):
        # never show the content: it may be a secret with a stray character
        said: tuple[str, dict[str, object]] = (
            ("cli.config.secret_token", {"path": str(path)}) if what == "one token on one line"
            else ("cli.config.secret_credentials", {"form": "user:password", "path": str(path)}))
        err.add(key, f"expected {what} ({path})", said=said)
        return path, None
    return path, secret


def _collector(err: Problems, raw: Any, base: Path, owner: int | None = None) -> CollectorConfig | None:
    if not isinstance(raw, Mapping):
        err.add("collector", "expected a mapping with url and token_file", raw,
                said=("cli.config.collector_mapping", {"url": "url", "file": "token_file"}))
        return None
    check_keys(err, "collector", raw, _COLLECTOR_KEYS)
    url = raw.get("url")
    if url is None:
        err.add("collector.url", "required, e.g. https://collector.example:8480",
                said=("cli.config.required_like", {"example": "https://collector.example:8480"}))
    elif (problem := collector_url_problem(url)) is not None:
        err.add_told("collector.url", problem)
        url = None
    token = token_path = None
    if "token_file" in raw and "token" in raw:
        err.add("collector", "give token_file or token, not both",
                said=("cli.config.not_both", {"a": "token_file", "b": "token"}))
    elif "token_file" in raw:
        token_path, token = _secret_file(err, "collector.token_file", raw["token_file"], base,
                                         "one token on one line", owner)
    elif "token" in raw:
        t = raw["token"]
        if not isinstance(t, str) or not t.strip() or any(c.isspace() for c in t.strip()):
            err.add("collector.token", "expected the agent token as one word (prefer token_file)",
                    said=("cli.config.token_word", {"file": "token_file"}))
        else:
            token = t.strip()
    else:
        err.add("collector.token_file", "required (or token): the file holding the agent token",
                said=("cli.config.token_file_required", {"token": "token"}))
    ca_file = None
    if "ca_file" in raw:
        ca_path = _readable_file(err, "collector.ca_file", raw["ca_file"], base)
        ca_file = str(ca_path) if ca_path else None
        if ca_file is not None:
            import ssl

            try:
                ssl.create_default_context(cafile=ca_file)
            except (ssl.SSLError, ValueError) as exc:
                why = str(getattr(exc, "reason", None) or exc)
                err.add("collector.ca_file", f"expected PEM CA certificates ({ca_file}: {why})",
                        said=("cli.config.ca_pem", {"path": ca_file, "why": why}))
                ca_file = None
    proxy = credentials = None
    if "proxy" in raw:
        if (problem := proxy_url_problem(raw["proxy"])) is not None:
            err.add_told("collector.proxy", problem)
        else:
            proxy = raw["proxy"].strip().rstrip("/")
    if "proxy_credentials_file" in raw:
        if "proxy" not in raw:
            err.add("collector.proxy_credentials_file", "needs collector.proxy",
                    said=("cli.config.needs", {"key": "collector.proxy"}))
        _, credentials = _secret_file(err, "collector.proxy_credentials_file", raw["proxy_credentials_file"],
                                      base, "user:password on one line", owner)
        if credentials is not None and ":" not in credentials:
            err.add("collector.proxy_credentials_file", "expected user:password on one line",
                    said=("cli.config.user_password", {"form": "user:password"}))
            credentials = None
    timeout = read_duration(err, "collector.timeout", raw.get("timeout", "10s"), minimum=1)
    batch = raw.get("batch_size", 500)
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 10_000:
        err.add("collector.batch_size", "expected a whole number from 1 to 10000", batch,
                said=("cli.config.whole_range", {"low": 1, "high": 10000}))
        batch = 500
    if url is None or token is None or timeout is None:
        return None
    return CollectorConfig(url=url, token=token, ca_file=ca_file, timeout_s=timeout, batch_size=batch,
                           token_file=str(token_path) if token_path is not None else None, proxy=proxy,
                           proxy_credentials=credentials)


def proxy_url_problem(url: Any) -> str | None:
    """What is wrong with ``collector.proxy`` (None: nothing); credentials belong in a file."""
    problem = _url_problem(url, proxy=True)
    if problem is not None and "user:password@" in problem:
        from checks.messages.reader import cli_said

        return cli_said("cli.config.proxy_credentials", user="user:password@", form="user:password",
                        key="collector.proxy_credentials_file",
                        got=repr(redact_url(url)))
    if problem is not None:
        return problem
    if urlsplit(url.strip()).path not in ("", "/"):
        from checks.messages.reader import cli_said

        return cli_said("cli.config.proxy_path", example="http://proxy.example:3128", got=repr(redact_url(url)))
    return None
