"""Reading a policy file: every fault reported at once, each key checked on top of the default."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from checks._cron import Schedule
from checks.entries import Problems
from checks.messages import error_text
from checks.result import Status
from collector.config import ConfigError, read_yaml_file
from collector.policy.calendar_file import holiday_file, read_calendar, unknown_keys
from collector.policy.defaults import default_policy, default_rules
from collector.policy.model import (
    DRILL_PERIODS,
    FOLLOWUP_TICKETS,
    OPEN_AT_FIRST,
    RECORD_KINDS,
    FollowupPolicy,
    Level,
    Policies,
    RecordsPolicy,
    Rule,
    SitePolicy,
    Window,
)
from collector.terms import Term, parse_term

_POLICY_KEYS = ("levels", "business_hours", "holidays", "key_customer", "key_factor", "rules",
                "maintenance", "agent_silent", "reopen_window", "escalate_on_breach", "onsite",
                "records", "restore_drills", "followup")


#: a maintenance window's keys and its two forms, as words of the policy file's problems
_WINDOW_KEYS: dict[str, object] = {"start": "start", "end": "end", "cron": "cron", "duration": "duration"}
_WINDOW: dict[str, object] = {"a": "{hosts, start, end}", "b": "{hosts, cron, duration}"}


class _Problems(Problems):
    """A policy file's faults (each ``FILE: path: message``, as every config file's), with the policy file's
    words for unknown keys and its walk over a list of mappings."""

    def unknown_keys(self, path: str, raw: Mapping[Any, Any], keys: Sequence[str]) -> None:
        """Each key of the mapping at ``path`` that is not one of ``keys``."""
        unknown_keys(self, path, raw, keys)

    def mappings(self, raw: list[Any], path: str, keys: Sequence[str], hint: str, said: tuple[str, dict[str, object]]
                 ) -> Iterator[tuple[int, str, Mapping[str, Any]]]:
        """Each entry of the list at ``path`` that is a mapping (index, its path, entry), its unknown keys
        told; an entry that is no mapping is told ``hint`` (``said``: the same as a command-line message)."""
        for i, entry in enumerate(raw):
            here = f"{path}[{i}]"
            if not isinstance(entry, Mapping):
                self.add(here, hint, said=said)
                continue
            self.unknown_keys(here, entry, keys)
            yield i, here, entry


def _term(raw: Any, path: str, p: _Problems, default: Term, *, business: bool) -> Term:
    try:
        return parse_term(raw, business=business)
    except ValueError as exc:
        p.add_error(path, exc)
        return default


def _duration(raw: Any, path: str, p: _Problems, default: timedelta) -> timedelta:
    return _term(raw, path, p, Term(str(raw), default), business=False).time


def _bool(raw: Any, path: str, p: _Problems, default: bool) -> bool:
    if not isinstance(raw, bool):
        p.add(path, "expected true or false", raw, said=("cli.config.bool", {}))
        return default
    return raw


def _int(raw: Any, path: str, p: _Problems, low: int, high: int, default: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        p.add(path, f"expected an integer {low}-{high}", raw, said=("cli.config.integer", {"low": low, "high": high}))
        return default
    return raw


def _levels(raw: Any, path: str, p: _Problems) -> tuple[Level, ...] | None:
    if not isinstance(raw, list) or len(raw) not in (3, 4):
        p.add(path, "expected a list of 3 or 4 levels, the most severe first, each "
                    "{name, response, resolve, clock: 24x7|business}",
              said=("cli.policy.levels", {"example": "{name, response, resolve, clock: 24x7|business}"}))
        return None
    out = []
    for i, here, lv in p.mappings(raw, path, ("name", "response", "resolve", "clock"),
                                  "expected a mapping with name, response, resolve, clock",
                                  ("cli.config.mapping_with", {"keys": "name, response, resolve, clock"})):
        name, names = _level_name(lv.get("name", f"level {i + 1}"), f"{here}.name", i, p)
        clock = lv.get("clock", "business")
        if clock not in ("24x7", "business"):
            p.add(f"{here}.clock", f"expected 24x7 or business (got {clock!r})",
                  said=("cli.policy.a_or_b_got", {"a": "24x7", "b": "business", "got": repr(clock)}))
        business = clock != "24x7"
        response = _term(lv.get("response"), f"{here}.response", p, Term("2h", timedelta(hours=2)),
                         business=business)
        resolve = _term(lv.get("resolve"), f"{here}.resolve", p, Term("24h", timedelta(hours=24)),
                        business=business)
        if not response.working_days and not resolve.working_days and resolve.time < response.time \
                or response.working_days > resolve.working_days > 0 \
                or response.working_days and not resolve.working_days:
            p.add(f"{here}.resolve", "expected a resolution time no shorter than the response time",
                  said=("cli.policy.resolve", {}))
        out.append(Level(i + 1, name, response, resolve, not business, names))
    return tuple(out)


_NAME_LANGUAGES = ("zh_CN", "en")


def _level_name(raw: Any, here: str, i: int, p: _Problems) -> tuple[str, dict[str, str]]:
    """A level's ``name``: one string (every language), or ``{zh_CN: 一般故障, en: general fault}``.

    The stored name (tickets keep it) is the English one, else the one given."""
    if isinstance(raw, Mapping):
        names = {}
        for lang, text in raw.items():
            if lang not in _NAME_LANGUAGES:
                p.add(f"{here}.{lang}", f"unknown language (expected {' or '.join(_NAME_LANGUAGES)})",
                      said=("cli.policy.language", {"a": _NAME_LANGUAGES[0], "b": _NAME_LANGUAGES[1]}))
            elif not isinstance(text, str) or not text.strip() or len(text.strip()) > 64:
                p.add(f"{here}.{lang}", "expected a name of 1-64 characters such as \"一般故障\"",
                      said=("cli.policy.name_like", {"most": 64, "example": '"一般故障"'}))
            else:
                names[lang] = text.strip()
        if names:
            return names.get("en") or names["zh_CN"], names
        if not raw:
            p.add(here, "expected a name in zh_CN and/or en", said=("cli.policy.name_in", {"a": "zh_CN", "b": "en"}))
        return f"level {i + 1}", {}
    if not isinstance(raw, str) or not raw.strip() or len(raw.strip()) > 64:
        p.add(here, "expected a name such as \"system down\", or {zh_CN: 系统瘫痪, en: system down}",
              said=("cli.policy.level_name", {"a": '"system down"', "example": "{zh_CN: 系统瘫痪, en: system down}"}))
        return f"level {i + 1}", {}
    return raw.strip(), {}


def _status(name: Any) -> int | None:
    if isinstance(name, str) and name.strip().upper() in Status.__members__:
        return int(Status[name.strip().upper()])
    return None


def _rules(raw: Any, n_levels: int, path: str, p: _Problems) -> tuple[Rule, ...]:
    if not isinstance(raw, list):
        p.add(path, "expected a list of rules {check, item, open: {CRITICAL: 2}, after, recover_after}",
              said=("cli.policy.rules", {"example": "{check, item, open: {CRITICAL: 2}, after, recover_after}"}))
        return ()
    keys = ("check", "item", "open", "after", "recover_after", "flap_window", "flap_changes")
    out = []
    for _i, here, r in p.mappings(raw, path, keys,
                                  "expected a mapping {check, item, open, after, recover_after}",
                                  ("cli.policy.mapping", {"example": "{check, item, open, after, recover_after}"})):
        check, item = r.get("check", "*"), r.get("item", "*")
        for k, v in (("check", check), ("item", item)):
            if not isinstance(v, str) or not v:
                p.add(f"{here}.{k}", f"expected a name or glob such as backup_* (got {v!r})",
                      said=("cli.policy.glob", {"got": repr(v)}))
        opened: dict[int, int] = {}
        raw_open = r.get("open", {})
        if raw_open is None or raw_open == "none":
            raw_open = {}
        if not isinstance(raw_open, Mapping):
            p.add(f"{here}.open", "expected a mapping of status to level, e.g. {CRITICAL: 2, WARNING: 3}, or none",
                  said=("cli.policy.open", {"example": "{CRITICAL: 2, WARNING: 3}", "none": "none"}))
            raw_open = {}
        for status_name, level in raw_open.items():
            st = _status(status_name)
            if st is None or st == int(Status.OK):
                p.add(f"{here}.open.{status_name}", "expected WARNING, CRITICAL or UNKNOWN",
                      said=("cli.notify.a_b_or_c", {"a": "WARNING", "b": "CRITICAL", "c": "UNKNOWN"}))
                continue
            opened[st] = _int(level, f"{here}.open.{status_name}", p, 1, n_levels, 1)
        default_after = 1 if isinstance(check, str) and check in OPEN_AT_FIRST else 2
        after = _int(r.get("after", default_after), f"{here}.after", p, 1, 100, default_after)
        recover = _int(r.get("recover_after", 2), f"{here}.recover_after", p, 1, 100, 2)
        window = _int(r.get("flap_window", 10), f"{here}.flap_window", p, 2, 64, 10)
        changes = _int(r.get("flap_changes", 5), f"{here}.flap_changes", p, 2, 64, 5)
        if changes >= window:
            p.add(f"{here}.flap_changes", f"expected fewer changes than flap_window ({window})",
                  said=("cli.policy.flap", {"key": "flap_window", "window": window}))
        out.append(Rule(check=str(check), item=str(item), open=opened, after=after, recover_after=recover,
                        flap_window=window, flap_changes=changes))
    return tuple(out)


def _aware(raw: Any, zone: ZoneInfo) -> datetime:
    value = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw).strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def _windows(raw: Any, zone: ZoneInfo, path: str, p: _Problems) -> tuple[Window, ...]:
    if not isinstance(raw, list):
        p.add(path, "expected a list of windows {hosts, start, end} or {hosts, cron, duration}",
              said=("cli.policy.windows", _WINDOW))
        return ()
    out = []
    for _i, here, w in p.mappings(raw, path, ("hosts", "start", "end", "cron", "duration", "reason"),
                                  "expected a mapping {hosts, start, end} or {hosts, cron, duration}",
                                  ("cli.policy.window", _WINDOW)):
        hosts = w.get("hosts", ["*"])
        if isinstance(hosts, str):
            hosts = [hosts]
        if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) and h for h in hosts):
            p.add(f"{here}.hosts", "expected a list of host names or globs (default [\"*\"], every host)",
                  said=("cli.policy.hosts", {"default": '["*"]'}))
            hosts = ["*"]
        reason = str(w.get("reason", ""))
        if "cron" in w:
            if "start" in w or "end" in w:
                p.add(here, "give start and end (one-off) or cron and duration (recurring), not both",
                      said=("cli.policy.not_both", _WINDOW_KEYS))
            try:
                trigger = Schedule.parse(str(w["cron"]), zone)
            except ValueError as exc:
                p.add(f"{here}.cron", f"expected a cron expression such as \"0 2 * * 0\" ({exc})",
                      said=("cli.policy.cron", {"example": '"0 2 * * 0"', "why": error_text(exc)}))
                continue
            duration = _duration(w.get("duration"), f"{here}.duration", p, timedelta(hours=1))
            out.append(Window(hosts=tuple(hosts), cron=trigger, duration=duration, reason=reason))
            continue
        try:
            start, end = _aware(w.get("start"), zone), _aware(w.get("end"), zone)
        except (ValueError, TypeError):
            p.add(here, "expected start and end times such as 2026-11-28T22:00:00+08:00 "
                        "(or cron and duration for a recurring window)",
                  said=("cli.policy.window_times", {**_WINDOW_KEYS, "example": "2026-11-28T22:00:00+08:00"}))
            continue
        if end <= start:
            p.add(f"{here}.end", "expected an end after the start", said=("cli.policy.end", {}))
            continue
        out.append(Window(hosts=tuple(hosts), start=start, end=end, reason=reason))
    return tuple(out)


def _records_policy(raw: Any, base: RecordsPolicy, path: str, p: _Problems) -> RecordsPolicy:
    keys = ("customer", "systems", "language", "inspector", "schedule")
    if not isinstance(raw, Mapping):
        p.add(path, f"expected a mapping with {', '.join(keys)}",
              said=("cli.config.mapping_with", {"keys": ", ".join(keys)}))
        return base
    p.unknown_keys(path, raw, keys)
    changes: dict[str, Any] = {}
    for key in ("customer", "inspector"):
        if key in raw:
            if not isinstance(raw[key], str) or not raw[key].strip() or len(raw[key]) > 100:
                p.add(f"{path}.{key}", "expected a name of 1-100 characters", said=("cli.policy.name", {"most": 100}))
            else:
                changes[key] = raw[key].strip()
    if "systems" in raw:
        got = raw["systems"]
        if not isinstance(got, list) or not all(isinstance(x, str) and x.strip() for x in got):
            p.add(f"{path}.systems", f"expected a list of system names such as [HIS, LIS] (got {got!r})",
                  said=("cli.policy.systems", {"example": "[HIS, LIS]", "got": repr(got)}))
        else:
            changes["systems"] = tuple(x.strip() for x in got)
    if "language" in raw:
        lang = str(raw["language"]).strip().replace("-", "_")
        lang = {"zh": "zh_CN", "zh_cn": "zh_CN", "en_us": "en"}.get(lang.lower(), lang)
        if lang not in ("zh_CN", "en"):
            p.add(f"{path}.language", f"expected zh_CN or en (got {raw['language']!r})",
                  said=("cli.policy.a_or_b_got", {"a": "zh_CN", "b": "en", "got": repr(raw["language"])}))
        else:
            changes["language"] = lang
    if "schedule" in raw:
        sched = raw["schedule"]
        if not isinstance(sched, Mapping):
            p.add(f"{path}.schedule", "expected a mapping of kind to cron or off, e.g. {daily: \"30 7 * * *\"}",
                  said=("cli.policy.schedule", {"off": "off", "example": '{daily: "30 7 * * *"}'}))
        else:
            merged = dict(base.schedule)
            for kind, expr in sched.items():
                here = f"{path}.schedule.{kind}"
                if kind not in RECORD_KINDS:
                    p.add(here, f"unknown kind (expected {', '.join(RECORD_KINDS)})",
                          said=("cli.policy.kind", {"kinds": ", ".join(RECORD_KINDS)}))
                    continue
                if expr is False or expr is None or expr == "off":
                    merged[kind] = None
                    continue
                try:
                    Schedule.parse(str(expr), UTC)
                except ValueError as exc:
                    p.add(here, f"expected a cron expression such as \"30 7 * * *\" or off ({exc})",
                          said=("cli.policy.cron_or_off", {"example": '"30 7 * * *"', "off": "off",
                                                           "why": error_text(exc)}))
                    continue
                merged[kind] = str(expr)
            changes["schedule"] = merged
    return RecordsPolicy(**{**{f: getattr(base, f) for f in RecordsPolicy.__dataclass_fields__}, **changes})


def _clocked_term(raw: Mapping[str, Any], key: str, base: Term, base_always: bool, path: str,
                  p: _Problems) -> tuple[Term, bool]:
    """The term under ``key`` and the ``clock`` (24x7 or business) it runs on, of a mapping such as
    ``onsite: {due: 24h, clock: business}``; an inherited term is read again on a new clock."""
    always = base_always
    if "clock" in raw:
        if raw["clock"] not in ("24x7", "business"):
            p.add(f"{path}.clock", f"expected 24x7 or business (got {raw['clock']!r})",
                  said=("cli.policy.a_or_b_got", {"a": "24x7", "b": "business", "got": repr(raw["clock"])}))
        always = raw["clock"] == "24x7"
    if key in raw:
        return _term(raw[key], f"{path}.{key}", p, base, business=not always), always
    if always != base_always:
        return _term(base.text, f"{path}.{key}", p, base, business=not always), always
    return base, always


def _drills(raw: Any, base: str | None, path: str, p: _Problems) -> str | None:
    """``restore_drills: {every: quarterly}`` (or ``off``) → the promised period, None for none."""
    if raw is False or raw == "off":
        return None
    if not isinstance(raw, Mapping):
        p.add(path, f"expected {{every: {'|'.join(DRILL_PERIODS)}}} or off",
              said=("cli.policy.or_off", {"example": f"{{every: {'|'.join(DRILL_PERIODS)}}}", "off": "off"}))
        return base
    p.unknown_keys(path, raw, ("every",))
    every = raw.get("every", base)
    if every is False or every == "off":
        return None
    if every not in DRILL_PERIODS:
        p.add(f"{path}.every", f"expected {', '.join(DRILL_PERIODS)} or off (got {every!r})",
              said=("cli.policy.or_off_got", {"choices": ", ".join(DRILL_PERIODS), "off": "off", "got": repr(every)}))
        return base
    return str(every)


def _followup(raw: Any, base: FollowupPolicy, n_levels: int, path: str, p: _Problems) -> FollowupPolicy:
    keys = ("within", "clock", "tickets", "account_manager", "complaint_level")
    if raw is False or raw == "off":
        return FollowupPolicy(**{**{f: getattr(base, f) for f in FollowupPolicy.__dataclass_fields__},
                                 "tickets": "off"})
    if not isinstance(raw, Mapping):
        example = "{within: 3wd, clock: business, tickets: handled, account_manager: NAME, complaint_level: 3}"
        p.add(path, f"expected {example}", said=("cli.config.expected", {"example": example}))
        return base
    p.unknown_keys(path, raw, keys)
    changes: dict[str, Any] = {}
    changes["within"], changes["always"] = _clocked_term(raw, "within", base.within, base.always, path, p)
    if "tickets" in raw:
        if raw["tickets"] is False:  # YAML reads a bare off as false
            changes["tickets"] = "off"
        elif raw["tickets"] not in FOLLOWUP_TICKETS:
            p.add(f"{path}.tickets", f"expected {', '.join(FOLLOWUP_TICKETS)} (got {raw['tickets']!r})",
                  said=("cli.policy.choices_got", {"choices": ", ".join(FOLLOWUP_TICKETS),
                                                   "got": repr(raw["tickets"])}))
        else:
            changes["tickets"] = raw["tickets"]
    if "account_manager" in raw:
        name = raw["account_manager"]
        if name is None:
            changes["account_manager"] = None
        elif not isinstance(name, str) or not name.strip() or len(name.strip()) > 64:
            p.add(f"{path}.account_manager", "expected a name of 1-64 characters",
                  said=("cli.policy.name", {"most": 64}))
        else:
            changes["account_manager"] = name.strip()
    if "complaint_level" in raw:
        changes["complaint_level"] = _int(raw["complaint_level"], f"{path}.complaint_level", p, 1, n_levels,
                                          n_levels)
    return FollowupPolicy(**{**{f: getattr(base, f) for f in FollowupPolicy.__dataclass_fields__}, **changes})


def _agent_silent(s: Any, n: int, path: str, p: _Problems) -> dict[str, Any]:
    """The ``agent_silent:`` settings as SitePolicy field changes."""
    changes: dict[str, Any] = {}
    if s is False or s == "off":
        changes["silent_grace"] = None
    elif not isinstance(s, Mapping):
        p.add(path, "expected {grace: 15m, level: 2} or off",
              said=("cli.policy.or_off", {"example": "{grace: 15m, level: 2}", "off": "off"}))
    else:
        p.unknown_keys(path, s, ("grace", "level"))
        if "grace" in s:
            changes["silent_grace"] = (None if s["grace"] == "off" else
                                       _term(s["grace"], f"{path}.grace", p,
                                             Term("15m", timedelta(minutes=15)), business=False))
        if "level" in s:
            changes["silent_level"] = _int(s["level"], f"{path}.level", p, 1, n, 2)
    return changes


def _onsite(o: Any, base: SitePolicy, path: str, p: _Problems) -> dict[str, Any]:
    """The ``onsite:`` settings as SitePolicy field changes."""
    if not isinstance(o, Mapping):
        p.add(path, "expected {due: 24h, clock: 24x7|business}",
              said=("cli.config.expected", {"example": "{due: 24h, clock: 24x7|business}"}))
        return {}
    p.unknown_keys(path, o, ("due", "clock"))
    due, always = _clocked_term(o, "due", base.onsite_due, base.onsite_always, path, p)
    return {"onsite_due": due, "onsite_always": always}


def _policy(raw: Any, base: SitePolicy, base_dir: Path, path: str, p: _Problems,
            explicit_rules: tuple[Rule, ...] = ()) -> tuple[SitePolicy, tuple[Rule, ...]]:
    """A policy from ``raw`` on top of ``base``; also returns the rules written in the file."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        p.add(path, "expected a mapping of policy settings", said=("cli.policy.settings", {}))
        return base, explicit_rules
    p.unknown_keys(path, raw, _POLICY_KEYS)
    levels = base.levels
    if "levels" in raw:
        levels = _levels(raw["levels"], f"{path}.levels", p) or base.levels
    n = len(levels)
    holidays = (holiday_file(raw["holidays"], base_dir, f"{path}.holidays", p)
                if "holidays" in raw else None)
    calendar = read_calendar(raw.get("business_hours"), holidays, base.calendar, f"{path}.business_hours", p)
    rules = explicit_rules
    if "rules" in raw:
        rules = _rules(raw["rules"], n, f"{path}.rules", p)
    for i, r in enumerate(rules):
        for st, lv in r.open.items():
            if lv > n:
                p.add(f"{path}.rules[{i}].open.{Status(st).name}", f"level {lv} is not in a {n}-level scheme",
                      said=("cli.policy.level_not_in", {"level": lv, "n": n}))
    changes: dict[str, Any] = {"levels": levels, "calendar": calendar,
                               "rules": rules + default_rules(n), "_rule_cache": {}}
    if "key_customer" in raw:
        changes["key_customer"] = _bool(raw["key_customer"], f"{path}.key_customer", p, False)
    if "key_factor" in raw:
        f = raw["key_factor"]
        if isinstance(f, bool) or not isinstance(f, int | float) or not 0 < f <= 1:
            p.add(f"{path}.key_factor", f"expected a number above 0 and at most 1, e.g. 0.5 (got {f!r})",
                  said=("cli.policy.key_factor", {"got": repr(f)}))
        else:
            changes["key_factor"] = float(f)
    if "maintenance" in raw:
        changes["maintenance"] = _windows(raw["maintenance"], calendar.zone, f"{path}.maintenance", p)
    if "agent_silent" in raw:
        changes.update(_agent_silent(raw["agent_silent"], n, f"{path}.agent_silent", p))
    if "reopen_window" in raw:
        changes["reopen_window"] = (timedelta(0) if raw["reopen_window"] in ("off", "0", 0) else
                                    _duration(raw["reopen_window"], f"{path}.reopen_window", p,
                                              timedelta(hours=1)))
    if "escalate_on_breach" in raw:
        changes["escalate_on_breach"] = _bool(raw["escalate_on_breach"], f"{path}.escalate_on_breach", p,
                                              True)
    if "onsite" in raw:
        changes.update(_onsite(raw["onsite"], base, f"{path}.onsite", p))
    if "records" in raw:
        changes["records"] = _records_policy(raw["records"], base.records, f"{path}.records", p)
    if "restore_drills" in raw:
        changes["drill_every"] = _drills(raw["restore_drills"], base.drill_every, f"{path}.restore_drills", p)
    if "followup" in raw:
        changes["followup"] = _followup(raw["followup"], base.followup, n, f"{path}.followup", p)
    silent_level = changes.get("silent_level", base.silent_level)
    if silent_level > n:
        changes["silent_level"] = min(silent_level, n)
    policy = SitePolicy(**{**{f: getattr(base, f) for f in SitePolicy.__dataclass_fields__}, **changes})
    return policy, rules


def load_policies(path: str | Path) -> Policies:
    """Read and check a policy file; :class:`ConfigError` lists every fault at once."""
    file = Path(path)
    doc = read_yaml_file(file, "policy file")
    p = _Problems(str(file))
    if doc is None:
        doc = {}
    if not isinstance(doc, Mapping):
        raise ConfigError([f"{file}: expected a mapping with default: and sites: at the top level"],
                          [(f"{file}: ", "cli.config.policy_top", {"default": "default:", "sites": "sites:"}, "")])
    p.unknown_keys("", doc, ("default", "sites"))
    base_dir = file.resolve().parent
    default, default_rules_written = _policy(doc.get("default"), default_policy(), base_dir, "default", p)
    sites: dict[str, SitePolicy] = {}
    raw_sites = doc.get("sites") or {}
    if not isinstance(raw_sites, Mapping):
        p.add("sites", "expected a mapping of site name to policy", said=("cli.config.policy_sites", {}))
        raw_sites = {}
    for name, raw in raw_sites.items():
        sites[str(name)], _ = _policy(raw, default, base_dir, f"sites.{name}", p, default_rules_written)
    if p.lines:
        raise ConfigError(p.lines, p.said)
    return Policies(default=default, sites=sites, source=str(file))
