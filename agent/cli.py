"""``wardround-agent``: run (the daemon), once (one patrol now), check (one check ad hoc), enrol (join a site).

Exit codes: ``once`` and ``check`` exit with the worst status of their
results (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN); ``once --push`` exits 4
instead when some of its results were not delivered (they stay in the spool;
the last line on stderr says why); a config error or any other mistake in how
the command was called exits 2 with a message, before anything starts.
``run`` exits 0 after SIGTERM/SIGINT.  ``enrol`` exits 0 when enrolled, 1 when the
collector refused or could not be reached, 2 for a usage error.

Heavy imports (the checks, sqlite3, agent.http; ssl only for an https collector) happen inside the
subcommands, so ``--help`` is instant and each command loads only what it uses.

What it prints for a person is in the reader's language (:func:`checks.messages.reader.tell`:
``WARDROUND_LANG``, else the locale, else Windows' display language; ``cli.agent.*`` keys), loaded
only when something is printed (``run``'s steady state prints nothing); ``--json``, exit codes and
``--help`` are the same in every language.
"""

from __future__ import annotations

import sys

from agent import Worded, __version__, logs

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

__all__ = ["main"]

EXIT_USAGE = 2
EXIT_UNDELIVERED = 4
DEFAULT_CONFIG = (r"C:\ProgramData\Wardround\agent.yaml" if sys.platform == "win32"
                  else "/etc/wardround/agent.yaml")

log = logs.get("agent")


class UsageError(Worded):
    """A mistake in how the command was called; printed as one line (in the reader's language when it
    has a key, :class:`agent.Worded`), exit 2."""


def _parser() -> argparse.ArgumentParser:
    from checks.messages.usage import ReaderParser  # help and usage errors in the reader's language

    p = ReaderParser(
        prog="wardround-agent",
        description="cli.help.agent.description",
        epilog="cli.help.agent.epilog")
    p.add_argument("--version", action="version", version=f"wardround-agent {__version__}")
    sub = p.add_subparsers(dest="command", metavar="{run,once,check,enrol,relay}")
    sub.required = True

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.add_argument("--version", action="version", version=f"wardround-agent {__version__}")
        return sp

    run = add("run", "cli.help.agent.run")
    run.add_argument("--config", default=DEFAULT_CONFIG, metavar="F",
                     help="cli.help.agent.config")
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                     help="cli.help.log_level")

    once = add("once", "cli.help.agent.once")
    once.add_argument("--config", default=DEFAULT_CONFIG, metavar="F",
                      help="cli.help.agent.config")
    once.add_argument("--push", action="store_true",
                      help="cli.help.agent.once.push")
    once.add_argument("--wait", default="60s", metavar="DURATION",
                      help="cli.help.agent.once.wait")
    once.add_argument("--json", action="store_true",
                      help="cli.help.agent.once.json")

    check = add("check", "cli.help.agent.check")
    check.add_argument("name", metavar="NAME", help="cli.help.agent.check.name")
    check.add_argument("--param", action="append", default=[], metavar="K=V",
                       help="cli.help.agent.check.param")
    check.add_argument("--json", action="store_true",
                       help="cli.help.agent.once.json")
    check.add_argument("--site", default="local", help="cli.help.agent.check.site")
    check.add_argument("--host", default=None, help="cli.help.agent.check.host")
    check.add_argument("--timeout", default=None, metavar="DURATION",
                       help="cli.help.agent.check.timeout")

    enrol = add("enrol", "cli.help.agent.enrol")
    enrol.add_argument("--url", required=True, help="cli.help.agent.enrol.url")
    enrol.add_argument("--key", required=True, help="cli.help.agent.enrol.key")
    enrol.add_argument("--config", required=True, metavar="PATH",
                       help="cli.help.agent.enrol.config")
    enrol.add_argument("--host", default=None, metavar="NAME", help="cli.help.agent.enrol.host")
    enrol.add_argument("--role", action="append", default=[], metavar="R", dest="roles",
                       help="cli.help.agent.enrol.roles")
    enrol.add_argument("--ca-file", default=None, metavar="F", help="cli.help.agent.enrol.ca_file")
    enrol.add_argument("--spool", default=None, metavar="P", help="cli.help.agent.enrol.spool")
    enrol.add_argument("--replace", action="store_true",
                       help="cli.help.agent.enrol.replace")
    enrol.add_argument("--proxy", default=None, metavar="URL", help="cli.help.agent.enrol.proxy")
    enrol.add_argument("--proxy-credentials-file", default=None, metavar="F",
                       help="cli.help.agent.enrol.proxy_credentials_file")
    enrol.add_argument("--user", default=None, metavar="NAME",
                       help="cli.help.agent.enrol.user")
    relay = add("relay", "cli.help.agent.relay")
    relay.add_argument("--config", required=True, metavar="F", help="cli.help.agent.relay.config")
    relay.add_argument("--export", default=None, metavar="DIR",
                       help="cli.help.agent.relay.export")
    relay.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                       help="cli.help.log_level")
    return p


#: What parsing the command line loads (argparse: gettext, locale; shutil for the terminal width;
#: the parser's class, checks.messages.usage) and nothing after it uses: the daemons forget it
#: before loading anything else
_PARSING_ONLY = ("argparse", "gettext", "locale", "shutil", "checks.messages.usage")
#: what shutil would load for its archive formats: kept out while parsing (their libraries, libbz2
#: and liblzma, would stay mapped in the daemon for good); a later ``import shutil`` has them
_NOT_FOR_PARSING = ("bz2", "lzma")


def _parse(argv: list[str] | None) -> Any:
    """The command line, parsed (``--help``, ``--version`` and usage errors exit here).  For
    ``run`` and ``relay``, which stay up, the modules only parsing needed are then dropped (about
    0.5 MB of an idle agent: freed before the agent's own imports, the space is used again).
    Modules loaded before the call (by a caller, or tests) are left alone."""
    loaded = set(sys.modules)
    kept_out = [name for name in _NOT_FOR_PARSING if name not in loaded]
    for name in kept_out:
        sys.modules[name] = None  # type: ignore[assignment]  # ``import bz2`` fails: shutil goes without
    try:
        args: Any = _parser().parse_args(argv)
    finally:
        for name in kept_out:
            sys.modules.pop(name, None)
        if kept_out and "shutil" not in loaded:
            sys.modules.pop("shutil", None)  # its archive formats were judged without bz2 and lzma
    if args.command in ("run", "relay"):
        import gc
        import types

        args = types.SimpleNamespace(**vars(args))  # argparse.Namespace's class would keep argparse
        for name in set(_PARSING_ONLY) - loaded:  # what was loaded before (tests, a caller) stays
            sys.modules.pop(name, None)
            package, _, leaf = name.rpartition(".")
            if package in sys.modules:  # a submodule is its package's attribute too
                vars(sys.modules[package]).pop(leaf, None)
        gc.collect()
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    logs.configure(getattr(args, "log_level", "warning"))  # logging itself comes with the first record
    from agent.config import ConfigError
    from agent.spool import SpoolError

    try:
        if args.command == "run":
            return _run(args)
        if args.command == "once":
            return _once(args)
        if args.command == "enrol":
            return _enrol(args)
        if args.command == "relay":
            return _relay(args)
        return _check(args)
    except ConfigError as exc:
        from agent.runner import sanitize
        from checks.messages.reader import tell, tell_problem

        for line, said in zip(exc.errors, exc.said, strict=True):  # a value may hold a password: masked
            print(sanitize(tell_problem(line, said), one_line=False), file=sys.stderr)
        n = len(exc.errors)
        print(tell("cli.agent.config_errors", n=n) if n != 1 else tell("cli.agent.config_error"), file=sys.stderr)
        return EXIT_USAGE
    except (UsageError, SpoolError) as exc:
        from agent.runner import sanitize
        from checks.messages.reader import tell, tell_error

        print(tell("cli.agent.error", error=sanitize(tell_error(exc), one_line=False)), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `wardround-agent once | head`: not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


# -- run -------------------------------------------------------------------

def _run(args: argparse.Namespace) -> int:
    from agent.config import load_config
    from agent.scheduler import Agent

    config = load_config(args.config, need_collector=True)
    return Agent(config).serve()


def _relay(args: argparse.Namespace) -> int:
    from agent.relay import serve
    from agent.relay_config import load_relay_config

    return serve(load_relay_config(args.config, export_dir=args.export))


# -- once ------------------------------------------------------------------

def _no_checks(path: object) -> UsageError:
    hint = "wardround-collector fleet apply FILE"
    return UsageError(f"{path}: no checks configured, and none from the collector (add checks: to this file, or "
                      f"have the collector's administrator apply a fleet file: {hint})", "cli.agent.no_checks",
                      path=str(path), command=hint)


def _once(args: argparse.Namespace) -> int:
    import time

    from agent.config import load_config
    from agent.runner import Runner
    from agent.scheduler import job
    from checks.params import parse_duration

    try:
        wait_s = parse_duration(args.wait)
    except ValueError as exc:
        raise UsageError(f"--wait: {exc}", "cli.agent.bad_duration", option="--wait", got=repr(args.wait)) from None
    config = load_config(args.config, need_collector=args.push)
    if not args.push:
        checks = _central_checks(config, None)
        if not checks:
            raise _no_checks(config.path)
        results = _run_parallel(Runner(config.site, config.host), [job(c) for c in checks])
        _print(results, args.json)
        return _exit_status(results)

    from agent.scheduler import Agent

    agent = Agent(config)
    try:
        checks = _central_checks(config, agent, min(10.0, wait_s))  # --wait bounds this wait too
        if not checks:
            raise _no_checks(config.path)
        results = _run_parallel(agent.runner, [job(c) for c in checks])
        ids = agent.spool.put(results)
        agent.spool.enforce_bounds(agent.notice)
        # A corrupt spool replaced at start or during the patrol is part of what this patrol found.
        results += agent.spool.notices
        ids += [r.id for r in agent.spool.notices]
        _print(results, args.json)
        deadline = time.monotonic() + wait_s
        delivered = _push_until_acknowledged(agent, set(ids), deadline, args.wait)
    finally:
        agent.spool.close()
    return _exit_status(results) if delivered else EXIT_UNDELIVERED


def _central_checks(config: Any, agent: Any, limit_s: float = 10.0) -> tuple[Any, ...]:
    """The checks of one patrol: the collector's (fetched now, else the kept copy) and the local ones."""
    from agent.central import Central
    from agent.http import Http
    from agent.sender import collector_base

    c = config.collector
    if c is None or config.config_every_s is None:
        return tuple(config.checks)
    central = agent.central if agent is not None else Central(
        config, Http(collector_base(c.url), c.token, ca_file=c.ca_file, proxy=c.proxy,
                     proxy_credentials=c.proxy_credentials), timeout_s=c.timeout_s)
    central.load_stored()
    got = central.fetch(timeout_s=min(c.timeout_s, limit_s))
    if got.outcome in ("refused", "failed", "rejected"):
        from checks.messages.reader import tell, tell_error

        why = tell_error(got) if got.key else got.message
        if central.version:
            print(tell("cli.agent.central_kept", why=why, version=central.version), file=sys.stderr)
        else:
            print(tell("cli.agent.central_none", why=why), file=sys.stderr)
    if agent is not None and agent.sender is not None:
        agent.sender.config_version = central.version
    return tuple(central.effective())


def _push_until_acknowledged(agent: Any, ids: set[str], deadline: float, wait: str) -> bool:
    """Push until ``ids`` are acknowledged, the collector refuses, or ``deadline``; say how it went.

    True when every one of ``ids`` was delivered (acknowledged), False when some stay in the
    spool or were rejected as invalid (quarantined).
    """
    import time

    from agent.sender import Backoff
    from checks.messages.reader import tell, tell_error

    assert agent.sender is not None
    agent.sender.log_refusals = False  # the last line says why, in the reader's language: not twice
    backoff = Backoff(cap=30.0)
    last_error: Any = None  # the last push round that failed (its error, worded for the reader)
    delivered = 0  # every result the collector acknowledged, the spool's earlier ones included
    said_retrying = False
    while True:
        out = agent.sender.push(deadline=deadline)
        delivered += out.acknowledged
        # a round the end of --wait cut short (its wait for an answer ran out with --wait's) does not hide why the
        # rounds before it failed: that reason is the one worth saying
        cut_short = last_error is not None and out.key == "cli.agent.http.no_answer" and time.monotonic() >= deadline
        if not out.ok and out.error != "out of time" and not cut_short:
            last_error = out
        waiting = agent.spool.contains(ids)
        if not waiting or out.refused or time.monotonic() >= deadline:
            break
        if not out.ok:
            if not said_retrying:  # else a collector that is down looks like a hung command for --wait
                said_retrying = True
                print(tell("cli.agent.retrying", option="--wait", wait=wait, interrupt="Ctrl-C"), file=sys.stderr,
                      flush=True)
            time.sleep(max(0.0, min(backoff.next_delay(), deadline - time.monotonic())))
    rejected = {q[0] for q in agent.spool.quarantined()} & ids
    acknowledged = len(ids) - len(waiting) - len(rejected)
    spool = agent.config.spool
    if waiting:
        said = {"n": len(waiting), "total": len(ids), "spool": spool, "command": "`wardround-agent run`"}
        why = "" if last_error is None else tell_error(last_error) if last_error.key else last_error.error
        print(tell("cli.agent.undelivered", why=why, **said) if why else
              tell("cli.agent.undelivered_wait", option="--wait", wait=wait, **said), file=sys.stderr)
        return False
    if rejected:
        words = {"n": len(rejected), "total": len(ids), "acknowledged": acknowledged,
                 "command": f"sqlite3 {spool} 'select id, reason from quarantine'"}
        behind = agent.sender.clock_behind  # the clock set back: the collector refuses every result it stamps
        print(tell("cli.agent.rejected_clock_behind", earliest=behind, **words) if behind else
              tell("cli.agent.rejected", **words), file=sys.stderr)
        return False
    earlier = max(0, delivered - acknowledged)
    if earlier:
        print(tell("cli.agent.pushed_earlier", n=acknowledged + earlier, acknowledged=acknowledged,
                   total=len(ids), earlier=earlier), file=sys.stderr)
    else:
        print(tell("cli.agent.pushed", acknowledged=acknowledged, total=len(ids)), file=sys.stderr)
    return True


def _run_parallel(runner: Any, jobs: list[Any]) -> list[Any]:
    """Every job at once, each under its own timeout; results in config order."""
    import threading

    slots: list[list[Any]] = [[] for _ in jobs]

    def one(i: int) -> None:
        slots[i] = runner.run(jobs[i])

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [r for slot in slots for r in slot]


# -- enrol -----------------------------------------------------------------

def _enrol(args: argparse.Namespace) -> int:
    from pathlib import Path

    from agent.config import short_hostname
    from agent.enrol import EnrolFailed, EnrolRequest, EnrolUsage, enrol

    key = args.key
    if key.startswith("@"):
        try:
            key = Path(key[1:]).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(f"--key {args.key}: cannot read: {exc.strerror or exc}", "cli.agent.cannot_read",
                             option=f"--key {args.key}", error=str(exc.strerror or exc)) from None
    req = EnrolRequest(url=args.url, key=key, config=Path(args.config), host=args.host or short_hostname(),
                       roles=tuple(args.roles), ca_file=args.ca_file, spool=args.spool, replace=args.replace,
                       proxy=args.proxy, proxy_credentials_file=args.proxy_credentials_file, user=args.user,
                       host_given=bool(args.host))
    try:
        done = enrol(req)
    except EnrolUsage as exc:
        from checks.messages import joined
        from checks.messages.reader import reader_language, told

        raise UsageError(joined([told(p) for p in exc.problems], reader_language())) from None
    except (EnrolFailed, OSError) as exc:
        from agent.runner import sanitize
        from checks.messages.reader import tell, tell_error

        print(tell("cli.agent.enrol_failed", error=sanitize(tell_error(exc), one_line=False)), file=sys.stderr)
        return 1
    from checks.messages.reader import tell

    site, roles = done.get("site"), ", ".join(done.get("roles", []))
    where = {"host": f"{site}/{req.host}", "config": str(req.config), "token_file": str(done["token_file"])}
    print(tell("cli.agent.enrolled", roles=roles, **where) if roles else tell("cli.agent.enrolled_no_roles", **where))
    if done.get("approval") == "awaiting":
        print(tell("cli.agent.awaiting_approval",
                   command=f"wardround-collector host approve --site {site} --host {req.host}"))
    print(tell("cli.agent.start", command=f"wardround-agent run --config {req.config}"))
    return 0


# -- check -----------------------------------------------------------------

def _check(args: argparse.Namespace) -> int:
    from agent.config import short_hostname
    from agent.runner import CheckRun, Runner
    from checks.catalogue import UnknownCheck, get_check
    from checks.params import ParamError, parse_duration, parse_params

    try:
        spec = get_check(args.name)
    except UnknownCheck as exc:
        from checks.catalogue import CATALOGUE

        raise UsageError(str(exc), "cli.agent.unknown_check", name=repr(args.name),
                         known=", ".join(sorted(CATALOGUE))) from None
    raw: dict[str, str] = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param {item!r}: expected KEY=VALUE", "cli.agent.param_form", option="--param",
                             param=repr(item))
        if key.strip() in raw:
            raise UsageError(f"--param {key.strip()}: given twice", "cli.agent.param_twice", option="--param",
                             param=key.strip())
        raw[key.strip()] = value
    try:
        params = parse_params(spec.params, raw, text=True)
    except ParamError as exc:  # said already in the reader's language (the keys ParamError keeps)
        from checks.messages.reader import tell_problem

        said = [tell_problem(f"--param {k}: {m}", None if s is None else (f"--param {k}: ", s[0], s[1], ""))
                for (k, m), s in zip(exc.errors, exc.said, strict=True)]
        raise UsageError("; ".join(said)) from None
    timeout = spec.timeout_s
    if args.timeout is not None:
        try:
            timeout = parse_duration(args.timeout)
        except ValueError as exc:
            raise UsageError(f"--timeout: {exc}", "cli.agent.bad_duration", option="--timeout",
                             got=repr(args.timeout)) from None
    runner = Runner(args.site, args.host or short_hostname())
    results = runner.run(CheckRun(spec=spec, params=params, timeout_s=timeout))
    _print(results, args.json)
    return _exit_status(results)


# -- output ----------------------------------------------------------------

def _exit_status(results: list[Any]) -> int:
    from checks.result import Status

    return int(Status.worst(r.status for r in results))


def _print(results: list[Any], as_json: bool) -> None:
    if as_json:
        import json

        json.dump([r.to_wire() for r in results], sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        for line in _table(results):
            print(line)
    sys.stdout.flush()


def _table(results: list[Any]) -> list[str]:
    """The results as a table for the reader: the column names, statuses and summaries in the reader's
    language (summaries from their message keys; a result without keys shows its English summary),
    identifiers (host, check, item) as they are."""
    from checks.messages import text_of
    from checks.messages.reader import aligned, reader_language, tell

    lang = reader_language()
    rows = [(tell("cli.agent.column.host"), tell("cli.agent.column.check"), tell("cli.agent.column.item"),
             tell("cli.agent.column.status"), tell("cli.agent.column.summary"))]
    statuses = {name: tell(f"status.{name.lower()}") for name in ("OK", "WARNING", "CRITICAL", "UNKNOWN")}
    rows += [(r.host, r.check, r.item or "-", statuses.get(r.status.name, r.status.name),
              text_of(r.summary, r.message, lang) if lang != "en" else r.summary) for r in results]
    return aligned(rows)

if __name__ == "__main__":
    sys.exit(main())
