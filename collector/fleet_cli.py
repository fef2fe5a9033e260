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
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from checks.params import parse_duration
from collector import auth, credentials, enrol, fleet, inventory, relays
from collector.cli_args import actions
from collector.keys import Keyring

__all__ = ["add_parsers", "run", "COMMANDS"]

class UsageError(ValueError):
    """A bad argument value (exit 2)."""

    exit_code = 2


def _duration(text: str, flag: str) -> timedelta:
    try:
        return timedelta(seconds=parse_duration(text))
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def add_parsers(sub: Any, common: argparse.ArgumentParser, token_sub: Any, user_sub: Any) -> None:
    """Add the fleet's commands to the ``wardround-collector`` parser."""
    ek_sub = actions(sub, "enrol-key", "site enrolment keys: a new server joins with one (docs/fleet.md)")
    c = ek_sub.add_parser("create", parents=[common], help="make a site enrolment key (printed once)",
                          description="Make a key a new server enrols with (wardround-agent enrol --key KEY). "
                                      "It is printed alone on the last line, once; only its hash is stored.")
    c.add_argument("--site", required=True, help="the site the enrolled hosts belong to")
    c.add_argument("--role", action="append", default=[], metavar="R", dest="roles",
                   help="a role every host enrolled with this key gets (fleet file assign: role); repeatable")
    c.add_argument("--uses", type=int, default=1, metavar="N", help="how many hosts may enrol with it (default 1)")
    c.add_argument("--expires", default="7d", metavar="DURATION", help="valid for this long (default 7d)")
    c.add_argument("--approve", choices=enrol.APPROVE, default="auto",
                   help="manual: enrolled hosts wait for `host approve` before their results are taken")
    ls = ek_sub.add_parser("list", parents=[common], help="list enrolment keys (never the key)")
    ls.add_argument("--site")
    ls.add_argument("--json", action="store_true", help="print a JSON list, nothing else")
    rv = ek_sub.add_parser("revoke", parents=[common], help="revoke an enrolment key by its id (enrol-key list)")
    rv.add_argument("id", type=int, metavar="ID")

    fl_sub = actions(sub, "fleet", "the fleet file: check templates by site, role and host (docs/fleet.md)")
    ap = fl_sub.add_parser("apply", parents=[common], help="check and store a fleet file as a new version",
                           description="Check FILE with the agent's own config validator and store it as the "
                                       "newest version, which every collector of the database serves. Every "
                                       "problem is reported at once as FILE: key: expected (exit 2); the stored "
                                       "version stays.")
    ap.add_argument("file", metavar="FILE")
    sh = fl_sub.add_parser("show", parents=[common], help="the stored fleet file, or one host's effective checks",
                           description="Without --host: the newest version and its file. With --site and --host: "
                                       "the checks that host gets (its roles from the inventory).")
    sh.add_argument("--site")
    sh.add_argument("--host", dest="fleet_host")
    sh.add_argument("--role", action="append", default=[], metavar="R", dest="roles",
                    help="with --host: assume these roles instead of the inventory's")

    tl = token_sub.add_parser("list", parents=[common], help="list agent tokens (never the secret)")
    tl.add_argument("--site")
    tl.add_argument("--json", action="store_true", help="print a JSON list, nothing else")
    tr = token_sub.add_parser("revoke", parents=[common], help="revoke a host's tokens at once (401 from then on)")
    tr.add_argument("--site", required=True)
    tr.add_argument("--host", required=True, help="the host; with --relay: the relay's name")
    tr.add_argument("--relay", action="store_true", help="revoke a site relay's token (token create --relay)")
    tt = token_sub.add_parser("rotate", parents=[common], help="a new token; the old works for a grace period",
                              description="Make a new token for the host (printed alone on the last line). The "
                                          "old one keeps working for --grace; the agent fetches the new one "
                                          "itself with the old (GET /api/v1/agent/token) and writes its "
                                          "token_file. A token that may have leaked is revoked, not rotated.")
    tt.add_argument("--site", required=True)
    tt.add_argument("--host", required=True)
    tt.add_argument("--grace", default="24h", metavar="DURATION",
                    help="how long the old token keeps working (default 24h; 0s ends it now)")

    ho_sub = actions(sub, "host", "the inventory: enrolled hosts, roles, last seen, config version")
    hl = ho_sub.add_parser("list", parents=[common], help="list the inventory",
                           description="Every enrolled host and every host that reported: roles, approval, "
                                       "last seen (or never reported), agent version, config version.")
    hl.add_argument("--site")
    hl.add_argument("--all", action="store_true", dest="retired", help="also retired hosts")
    hl.add_argument("--json", action="store_true", help="print a JSON list, nothing else")
    for name, text in (("retire", "retire a host: it leaves records and silence rules; its tokens are revoked"),
                       ("approve", "approve a host that enrolled with a key made with --approve manual")):
        hp = ho_sub.add_parser(name, parents=[common], help=text, description=text)
        hp.add_argument("--site", required=True)
        hp.add_argument("--host", required=True, dest="fleet_host")

    _relay_parsers(sub, common)

    user_sub.add_parser("list", parents=[common], help="list people (never a token)").add_argument(
        "--json", action="store_true", help="print a JSON list, nothing else")
    ud = user_sub.add_parser("disable", parents=[common],
                             help="disable a person: their token and page sessions stop working at once")
    ud.add_argument("name")
    ut = user_sub.add_parser("token", parents=[common],
                             help="a new token for a person (printed once); the old one stops working")
    ut.add_argument("name")


def _relay_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    rl_sub = actions(sub, "relay", "site relays and the file ferry (docs/deploy.md)")
    rb = rl_sub.add_parser("bundle", parents=[common], help="write a sync bundle for a relay behind a file gateway",
                           description="Write a signed file with the site's live agent token hashes and each "
                                       "host's central config into DIR, for the gateway to carry to relay NAME "
                                       "(it applies files from its export.inbox).")
    rb.add_argument("--site", required=True)
    rb.add_argument("--relay", default="relay", metavar="NAME", help="the relay's name (default relay)")
    rb.add_argument("dir", metavar="DIR")


def _table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


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


def run(args: argparse.Namespace, engine: Engine, keys: Keyring) -> int:
    """Run one fleet subcommand; its exit code."""
    handler: Callable[[argparse.Namespace, Engine, Keyring], int] = _HANDLERS[(args.command, args.action)]
    if args.action == "list" and getattr(args, "site", None) is not None:
        auth.check_name("--site", args.site)  # malformed: exit 2, as token create says it
    return handler(args, engine, keys)


def _key_create(args: argparse.Namespace, engine: Engine, keys: Keyring) -> int:
    expires = _duration(args.expires, "--expires")
    key = enrol.create_key(engine, site=args.site, roles=args.roles, uses=args.uses, expires=expires,
                           approve=args.approve, keys=keys)
    roles = f", roles {', '.join(sorted(set(args.roles)))}" if args.roles else ""
    approval = "; hosts wait for `host approve`" if args.approve == "manual" else ""
    print(f"enrolment key for site {args.site}{roles}: {args.uses} use(s), expires in {args.expires}{approval} "
          "(shown once; a server joins with: wardround-agent enrol --url URL --key KEY --config PATH):")
    print(key)
    return 0


def _key_list(args: argparse.Namespace, engine: Engine, keys: Keyring) -> int:
    return _listed(args, enrol.list_keys(engine, args.site),
                   ("ID", "SITE", "ROLES", "USES", "APPROVE", "STATE", "EXPIRES"),
                   lambda k: (str(k["id"]), k["site"], ",".join(k["roles"]) or "-", f"{k['uses']}/{k['max_uses']}",
                              k["approve"], k["state"], k["expires_at"]))


def _key_revoke(args: argparse.Namespace, engine: Engine, keys: Keyring) -> int:
    enrol.revoke_key(engine, args.id, keys=keys)
    print(f"enrolment key {args.id} revoked: it enrols nothing from now on (hosts it enrolled stay)")
    return 0


def _fleet_apply(args: argparse.Namespace, engine: Engine, keys: Keyring) -> int:
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        raise UsageError(f"{args.file}: cannot read: {exc.strerror or exc}") from None
    version, new = fleet.apply(engine, data, args.file, keys=keys)
    if new:
        print(f"{args.file}: applied as fleet version {version}; agents take it at their next config poll "
              "(config_every, default 5m)")
    else:
        print(f"{args.file}: unchanged: it is fleet version {version} already")
    return 0


def _fleet_show(args: argparse.Namespace, engine: Engine, keys: Keyring) -> int:
    import yaml

    if args.fleet_host is None:
        if args.site is not None or args.roles:
            raise UsageError("--site and --role go with --host")
        info = fleet.describe_version(engine)
        if info is None:
            print("no fleet file applied yet (wardround-collector fleet apply FILE)")
            return 0
        print(f"# fleet version {info['version']}, applied {info['applied_at']} by {info['applied_by']} "
              f"from {info['file']} (sha256 {info['digest'][:16]})")
        print(info["source"], end="" if info["source"].endswith("\n") else "\n")
        return 0
    if args.site is None:
        raise UsageError("--host needs --site")
    version, current = fleet.newest(engine)
    roles = list(args.roles)
    if not roles:
        found = [h for h in inventory.list_hosts(engine, args.site, retired=True) if h["host"] == args.fleet_host]
        roles = found[0]["roles"] if found else []
    got = fleet.effective(current, version, args.site, args.fleet_host, roles)
    print(f"# {args.site}/{args.fleet_host}, roles {', '.join(roles) or 'none'}: fleet version {version}, "
          f"etag {got.etag}, templates {', '.join(got.templates) or 'none'}")
    print(yaml.safe_dump({"checks": [dict(e) for e in got.checks]}, allow_unicode=True, sort_keys=False), end="")
    return 0


def _token_list(args: argparse.Namespace, engine: Engine, keys: Keyring) -> int:
    return _listed(args, credentials.list_tokens(engine, args.site),
                   ("ID", "SITE", "HOST", "STATE", "CREATED", "EXPIRES/REVOKED", "ALSO-HOSTS"),
                   lambda t: (str(t["id"]), t["site"], t["host"], t["state"], t["created_at"],
                              t["revoked_at"] or t["expires_at"] or "-", str(t["also_hosts"])))


def _token_revoke(args: argparse.Namespace, engine: Engine, keys: Keyring) -> int:
    if args.relay:
        relays.revoke_relay(engine, site=args.site, name=args.host, keys=keys)
        print(f"revoked the token of relay {args.host} of site {args.site}: refused (401) from now on; its "
              "bundles are refused too")
        return 0
    ids = credentials.revoke_token(engine, site=args.site, host=args.host, keys=keys)
    print(f"revoked {len(ids)} token(s) of {args.site}/{args.host} (ids {', '.join(map(str, ids))}): "
          "refused (401) from now on, by every collector of this database")
    return 0


def _token_rotate(args: argparse.Namespace, engine: Engine, keys: Keyring) -> int:
    grace = _duration(args.grace, "--grace")
    done = credentials.rotate_token(engine, site=args.site, host=args.host, grace=grace, keys=keys)
    print(f"new agent token for {args.site}/{args.host}; the old one works until "
          f"{done.old_expires_at.isoformat(timespec='seconds')}, and the agent fetches this one itself "
          "before then (shown once; for a hand install put it in the agent's token_file):")
    print(done.token)
    return 0


def _host_list(args: argparse.Namespace, engine: Engine, keys: Keyring) -> int:
    _listed(args, inventory.list_hosts(engine, args.site, retired=args.retired),
            ("SITE", "HOST", "ROLES", "STATE", "LAST SEEN", "AGENT", "CONFIG"), _host_row)
    if args.json:
        return 0
    found = relays.list_relays(engine, args.site)
    if found:  # the site relays the hosts of these sites report through (docs/deploy.md)
        print()
        _table([("SITE", "RELAY", "BACKLOG", "LAST CONTACT", "VERSION")] + [
            (r["site"], r["relay"], f"backlog {r['backlog']}" if r["backlog"] is not None else "-",
             r["last_contact"] or "never contacted", r["version"] or "-") for r in found])
    return 0


def _host_row(h: dict[str, Any]) -> tuple[str, ...]:
    state = ("retired" if h["retired_at"] else "awaiting approval" if h["approval"] == "awaiting"
             else "enrolled" if h["enrolled"] else "reported")
    config = f"{h['config_version']} ({h['config']})" if h["config_version"] else "-"
    return (h["site"], h["host"], ",".join(h["roles"]) or "-", state, h["last_seen"] or "never reported",
            h["agent_version"] or "-", config)


def _host_retire(args: argparse.Namespace, engine: Engine, keys: Keyring) -> int:
    revoked = inventory.retire(engine, site=args.site, host=args.fleet_host, keys=keys)
    print(f"{args.site}/{args.fleet_host} retired: it leaves records and silence rules; "
          f"{len(revoked)} token(s) revoked")
    return 0


def _host_approve(args: argparse.Namespace, engine: Engine, keys: Keyring) -> int:
    if inventory.approve(engine, site=args.site, host=args.fleet_host, keys=keys):
        print(f"{args.site}/{args.fleet_host} approved: its results are taken from its next push")
    else:
        print(f"{args.site}/{args.fleet_host} was approved already")
    return 0


def _relay_bundle(args: argparse.Namespace, engine: Engine, keys: Keyring) -> int:
    from collector import ferry

    folder = Path(args.dir)
    if not folder.is_dir():
        raise UsageError(f"relay bundle: {folder} is not a directory")
    try:
        path = ferry.write_sync_bundle(engine, args.site, args.relay, folder)
    except ferry.BundleRefused as exc:
        raise credentials.CredentialNotFound(str(exc)) from None
    print(f"sync bundle for relay {args.relay} of site {args.site} written: {path}")
    return 0


def _user_list(args: argparse.Namespace, engine: Engine, keys: Keyring) -> int:
    return _listed(args, credentials.list_users(engine), ("NAME", "ROLE", "STATE", "CREATED"),
                   lambda u: (u["name"], u["role"], u["state"], u["created_at"]))


def _user_disable(args: argparse.Namespace, engine: Engine, keys: Keyring) -> int:
    credentials.disable_user(engine, args.name, keys=keys)
    print(f"{args.name} disabled: their token and page sessions stop working now "
          f"(`user token {args.name}` gives them a new one)")
    return 0


def _user_token(args: argparse.Namespace, engine: Engine, keys: Keyring) -> int:
    token = credentials.new_user_token(engine, args.name, keys=keys)
    print(f"new API token for {args.name}; the old one stops working now (shown once):")
    print(token)
    return 0


_HANDLERS: dict[tuple[str, str], Callable[[argparse.Namespace, Engine, Keyring], int]] = {
    ("enrol-key", "create"): _key_create, ("enrol-key", "list"): _key_list, ("enrol-key", "revoke"): _key_revoke,
    ("fleet", "apply"): _fleet_apply, ("fleet", "show"): _fleet_show,
    ("token", "list"): _token_list, ("token", "revoke"): _token_revoke, ("token", "rotate"): _token_rotate,
    ("host", "list"): _host_list, ("host", "retire"): _host_retire, ("host", "approve"): _host_approve,
    ("relay", "bundle"): _relay_bundle,
    ("user", "list"): _user_list, ("user", "disable"): _user_disable, ("user", "token"): _user_token,
}

COMMANDS = frozenset(_HANDLERS)
