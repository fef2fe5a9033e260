"""The fleet file: check templates assigned by site, role and host, stored versioned in the database.

``wardround-collector fleet apply FILE`` checks the whole file — every template entry
with the agent's own validator (:func:`checks.entries.check_entries`), every ``assign``
rule — and reports every problem at once as ``FILE: key: expected``; a bad file is
refused and the stored version stays.  Also refused:

* a literal password anywhere in a template (``password:``, a ``PWD=`` in a DSN is refused by
  the checks themselves): secrets stay on the servers, templates name ``password_file`` or
  ``password_env``;
* two templates that would give one host two checks of the same name: any two rules that
  can match the same host (their sites and hosts agree; roles never conflict, a host may
  have several) are checked, so no host enrolled later can meet the clash either;
* a file over 1 MiB.

A good file becomes version N+1 (the version is the primary key, so collectors behind a
load balancer that apply at once cannot both write version N+1), unless it is the newest
version already.  Every collector serves the newest version from the database: a host's
*effective config* (:func:`effective`) is the entries of every template of every rule
that matches it, in rule order, each template once, with the ETag ``"v<N>-<digest>"``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from checks._units import format_bytes
from checks.entries import NAME_HINT, Problems, Said, check_entries, check_keys, is_name, parse_yaml
from checks.messages import Said as Keyed
from checks.result import format_time
from collector import audit
from collector.keys import Keyring, default_keyring
from collector.store import fleet as store
from collector.store.db import reading, writing

__all__ = ["Effective", "Fleet", "FleetError", "Assignment", "apply", "effective", "load", "newest", "parse"]

MAX_FLEET_BYTES = 1 << 20
_SECRET_PARAM = re.compile(r"passw(or)?d|passwd|secret", re.IGNORECASE)
_TOP_KEYS = frozenset({"templates", "assign"})
_RULE_KEYS = frozenset({"site", "role", "host", "templates"})


class FleetError(ValueError):
    """A fleet file that cannot be applied; ``problems`` are complete lines (exit 2)."""

    exit_code = 2

    def __init__(self, problems: list[str], said: Sequence[Said | None] = ()):
        self.problems = problems
        #: beside each line, the same as a command-line message (checks.entries.Problems.said), or None
        self.said = list(said) or [None] * len(problems)
        super().__init__("\n".join(problems))


@dataclass(frozen=True, slots=True)
class Assignment:
    """One entry of the fleet file's ``assign:``: the templates a host matching site/role/host takes."""

    site: str | None
    role: str | None
    host: str | None
    templates: tuple[str, ...]

    def matches(self, site: str, host: str, roles: Sequence[str]) -> bool:
        return ((self.site is None or self.site == site) and (self.host is None or self.host == host)
                and (self.role is None or self.role in roles))

    def may_meet(self, other: Assignment) -> bool:
        """Whether one host can match both rules."""
        return all(a is None or b is None or a == b for a, b in ((self.site, other.site), (self.host, other.host)))

    def describe(self) -> str:
        parts = [f"{k} {v}" for k, v in (("site", self.site), ("role", self.role), ("host", self.host)) if v]
        return ", ".join(parts) or "every host"


@dataclass(frozen=True, slots=True)
class Fleet:
    templates: Mapping[str, tuple[Mapping[str, Any], ...]]  # entries as JSON-compatible mappings
    names: Mapping[str, tuple[str, ...]]  # each template's check instance names
    assign: tuple[Assignment, ...]

    def document(self) -> dict[str, Any]:
        return {"templates": {k: list(v) for k, v in self.templates.items()},
                "assign": [{k: v for k, v in (("site", r.site), ("role", r.role), ("host", r.host)) if v}
                           | {"templates": list(r.templates)} for r in self.assign]}


@dataclass(frozen=True, slots=True)
class Effective:
    """What one host gets: its checks (entries as in agent.yaml) and their version."""

    version: int
    etag: str
    templates: tuple[str, ...]
    checks: tuple[Mapping[str, Any], ...]

    def to_json(self, site: str, host: str, roles: Sequence[str]) -> dict[str, Any]:
        return {"version": self.version, "etag": self.etag, "site": site, "host": host, "roles": list(roles),
                "templates": list(self.templates), "checks": list(self.checks)}


_RULE_EXAMPLE = "{role: his-db, templates: [his-db]}"


def parse(data: bytes, file: str) -> Fleet:
    """Check a fleet file's bytes; FleetError lists every problem."""
    if len(data) > MAX_FLEET_BYTES:
        raise _file_error(f"{file}: larger than {format_bytes(MAX_FLEET_BYTES)} ({len(data)} bytes): a fleet file "
                          "holds templates, not data; nothing was applied", "cli.fleet.too_large", file=file,
                          size=format_bytes(MAX_FLEET_BYTES), n=str(len(data)))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _file_error(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})", "cli.fleet.not_utf8",
                          file=file, reason=exc.reason, start=str(exc.start)) from None
    try:
        doc = parse_yaml(text, file)
    except ValueError as exc:
        said = exc.args[0]  # a keyed text (parse_yaml): said in the reader's language, PyYAML's words as they are
        raise FleetError([str(exc)], [("", "cli.config.said", {"what": said}, "") if isinstance(said, Keyed)
                                      else None]) from None
    # What is stored and served is JSON: check the document as the agents will receive it.
    try:
        doc = orjson.loads(orjson.dumps(doc))
    except orjson.JSONEncodeError as exc:
        raise _file_error(f"{file}: holds a value JSON cannot carry ({exc})", "cli.fleet.json", file=file,
                          error=str(exc)) from None
    return _check(doc, file)


def _file_error(line: str, key: str, **words: object) -> FleetError:
    """A whole file's problem: ``line`` in English, said in the reader's language by ``key``."""
    return FleetError([line], [("", key, words, "")])


def _check(doc: Any, file: str) -> Fleet:
    problems = Problems(file)
    if not isinstance(doc, dict):
        raise _file_error(f"{file}: expected a mapping with templates: and assign: at the top", "cli.fleet.top",
                          file=file, templates="templates:", assign="assign:")
    check_keys(problems, "", doc, _TOP_KEYS)
    raw_templates = doc.get("templates")
    templates: dict[str, tuple[Mapping[str, Any], ...]] = {}
    names: dict[str, tuple[str, ...]] = {}
    if not isinstance(raw_templates, dict) or not raw_templates:
        problems.add("templates", "expected a mapping of template names to lists of check entries", raw_templates,
                     said=("cli.fleet.templates", {}))
        raw_templates = {}
    for name, entries in raw_templates.items():
        where = f"templates.{name}"
        if not is_name(name):
            problems.add(where, f"expected a template name of {NAME_HINT}", said=("cli.fleet.template_name", {}))
            continue
        if not isinstance(entries, list) or not entries:
            problems.add(where, "expected a non-empty list of check entries (- {check: disk, every: 5m})", entries,
                         said=("cli.fleet.entries", {"example": "- {check: disk, every: 5m}"}))
            continue
        _refuse_secrets(problems, where, entries)
        checked = check_entries(problems, where, entries)
        templates[name] = tuple(entries)
        names[name] = tuple(c.name for c in checked)
    rules: list[Assignment] = []
    raw_assign = doc.get("assign")
    if not isinstance(raw_assign, list) or not raw_assign:
        problems.add("assign", "expected a list of rules like {role: his-db, templates: [his-db]}", raw_assign,
                     said=("cli.fleet.assign", {"example": _RULE_EXAMPLE}))
        raw_assign = []
    for i, raw in enumerate(raw_assign):
        where = f"assign[{i}]"
        if not isinstance(raw, dict):
            problems.add(where, "expected a mapping like {role: his-db, templates: [his-db]}", raw,
                         said=("cli.fleet.rule", {"example": _RULE_EXAMPLE}))
            continue
        check_keys(problems, where, raw, _RULE_KEYS)
        match: dict[str, str | None] = {}
        for key in ("site", "role", "host"):
            value = raw.get(key)
            if value is not None and not is_name(value):
                problems.add(f"{where}.{key}", f"expected {NAME_HINT}", value, said=("cli.config.name", {}))
            match[key] = value if is_name(value) else None
        wanted = raw.get("templates")
        if not isinstance(wanted, list) or not wanted:
            problems.add(f"{where}.templates", "expected a non-empty list of template names", wanted,
                         said=("cli.fleet.template_names", {}))
            continue
        for t in wanted:
            if t not in raw_templates:
                known = ", ".join(sorted(map(str, raw_templates)))
                problems.add(f"{where}.templates", f"no template named {str(t)[:64]!r} (templates: {known or 'none'})",
                             said=("cli.fleet.no_template", {"name": repr(str(t)[:64]), "templates": known})
                             if known else ("cli.fleet.no_template_none", {"name": repr(str(t)[:64])}))
        rules.append(Assignment(site=match["site"], role=match["role"], host=match["host"],
                          templates=tuple(dict.fromkeys(t for t in wanted if isinstance(t, str)))))
    _clashes(problems, rules, names)
    if problems.lines:
        raise FleetError(problems.lines, problems.said)
    return Fleet(templates=templates, names=names, assign=tuple(rules))


def _refuse_secrets(problems: Problems, where: str, entries: list[Any]) -> None:
    for i, entry in enumerate(entries):
        params = entry.get("params") if isinstance(entry, dict) else None
        if not isinstance(params, dict):
            continue
        for key in params:
            if isinstance(key, str) and _SECRET_PARAM.search(key) and not key.endswith(("_file", "_env")):
                problems.add(f"{where}[{i}].params.{key}",
                             "a password never goes in the fleet file: name password_file (a file on the server) "
                             "or password_env (an environment variable of the agent) instead",
                             said=("cli.fleet.password", {"file": "password_file", "env": "password_env"}))


def _clashes(problems: Problems, rules: list[Assignment], names: Mapping[str, tuple[str, ...]]) -> None:
    """Two templates that one host could get together must not share a check name."""
    reported: set[tuple[str, str]] = set()
    for i, a in enumerate(rules):
        for j in range(i, len(rules)):
            b = rules[j]
            if not a.may_meet(b):
                continue
            for ta in a.templates:
                for tb in b.templates:
                    pair = (min(ta, tb), max(ta, tb))
                    if ta == tb or pair in reported:
                        continue
                    same = sorted(set(names.get(ta, ())) & set(names.get(tb, ())))
                    if same:
                        reported.add(pair)
                        words: dict[str, object] = {"name": repr(same[0]), "a": ta, "b": tb}
                        text = (f"would get two checks named {same[0]!r} (templates {ta} and {tb}): give one of them "
                                "another name:")
                        if i != j:  # the two rules' places are words of the message ("and" is prose)
                            problems.add("", f"assign[{i}] and assign[{j}]: a host matching both {text}",
                                         said=("cli.fleet.clash_both", {**words, "i": i, "j": j}))
                        elif a.describe() == "every host":
                            problems.add(f"assign[{i}]", f"a host matching every host {text}",
                                         said=("cli.fleet.clash_every", words))
                        else:
                            problems.add(f"assign[{i}]", f"a host matching {a.describe()} {text}",
                                         said=("cli.fleet.clash", {**words, "who": a.describe()}))


def load(document: str) -> Fleet:
    """A stored fleet document (checked when it was applied)."""
    return _check(orjson.loads(document), "stored fleet")


def effective(fleet: Fleet | None, version: int, site: str, host: str, roles: Sequence[str]) -> Effective:
    """The checks ``site``/``host`` with ``roles`` gets from ``fleet`` (version ``version``)."""
    chosen: list[str] = []
    if fleet is not None:
        for rule in fleet.assign:
            if rule.matches(site, host, roles):
                chosen += [t for t in rule.templates if t not in chosen]
    entries = tuple(e for t in chosen for e in fleet.templates[t]) if fleet is not None else ()
    digest = hashlib.sha256(orjson.dumps(list(entries), option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
    return Effective(version=version, etag=f"v{version}-{digest}", templates=tuple(chosen), checks=entries)


_cache: dict[tuple[str, int], Fleet] = {}


def newest(engine: Engine) -> tuple[int, Fleet | None]:
    """The newest fleet version and its file (None before the first apply); parsed once per process
    and database (a version number is one database's: another database's v1 is another file)."""
    where = engine.url.render_as_string(hide_password=True)
    with reading(engine) as conn:
        version = store.fleet_version(conn)
        if version == 0:
            return 0, None
        if (where, version) in _cache:
            return version, _cache[where, version]
        row = store.newest_version(conn)
    assert row is not None
    fleet = load(row.document)
    for older in [k for k in _cache if k[0] == where]:
        del _cache[older]
    _cache[where, int(row.version)] = fleet
    return int(row.version), fleet


def apply(engine: Engine, data: bytes, file: str, *, actor: str | None = None,
          keys: Keyring | None = None) -> tuple[int, bool]:
    """Check and store a fleet file; (its version, whether it is new)."""
    fleet = parse(data, file)
    document = orjson.dumps(fleet.document(), option=orjson.OPT_SORT_KEYS).decode()
    digest = hashlib.sha256(document.encode()).hexdigest()
    actor = actor or audit.local_actor()
    for _attempt in range(3):
        now = datetime.now(UTC)
        try:
            with writing(engine) as conn:
                row = store.newest_version(conn)
                if row is not None and row.digest == digest:
                    return int(row.version), False
                version = (int(row.version) if row is not None else 0) + 1
                store.insert_version(conn, {"version": version, "applied_at": now, "applied_by": actor[:64],
                                            "file": file[-255:], "digest": digest,
                                            "source": data.decode("utf-8"), "document": document})
                audit.append(conn, keys or default_keyring(), actor=actor, action="fleet.apply",
                             target=f"fleet:v{version}",
                             detail={"file": file[-200:], "digest": digest, "templates": sorted(fleet.templates),
                                     "rules": len(fleet.assign)}, at=now)
                return version, True
        except IntegrityError:  # another collector stored this version number first: read again
            continue
    raise FleetError([f"{file}: other fleet files were being applied at the same time; run fleet apply again"])


def describe_version(engine: Engine) -> dict[str, Any] | None:
    """The newest version's metadata and source, or None."""
    with reading(engine) as conn:
        row = store.newest_version(conn)
    if row is None:
        return None
    return {"version": int(row.version), "applied_at": format_time(row.applied_at), "applied_by": row.applied_by,
            "file": row.file, "digest": row.digest, "source": row.source}
