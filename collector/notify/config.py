"""The ``notifications:`` section of the collector config: channels, routes, retry policy.

::

    notifications:
      timezone: Asia/Shanghai          # times in messages (default UTC)
      poll: 5s                         # how often each collector's dispatcher looks for work
      retry: {first: 30s, cap: 1h, max_age: 3d}
      channels:
        ops-mail:
          type: email                  # email | webhook | wecom | dingtalk | feishu
          host: smtp.example.cn
          port: 587
          security: starttls           # starttls (default) | ssl | none
          username: wardround@example.cn
          password_file: /etc/wardround/smtp.pass   # or password_env / password
          from: Wardround <wardround@example.cn>
          to: [oncall@example.cn]
        ops-wecom:
          type: wecom
          url_file: /etc/wardround/wecom.url        # the URL holds the robot key: a secret
          rate: 20/min                 # the robot's limit (robots have theirs by default; off: none)
      routes:
        - channels: [ops-mail, ops-wecom]
          sites: ["*"]                 # site names or glob patterns (default all)
          min_level: 2                 # notify levels 1..2 (1 is the most severe; default 4)
          events: [opened, escalated, breached, resolved]
          language: zh                 # zh | en

Every secret (SMTP password, webhook URL of a robot, signing secret, bearer
token) comes from one of ``<key>`` (inline), ``<key>_file`` (first line of a
file) or ``<key>_env`` (an environment variable), and is held in a
:class:`Secret` whose ``repr``/``str`` is masked, so it never lands in a log
line, an exception or an API answer by accident.  Every fault is reported at
once as ``notifications.<path>: ...`` (the caller prefixes the file name).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from checks._units import parse_duration as read_duration
from checks.messages.reader import cli_said
from checks.result import is_name
from collector.notify import EVENTS

__all__ = [
    "CHANNEL_TYPES", "DEFAULT_EVENTS", "DEFAULT_RATES", "LANGUAGES", "ROBOT_TYPES", "Channel", "NotifyConfig",
    "Rate", "RetryPolicy", "Route", "Secret", "parse_notifications", "parse_duration", "parse_rate", "mask_url",
]

CHANNEL_TYPES = ("email", "webhook", "wecom", "dingtalk", "feishu")
ROBOT_TYPES = ("wecom", "dingtalk", "feishu")  # group robots: rate-limited, and a burst becomes a digest
LANGUAGES = ("zh", "en")
DEFAULT_EVENTS = ("opened", "reopened", "escalated", "breached", "resolved", "complaint")


class Secret:
    """A secret string; its text is only reachable through :meth:`reveal`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def mask_url(url: str) -> str:
    """``url`` reduced to scheme, host and port: robot keys live in paths and queries."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable URL>"
    return f"{parts.scheme}://{host}{port}/***"


def parse_duration(value: Any) -> float | None:
    """Seconds from ``30s``, ``1h30m``, ``3d`` or a plain number of seconds; None if invalid or 0."""
    try:
        seconds = read_duration(value)  # the project's one grammar (checks._units)
    except ValueError:
        return None
    return seconds if seconds > 0 else None


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``count`` messages in any ``per_s`` seconds (to one receiver, from all collectors)."""

    count: int
    per_s: float

    def __str__(self) -> str:
        unit = {1.0: "s", 60.0: "min", 3600.0: "h"}.get(self.per_s)
        return f"{self.count}/{unit}" if unit else f"{self.count}/{self.per_s:g}s"


# The robots' documented limits, per robot (per webhook URL):
# DingTalk 自定义机器人: 20 messages a minute, then blocked for 10 minutes
#   (open.dingtalk.com/document/orgapp/custom-robot-access, "消息发送频率限制: 每个机器人每分钟最多发送20条。
#   如果超过20条，会限流10分钟。", quoted in blog.csdn.net/qq_23564667/article/details/119456301);
# WeCom 群机器人: 20 messages a minute (developer.work.weixin.qq.com/document/path/91770, "每个机器人发送的
#   消息不能超过20条/分钟");
# Feishu 自定义机器人: 100 requests a minute and 5 a second per bot (open.feishu.cn custom-bot guide,
#   "频率控制: 单租户单机器人 100 次/分钟，5 次/秒"; also github.com/openclaw/openclaw/issues/70879).
DEFAULT_RATES: Mapping[str, tuple[Rate, ...]] = {
    "dingtalk": (Rate(20, 60.0),),
    "wecom": (Rate(20, 60.0),),
    "feishu": (Rate(100, 60.0), Rate(5, 1.0)),
}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\S+)\s*$")
_RATE_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "min": 60.0, "minute": 60.0, "h": 3600.0, "hour": 3600.0}


def parse_rate(value: Any) -> tuple[Rate, ...] | None:
    """Rates from ``20/min``, ``5/s``, ``30/10m``, a list of those, or ``off`` (none); None if invalid."""
    if value is False or value == "off":
        return ()
    items = value if isinstance(value, list) and value else [value]
    rates = []
    for item in items:
        match = _RATE.match(item) if isinstance(item, str) else None
        if match is None:
            return None
        count, unit = int(match.group(1)), match.group(2).lower()
        per = _RATE_UNITS.get(unit) or parse_duration(unit)
        if count < 1 or per is None:
            return None
        rates.append(Rate(count, per))
    return tuple(rates)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff ``first`` doubling to ``cap`` (with ±25 % jitter) while younger than ``max_age``."""

    first_s: float = 30.0
    cap_s: float = 3600.0
    max_age_s: float = 3 * 86400.0


@dataclass(frozen=True, slots=True)
class Channel:
    """One destination.  ``url``/``password``/``secret``/``token`` are Secrets where they hold keys."""

    name: str
    type: str
    timeout_s: float = 20.0
    rates: tuple[Rate, ...] = ()  # pacing shared by every collector (DEFAULT_RATES for the robots)
    # webhook family
    url: Secret | None = None
    secret: Secret | None = None
    token: Secret | None = None          # generic webhook: Authorization: Bearer <token>
    feishu_card: bool = False            # feishu: interactive card instead of text
    # email
    host: str = ""
    port: int = 0
    security: str = "starttls"
    username: str | None = None
    password: Secret | None = None
    sender: str = ""
    to: tuple[str, ...] = ()
    ca_file: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """Which events of which sites and levels go to which channels, in which language."""

    channels: tuple[str, ...]
    sites: tuple[str, ...] = ("*",)
    min_level: int = 4
    events: tuple[str, ...] = DEFAULT_EVENTS
    language: str = "zh"


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    channels: Mapping[str, Channel] = field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    retry: RetryPolicy = RetryPolicy()
    timezone: str = "UTC"
    poll_s: float = 5.0
    ticket_link: str | None = None  # "https://wardround.example/tickets/{id}": each message links its ticket

    def link(self, ticket_id: object) -> str | None:
        """The page of ticket ``ticket_id``, when ``ticket_link`` is set."""
        return self.ticket_link.replace("{id}", str(ticket_id)) if self.ticket_link else None


class _Problems:
    """Every problem of the section, each a keyed text ``notifications.<path>: expected`` (:func:`_at`)."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, expected: str) -> None:
        """The problem of ``path``: ``expected`` a command-line message (``cli_said("cli.notify.…")``)."""
        self.items.append(_at(f"notifications.{path}", expected))


def _at(path: str, expected: str) -> str:
    """``path: expected`` as a keyed text: the collector says it in the reader's language, the path as it is."""
    return cli_said("cli.notify.at", path=path, what=expected)


def _secret(doc: Mapping[str, Any], key: str, path: str, problems: _Problems, *,
            required: bool) -> Secret | None:
    given = [k for k in (key, f"{key}_file", f"{key}_env") if k in doc]
    if len(given) > 1:
        problems.add(f"{path}.{key}", cli_said("cli.notify.secret_one", a=key, b=f"{key}_file", c=f"{key}_env"))
        return None
    if not given:
        if required:
            problems.add(f"{path}.{key}", cli_said("cli.notify.secret_missing", a=key, b=f"{key}_file", c=f"{key}_env"))
        return None
    which, raw = given[0], doc[given[0]]
    if not isinstance(raw, str) or not raw.strip():
        problems.add(f"{path}.{which}", cli_said("cli.config.non_empty"))
        return None
    if which == key:
        return Secret(raw.strip())
    if which.endswith("_env"):
        value = os.environ.get(raw.strip())
        if not value:
            problems.add(f"{path}.{which}", cli_said("cli.notify.env_unset", name=raw.strip()))
            return None
        return Secret(value.strip())
    try:
        lines = Path(raw).read_text(encoding="utf-8").strip().splitlines()
    except OSError as exc:
        problems.add(f"{path}.{which}", cli_said("cli.notify.cannot_read", path=raw,
                                                 error=exc.strerror or type(exc).__name__))
        return None
    except UnicodeDecodeError:
        problems.add(f"{path}.{which}", cli_said("cli.notify.not_utf8", path=raw))
        return None
    if not lines or not lines[0].strip():
        problems.add(f"{path}.{which}", cli_said("cli.notify.empty_file", path=raw))
        return None
    return Secret(lines[0].strip())


def _str_list(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str) and value.strip():
        return (value.strip(),)
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        return tuple(v.strip() for v in value)
    return None


_COMMON_KEYS = {"type", "timeout", "rate"}
_KEYS = {
    "email": _COMMON_KEYS | {"host", "port", "security", "username", "password", "password_file",
                             "password_env", "from", "to", "ca_file"},
    "webhook": _COMMON_KEYS | {"url", "url_file", "url_env", "token", "token_file", "token_env"},
    "wecom": _COMMON_KEYS | {"url", "url_file", "url_env"},
    "dingtalk": _COMMON_KEYS | {"url", "url_file", "url_env", "secret", "secret_file", "secret_env"},
    "feishu": _COMMON_KEYS | {"url", "url_file", "url_env", "secret", "secret_file", "secret_env",
                              "card"},
}


def _channel(name: str, doc: Any, problems: _Problems) -> Channel | None:
    path = f"channels.{name}"
    if not is_name(name):
        problems.add(path, cli_said("cli.notify.channel_name"))
        return None
    if not isinstance(doc, Mapping):
        problems.add(path, cli_said("cli.notify.channel_mapping", type="type"))
        return None
    kind = doc.get("type")
    if kind not in CHANNEL_TYPES:
        problems.add(f"{path}.type", cli_said("cli.notify.one_of", choices=", ".join(CHANNEL_TYPES)))
        return None
    before = len(problems.items)
    for key in doc:
        if key not in _KEYS[kind]:
            problems.add(f"{path}.{key}", cli_said("cli.notify.channel_key", kind=kind,
                                                   expected=", ".join(sorted(_KEYS[kind]))))
    timeout = 20.0
    if "timeout" in doc:
        parsed = parse_duration(doc["timeout"])
        if parsed is None or parsed > 300:
            problems.add(f"{path}.timeout", cli_said("cli.notify.duration_up_to", most="5m", example="20s"))
        else:
            timeout = parsed
    rates = DEFAULT_RATES.get(kind, ())
    if "rate" in doc:
        given = parse_rate(doc["rate"])
        if given is None:
            problems.add(f"{path}.rate", cli_said("cli.notify.rate"))
        else:
            rates = given
    if kind == "email":
        channel = _email(name, doc, path, timeout, problems, before)
        return dataclasses.replace(channel, rates=rates) if channel is not None else None
    url = _secret(doc, "url", path, problems, required=True)
    if url is not None:
        parts = urlsplit(url.reveal())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.add(f"{path}.url", cli_said("cli.notify.url"))
    secret = _secret(doc, "secret", path, problems, required=False) if kind in ("dingtalk", "feishu") \
        else None
    token = _secret(doc, "token", path, problems, required=False) if kind == "webhook" else None
    card = doc.get("card", False)
    if not isinstance(card, bool):
        problems.add(f"{path}.card", cli_said("cli.config.bool"))
    if len(problems.items) > before:
        return None
    return Channel(name=name, type=kind, timeout_s=timeout, url=url, secret=secret, token=token,
                   feishu_card=bool(card), rates=rates)


def _email(name: str, doc: Mapping[str, Any], path: str, timeout: float, problems: _Problems,
           before: int) -> Channel | None:
    host = doc.get("host")
    if not isinstance(host, str) or not host.strip():
        problems.add(f"{path}.host", cli_said("cli.notify.smtp_host"))
    security = doc.get("security", "starttls")
    if security not in ("starttls", "ssl", "none"):
        problems.add(f"{path}.security", cli_said("cli.notify.a_b_or_c", a="starttls", b="ssl", c="none"))
    default_port = {"starttls": 587, "ssl": 465}.get(str(security), 25)
    port = doc.get("port", default_port)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        problems.add(f"{path}.port", cli_said("cli.config.port"))
    username = doc.get("username")
    if username is not None and (not isinstance(username, str) or not username.strip()):
        problems.add(f"{path}.username", cli_said("cli.notify.username"))
    password = _secret(doc, "password", path, problems, required=username is not None)
    if password is not None and username is None:
        problems.add(f"{path}.username", cli_said("cli.notify.password_needs", key="username"))
    sender = doc.get("from")
    if not isinstance(sender, str) or "@" not in sender:
        problems.add(f"{path}.from", cli_said("cli.notify.sender"))
    to = _str_list(doc.get("to"))
    if to is None or not all("@" in a for a in to):
        problems.add(f"{path}.to", cli_said("cli.notify.recipients"))
    ca_file = doc.get("ca_file")
    if ca_file is not None and (not isinstance(ca_file, str) or not Path(ca_file).is_file()):
        problems.add(f"{path}.ca_file", cli_said("cli.notify.ca_file"))
    if security == "none" and password is not None:
        problems.add(f"{path}.security", cli_said("cli.notify.password_without_tls", a="starttls", b="ssl"))
    if len(problems.items) > before:
        return None
    return Channel(name=name, type="email", timeout_s=timeout, host=str(host).strip(), port=int(port),
                   security=str(security), username=username.strip() if username else None,
                   password=password, sender=str(sender).strip(), to=to or (), ca_file=ca_file)


def _route(i: int, doc: Any, channels: Mapping[str, Any], problems: _Problems) -> Route | None:
    path = f"routes[{i}]"
    if not isinstance(doc, Mapping):
        problems.add(path, cli_said("cli.notify.route_mapping", channels="channels"))
        return None
    before = len(problems.items)
    for key in doc:
        if key not in ("channels", "sites", "min_level", "events", "language"):
            problems.add(f"{path}.{key}", cli_said("cli.config.unknown_key_expected",
                         expected="channels, sites, min_level, events, language"))
    names = _str_list(doc.get("channels"))
    if names is None:
        problems.add(f"{path}.channels", cli_said("cli.notify.channel_names"))
    else:
        for n in names:
            if n not in channels:
                problems.add(f"{path}.channels", cli_said("cli.notify.no_channel", name=repr(n)))
    sites = _str_list(doc.get("sites", ["*"]))
    if sites is None:
        problems.add(f"{path}.sites", cli_said("cli.notify.sites"))
    level = doc.get("min_level", 4)
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 4:
        problems.add(f"{path}.min_level", cli_said("cli.notify.min_level"))
    events = _str_list(doc.get("events", list(DEFAULT_EVENTS)))
    if events is None or any(e not in EVENTS for e in events):
        problems.add(f"{path}.events", cli_said("cli.notify.events", events=", ".join(EVENTS)))
    language = doc.get("language", "zh")
    if language not in LANGUAGES:
        problems.add(f"{path}.language", cli_said("cli.notify.a_or_b", a="zh", b="en"))
    if len(problems.items) > before:
        return None
    return Route(channels=names or (), sites=sites or ("*",), min_level=int(level),
                 events=events or DEFAULT_EVENTS, language=str(language))


def parse_notifications(doc: Any) -> tuple[NotifyConfig | None, list[str]]:
    """The config from the ``notifications:`` value, or None and every problem found."""
    problems = _Problems()
    if doc is None:
        return NotifyConfig(), []
    if not isinstance(doc, Mapping):
        return None, [_at("notifications", cli_said("cli.notify.top", a="channels", b="routes"))]
    for key in doc:
        if key not in ("channels", "routes", "retry", "timezone", "ticket_link", "poll"):
            problems.add(str(key), cli_said("cli.config.unknown_key_expected",
                         expected="channels, routes, retry, timezone, ticket_link, poll"))
    raw_channels = doc.get("channels") or {}
    channels: dict[str, Channel] = {}
    if not isinstance(raw_channels, Mapping):
        problems.add("channels", cli_said("cli.notify.channels_mapping"))
        raw_channels = {}
    for name, cdoc in raw_channels.items():
        ch = _channel(str(name), cdoc, problems)
        if ch is not None:
            channels[ch.name] = ch
    raw_routes = doc.get("routes") or []
    routes: list[Route] = []
    if not isinstance(raw_routes, list):
        problems.add("routes", cli_said("cli.notify.routes_list"))
        raw_routes = []
    for i, rdoc in enumerate(raw_routes):
        route = _route(i, rdoc, raw_channels, problems)
        if route is not None:
            routes.append(route)
    retry = RetryPolicy()
    raw_retry = doc.get("retry") or {}
    if not isinstance(raw_retry, Mapping):
        problems.add("retry", cli_said("cli.config.mapping_with", keys="first, cap, max_age"))
        raw_retry = {}
    values: dict[str, float] = {}
    for key, attr in (("first", "first_s"), ("cap", "cap_s"), ("max_age", "max_age_s")):
        if key in raw_retry:
            parsed = parse_duration(raw_retry[key])
            if parsed is None:
                problems.add(f"retry.{key}", cli_said("cli.notify.retry_duration"))
            else:
                values[attr] = parsed
    for key in raw_retry:
        if key not in ("first", "cap", "max_age"):
            problems.add(f"retry.{key}", cli_said("cli.config.unknown_key_expected", expected="first, cap, max_age"))
    retry = RetryPolicy(**{**{"first_s": retry.first_s, "cap_s": retry.cap_s,
                               "max_age_s": retry.max_age_s}, **values})
    if retry.cap_s < retry.first_s:
        problems.add("retry.cap", cli_said("cli.notify.cap_short"))
    tz = doc.get("timezone", "UTC")
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        problems.add("timezone", cli_said("cli.notify.timezone", tz=repr(tz)))
    link = doc.get("ticket_link")
    if link is not None and (not isinstance(link, str) or not link.startswith(("https://", "http://"))
                             or link.count("{id}") != 1 or link.replace("{id}", "").count("{")
                             or len(link) > 500 or any(c.isspace() for c in link)):
        problems.add("ticket_link", cli_said("cli.notify.ticket_link", got=repr(str(link)[:80])))
        link = None
    poll = parse_duration(doc.get("poll", 5))
    if poll is None or poll > 300:
        problems.add("poll", cli_said("cli.notify.duration_up_to", most="5m", example="5s"))
    if problems.items:
        return None, problems.items
    return NotifyConfig(channels=channels, routes=tuple(routes), retry=retry, timezone=str(tz),
                        ticket_link=link, poll_s=float(poll or 5)), []
