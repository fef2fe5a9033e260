"""The fleet's subcommands of ``wardround-collector``: enrol keys, the fleet file, the inventory,
and the lifecycle of agent tokens and people (``token list/revoke/rotate``, ``user list/disable/token``).

Each prints what it did; a secret (a key, a token) alone on the last line of stdout, once.
``--json`` prints a JSON list and nothing else on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checks.messages.reader import aligned, cli_said, tell
from checks.params import parse_duration
from collector.access import APPROVE
from collector.cli_args import actions

if TYPE_CHECKING:  # the parser is built without the database's modules (collector.cli: a fast start)
    from sqlalchemy import Engine

    from collector.keys import Keyring

__all__ = ["add_parsers", "run", "COMMANDS", "READ_ONLY"]

class UsageError(ValueError):
    """A bad argument value (exit 2)."""

    exit_code = 2


def _duration(text: str, flag: str) -> timedelta:
    try:
        return timedelta(seconds=parse_duration(text))
    except ValueError:
        raise UsageError(cli_said("cli.collector.bad_duration", option=flag, got=repr(text))) from None


def add_parsers(sub: Any, common: argparse.ArgumentParser, token_sub: Any, user_sub: Any) -> None:
    """Add the fleet's commands to the ``wardround-collector`` parser."""
    ek_sub = actions(sub, "enrol-key", "cli.help.collector.enrol_key")
    c = ek_sub.add_parser("create", parents=[common], help="cli.help.collector.ek_sub.create.help",
                          description="cli.help.collector.ek_sub.create.description")
    c.add_argument("--site", required=True, help="cli.help.collector.c.site")
    c.add_argument("--role", action="append", default=[], metavar="R", dest="roles",
                   help="cli.help.collector.c.roles")
    c.add_argument("--uses", type=int, default=1, metavar="N", help="cli.help.collector.c.uses")
    c.add_argument("--expires", default="7d", metavar="DURATION", help="cli.help.collector.c.expires")
    c.add_argument("--approve", choices=APPROVE, default="auto",
                   help="cli.help.collector.c.approve")
    ls = ek_sub.add_parser("list", parents=[common], help="cli.help.collector.ek_sub.list.help")
    ls.add_argument("--site", help="cli.help.collector.only_site")
    ls.add_argument("--json", action="store_true", help="cli.help.collector.ls.json")
    rv = ek_sub.add_parser("revoke", parents=[common], help="cli.help.collector.ek_sub.revoke.help")
    rv.add_argument("id", type=int, metavar="ID")

    fl_sub = actions(sub, "fleet", "cli.help.collector.fleet")
    ap = fl_sub.add_parser("apply", parents=[common], help="cli.help.collector.fl_sub.apply.help",
                           description="cli.help.collector.fl_sub.apply.description")
    ap.add_argument("file", metavar="FILE")
    sh = fl_sub.add_parser("show", parents=[common], help="cli.help.collector.fl_sub.show.help",
                           description="cli.help.collector.fl_sub.show.description")
    sh.add_argument("--site", help="cli.help.collector.the_site")
    sh.add_argument("--host", dest="fleet_host", help="cli.help.collector.the_host")
    sh.add_argument("--role", action="append", default=[], metavar="R", dest="roles",
                    help="cli.help.collector.sh.roles")

    tl = token_sub.add_parser("list", parents=[common], help="cli.help.collector.token_sub.list.help")
    tl.add_argument("--site", help="cli.help.collector.only_site")
    tl.add_argument("--json", action="store_true", help="cli.help.collector.ls.json")
    tr = token_sub.add_parser("revoke", parents=[common], help="cli.help.collector.token_sub.revoke.help")
    tr.add_argument("--site", required=True, help="cli.help.collector.the_site")
    tr.add_argument("--host", required=True, help="cli.help.collector.tr.host")
    tr.add_argument("--relay", action="store_true", help="cli.help.collector.tr.relay")
    tt = token_sub.add_parser("rotate", parents=[common], help="cli.help.collector.token_sub.rotate.help",
                              description="cli.help.collector.token_sub.rotate.description")
    tt.add_argument("--site", required=True, help="cli.help.collector.the_site")
    tt.add_argument("--host", required=True, help="cli.help.collector.the_host")
    tt.add_argument("--grace", default="24h", metavar="DURATION",
                    help="cli.help.collector.tt.grace")

    ho_sub = actions(sub, "host", "cli.help.collector.host")
    hl = ho_sub.add_parser("list", parents=[common], help="cli.help.collector.ho_sub.list.help",
                           description="cli.help.collector.ho_sub.list.description")
    hl.add_argument("--site", help="cli.help.collector.only_site")
    hl.add_argument("--all", action="store_true", dest="retired", help="cli.help.collector.hl.retired")
    hl.add_argument("--json", action="store_true", help="cli.help.collector.ls.json")
    for name, text in (("retire", "cli.help.collector.host.retire"), ("approve", "cli.help.collector.host.approve")):
        hp = ho_sub.add_parser(name, parents=[common], help=text, description=text)
        hp.add_argument("--site", required=True, help="cli.help.collector.the_site")
        hp.add_argument("--host", required=True, dest="fleet_host", help="cli.help.collector.the_host")

    _relay_parsers(sub, common)

    user_sub.add_parser("list", parents=[common], help="cli.help.collector.user_sub.list.help").add_argument(
        "--json", action="store_true", help="cli.help.collector.ls.json")
    ud = user_sub.add_parser("disable", parents=[common],
                             help="cli.help.collector.user_sub.disable.help")
    ud.add_argument("name")
    ut = user_sub.add_parser("token", parents=[common],
                             help="cli.help.collector.user_sub.token.help")
    ut.add_argument("name")


def _relay_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    rl_sub = actions(sub, "relay", "cli.help.collector.relay")
    rb = rl_sub.add_parser("bundle", parents=[common], help="cli.help.collector.rl_sub.bundle.help",
                           description="cli.help.collector.rl_sub.bundle.description")
    rb.add_argument("--site", required=True, help="cli.help.collector.the_site")
    rb.add_argument("--relay", default="relay", metavar="NAME", help="cli.help.collector.rb.relay")
    rb.add_argument("dir", metavar="DIR")


def _table(rows: Sequence[Sequence[str]]) -> None:
    for line in aligned(rows):
        print(line)


def _head(*names: str) -> tuple[str, ...]:
    """A table's column names for the reader (``cli.collector.column.<name>``)."""
    return tuple(tell(f"cli.collector.column.{name}") for name in names)


def _word(value: str) -> str:
    """A state a table shows (``active``, ``used up``…) for the reader; a value it does not know as it is."""
    return tell(f"cli.collector.state.{value.replace(' ', '_')}") if value in _STATES else value


def _when(value: datetime | str | None, none: str = "") -> str:
    """A time a table shows, as the ticket texts and ``make demo`` show times (``2026-12-06 10:30
    (Asia/Shanghai)``, the default policy's calendar zone: :func:`collector.messages.local_moment`);
    ``--json`` keeps the ISO time.  No time: the state ``none`` names, else ``-``."""
    from collector.messages import local_moment
    from collector.policy.defaults import DEFAULT_CALENDAR

    return local_moment(value, DEFAULT_CALENDAR.zone) or (_word(none) if none else "-")


_STATES = frozenset({"active", "rotating", "revoked", "expired", "usable", "used up", "disabled", "retired",
                     "current", "behind",
                     "awaiting approval", "enrolled", "reported", "never reported", "never contacted"})


def _json(items: Any) -> None:
    json.dump(items, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def _listed(args: argparse.Namespace, items: list[dict[str, Any]], head: Sequence[str],
            row: Callable[[dict[str, Any]], Sequence[str]]) -> int:
    """A list command's answer: ``items`` as JSON with ``--json``, else a table of ``head`` and a ``row`` each."""
    if args.json:
        _json(items)
    else:
        _table([head, *map(row, items)])
    return 0


def run(args: argparse.Namespace, engine: Engine, keys: Keyring | None) -> int:
    """Run one fleet subcommand; its exit code.  ``keys`` is None only for a command of :data:`READ_ONLY`."""
    from collector import auth

    if args.action == "list" and getattr(args, "site", None) is not None:
        auth.check_name("--site", args.site)  # malformed: exit 2, as token create says it
    pair = (args.command, args.action)
    if pair in _READERS:
        return _READERS[pair](args, engine)
    assert keys is not None, pair
    return _HANDLERS[pair](args, engine, keys)


def _key_create(args: argparse.Namespace, engine: Engine, keys: Keyring) -> int:
    from collector import enrol

    expires = _duration(args.expires, "--expires")
    key = enrol.create_key(engine, site=args.site, roles=args.roles, uses=args.uses, expires=expires,
                           approve=args.approve, keys=keys)
    said = {"site": args.site, "uses": args.uses, "expires": args.expires,
            "command": "wardround-agent enrol --url URL --key KEY --config PATH"}
    if args.roles:
        said["roles"] = ", ".join(sorted(set(args.roles)))
    manual = args.approve == "manual"
    print(tell("cli.collector.key_roles_manual", approve="`host approve`", **said) if args.roles and manual else
          tell("cli.collector.key_roles", **said) if args.roles else
          tell("cli.collector.key_manual", approve="`host approve`", **said) if manual else
          tell("cli.collector.key", **said))
    print(key)
    return 0


def _key_list(args: argparse.Namespace, engine: Engine) -> int:
    from collector import enrol

    return _listed(args, enrol.list_keys(engine, args.site),
                   _head("id", "site", "roles", "uses", "approve", "state", "expires"),
                   lambda k: (str(k["id"]), k["site"], ",".join(k["roles"]) or "-", f"{k['uses']}/{k['max_uses']}",
                              k["approve"], _word(k["state"]), _when(k["expires_at"])))


def _key_revoke(args: argparse.Namespace, engine: Engine, keys: Keyring) -> int:
    from collector import enrol

    enrol.revoke_key(engine, args.id, keys=keys)
    print(tell("cli.collector.key_revoked", id=args.id))
    return 0


def _fleet_apply(args: argparse.Namespace, engine: Engine, keys: Keyring) -> int:
    from collector import fleet

    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        error = str(exc.strerror or exc)
        raise UsageError(cli_said("cli.collector.cannot_read", file=args.file, error=error)) from None
    version, new = fleet.apply(engine, data, args.file, keys=keys)
    if new:
        print(tell("cli.collector.fleet_applied", file=args.file, version=version, key="config_every", every="5m"))
    else:
        print(tell("cli.collector.fleet_unchanged", file=args.file, version=version))
    return 0


def _fleet_show(args: argparse.Namespace, engine: Engine) -> int:
    import yaml

    from collector import fleet, inventory

    if args.fleet_host is None:
        if args.site is not None or args.roles:
            raise UsageError(cli_said("cli.collector.needs", options="--site, --role", needed="--host"))
        info = fleet.describe_version(engine)
        if info is None:
            print(tell("cli.collector.no_fleet", command="wardround-collector fleet apply FILE"))
            return 0
        print(tell("cli.collector.fleet_version", version=info["version"], at=_when(info["applied_at"]),
                   by=info["applied_by"], file=info["file"], digest=info["digest"][:16]))
        print(info["source"], end="" if info["source"].endswith("\n") else "\n")
        return 0
    if args.site is None:
        raise UsageError(cli_said("cli.collector.needs", options="--host", needed="--site"))
    version, current = fleet.newest(engine)
    roles = list(args.roles)
    found = [h for h in inventory.list_hosts(engine, args.site, retired=True) if h["host"] == args.fleet_host]
    if not roles:
        roles = found[0]["roles"] if found else []
    got = fleet.effective(current, version, args.site, args.fleet_host, roles)
    none = tell("cli.collector.none")
    if not found:  # a typo, or a preview before enrolment: say which, and still show it
        print(tell("cli.collector.fleet_host_unknown", host=f"{args.site}/{args.fleet_host}",
                   command=f"wardround-collector host list --site {args.site}", roles=", ".join(roles) or none),
              file=sys.stderr)
    print(tell("cli.collector.fleet_host", host=f"{args.site}/{args.fleet_host}", roles=", ".join(roles) or none,
               version=version, etag=got.etag, templates=", ".join(got.templates) or none))
    print(yaml.safe_dump({"checks": [dict(e) for e in got.checks]}, allow_unicode=True, sort_keys=False), end="")
    return 0


def _token_list(args: argparse.Namespace, engine: Engine) -> int:
    from collector import credentials

    return _listed(args, credentials.list_tokens(engine, args.site),
                   _head("id", "site", "host", "state", "created", "expires_revoked", "also_hosts"),
                   lambda t: (str(t["id"]), t["site"], t["host"], _word(t["state"]), _when(t["created_at"]),
                              _when(t["revoked_at"] or t["expires_at"]), ",".join(t["also_hosts"]) or "-"))


def _token_revoke(args: argparse.Namespace, engine: Engine, keys: Keyring) -> int:
    from collector import credentials, relays

    if args.relay:
        relays.revoke_relay(engine, site=args.site, name=args.host, keys=keys)
        print(tell("cli.collector.relay_revoked", relay=args.host, site=args.site))
        return 0
    ids = credentials.revoke_token(engine, site=args.site, host=args.host, keys=keys)
    print(tell("cli.collector.tokens_revoked", n=len(ids), host=f"{args.site}/{args.host}",
               ids=", ".join(map(str, ids))))
    return 0


def _token_rotate(args: argparse.Namespace, engine: Engine, keys: Keyring) -> int:
    from collector import credentials, relays

    grace = _duration(args.grace, "--grace")
    done = credentials.rotate_token(engine, site=args.site, host=args.host, grace=grace, keys=keys)
    until = _when(done.old_expires_at)
    gateway = relays.gateway_relays(engine, args.site)
    if gateway:  # its agents reach no collector: nothing fetches the successor (docs/deploy.md, "File ferry")
        print(tell("cli.collector.token_rotated_gateway", host=f"{args.site}/{args.host}", file="token_file",
                   until=until, relays=", ".join(gateway), site=args.site, relay=gateway[0]))
    else:
        print(tell("cli.collector.token_rotated", host=f"{args.site}/{args.host}", file="token_file", until=until))
    print(done.token)
    return 0


def _host_list(args: argparse.Namespace, engine: Engine) -> int:
    from collector import inventory, relays

    _listed(args, inventory.list_hosts(engine, args.site, retired=args.retired),
            _head("site", "host", "roles", "state", "last_seen", "agent", "config"), _host_row)
    if args.json:
        return 0
    found = relays.list_relays(engine, args.site)
    if found:  # the site relays the hosts of these sites report through (docs/deploy.md)
        print()
        _table([_head("site", "relay", "backlog", "last_contact", "version")] + [
            (r["site"], r["relay"], tell("cli.collector.backlog", n=r["backlog"]) if r["backlog"] is not None else "-",
             _when(r["last_contact"], "never contacted"), r["version"] or "-") for r in found])
    return 0


def _host_row(h: dict[str, Any]) -> tuple[str, ...]:
    state = ("retired" if h["retired_at"] else "awaiting approval" if h["approval"] == "awaiting"
             else "enrolled" if h["enrolled"] else "reported")
    config = f"{h['config_version']} ({_word(h['config'])})" if h["config_version"] else "-"
    return (h["site"], h["host"], ",".join(h["roles"]) or "-", _word(state), _when(h["last_seen"], "never reported"),
            h["agent_version"] or "-", config)


def _host_retire(args: argparse.Namespace, engine: Engine, keys: Keyring) -> int:
    from collector import inventory

    revoked = inventory.retire(engine, site=args.site, host=args.fleet_host, keys=keys)
    print(tell("cli.collector.host_retired", host=f"{args.site}/{args.fleet_host}", n=len(revoked)))
    return 0


def _host_approve(args: argparse.Namespace, engine: Engine, keys: Keyring) -> int:
    from collector import inventory

    if inventory.approve(engine, site=args.site, host=args.fleet_host, keys=keys):
        print(tell("cli.collector.host_approved", host=f"{args.site}/{args.fleet_host}"))
    else:
        print(tell("cli.collector.host_approved_already", host=f"{args.site}/{args.fleet_host}"))
    return 0


def _relay_bundle(args: argparse.Namespace, engine: Engine) -> int:
    from collector import credentials, ferry

    folder = Path(args.dir)
    if not folder.is_dir():
        raise UsageError(cli_said("cli.collector.not_a_directory", command="relay bundle", path=str(folder)))
    try:
        path = ferry.write_sync_bundle(engine, args.site, args.relay, folder)
    except ferry.BundleRefused as exc:
        raise credentials.CredentialNotFound(exc.args[0]) from None
    print(tell("cli.collector.bundle_written", relay=args.relay, site=args.site, path=str(path)))
    return 0


def _user_list(args: argparse.Namespace, engine: Engine) -> int:
    from collector import credentials

    return _listed(args, credentials.list_users(engine), _head("name", "role", "state", "created"),
                   lambda u: (u["name"], u["role"], _word(u["state"]), _when(u["created_at"])))


def _user_disable(args: argparse.Namespace, engine: Engine, keys: Keyring) -> int:
    from collector import credentials

    credentials.disable_user(engine, args.name, keys=keys)
    print(tell("cli.collector.user_disabled", name=args.name, command=f"`user token {args.name}`"))
    return 0


def _user_token(args: argparse.Namespace, engine: Engine, keys: Keyring) -> int:
    from collector import credentials

    token = credentials.new_user_token(engine, args.name, keys=keys)
    print(tell("cli.collector.user_new_token", name=args.name))
    print(token)
    return 0


# what only reads: it never needs the signing key, so it never makes one (a relay bundle is signed with the
# relay's token hash, not the collector's key)
_READERS: dict[tuple[str, str], Callable[[argparse.Namespace, Engine], int]] = {
    ("enrol-key", "list"): _key_list, ("fleet", "show"): _fleet_show, ("token", "list"): _token_list,
    ("host", "list"): _host_list, ("relay", "bundle"): _relay_bundle, ("user", "list"): _user_list,
}
# what writes an entry of the signed audit log: the collector's key, made on a fresh database
_HANDLERS: dict[tuple[str, str], Callable[[argparse.Namespace, Engine, Keyring], int]] = {
    ("enrol-key", "create"): _key_create, ("enrol-key", "revoke"): _key_revoke, ("fleet", "apply"): _fleet_apply,
    ("token", "revoke"): _token_revoke, ("token", "rotate"): _token_rotate,
    ("host", "retire"): _host_retire, ("host", "approve"): _host_approve,
    ("user", "disable"): _user_disable, ("user", "token"): _user_token,
}

READ_ONLY = frozenset(_READERS)
COMMANDS = READ_ONLY | frozenset(_HANDLERS)
