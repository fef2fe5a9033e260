"""``wardround-collector``: serve the API, run migrations, create tokens and users, manage the
signing key, check the audit log and records; the fleet's commands are in :mod:`collector.fleet_cli`.

Exit codes (docs/deploy.md): 0 success; 1 a runtime fault (database unreachable, user exists,
no such token or host) or a check that failed (``audit verify``, ``record verify``); 2 a usage,
config-file, database-URL or key-file error (a bad argument, a fleet file with problems, a
database that does not exist yet).  Errors are one line on stderr, never a traceback.

Which database: ``--db``, else the config file's ``db:`` (``--config``, ``$WARDROUND_CONFIG`` or
the installed ``/etc/wardround/collector.yaml``), else ``$WARDROUND_DB``, else
``sqlite:///wardround.db``.  Only ``serve`` and ``migrate`` create that default database;
every other command refuses to (run in the wrong directory it would make a second, empty
database) and says on stderr which database it used and why.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from checks.messages.reader import cli_said, reader_language, tell, tell_error, tell_problem, told
from checks.messages.usage import ReaderParser
from collector import __version__, fleet_cli, prune_cli
from collector.access import Role
from collector.cli_args import actions

# The database, its migrations, the signing key and the app are imported by the command that needs
# them, not here: every command (and --help, --version) would wait for them (docs/benchmarks.md).
if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy import Engine

    from collector.config import Settings
    from collector.keys import Keyring
    from collector.notify.dispatch import Dispatcher

__all__ = ["main"]

log = logging.getLogger("collector")

SETTINGS_ENV = "WARDROUND_COLLECTOR_SETTINGS"  # hands settings to uvicorn worker processes


class CliError(Exception):
    """A runtime fault to report in one line; exit code 1."""


def _parser() -> argparse.ArgumentParser:
    common = ReaderParser(add_help=False)
    common.add_argument("--config", metavar="F",
                        help="cli.help.collector.common.config")
    common.add_argument("--db", metavar="URL", dest="db_url",
                        help="cli.help.collector.common.db_url")
    common.add_argument("--key-file", metavar="F", dest="key_file",
                        help="cli.help.collector.common.key_file")
    p: argparse.ArgumentParser = ReaderParser(prog="wardround-collector", description="cli.help.collector.description")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    _serve_parsers(sub, common)
    token_sub, user_sub = _access_parsers(sub, common)
    fleet_cli.add_parsers(sub, common, token_sub, user_sub)
    _signing_parsers(sub, common)
    return p


def _serve_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                   common: argparse.ArgumentParser) -> None:
    """serve and migrate."""
    serve = sub.add_parser("serve", parents=[common], help="cli.help.collector.sub.serve.help",
                           description="cli.help.collector.sub.serve.description")
    serve.add_argument("--host", help="cli.help.collector.serve.host")
    serve.add_argument("--port", type=int, help="cli.help.collector.serve.port")
    serve.add_argument("--fd", type=int, metavar="N",
                       help="cli.help.collector.serve.fd")
    serve.add_argument("--workers", type=int, help="cli.help.collector.serve.workers")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                       help="cli.help.log_level")
    serve.add_argument("--access-log", action="store_true", help="cli.help.collector.serve.access_log")
    serve.add_argument("--tls-cert", metavar="PEM", help="cli.help.collector.serve.tls_cert")
    serve.add_argument("--tls-key", metavar="PEM", help="cli.help.collector.serve.tls_key")

    sub.add_parser("migrate", parents=[common], help="cli.help.collector.sub.migrate.help")
    prune_cli.add_parser(sub, common)


def _access_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
                    ) -> tuple[argparse._SubParsersAction[argparse.ArgumentParser],
                               argparse._SubParsersAction[argparse.ArgumentParser]]:
    """policy check, token create, user create; returns the token and user sub-commands (the fleet adds its own)."""
    policy_sub = actions(sub, "policy", "cli.help.collector.policy")
    pc = policy_sub.add_parser("check", help="cli.help.collector.policy_sub.check.help",
                               description="cli.help.collector.policy_sub.check.description")
    pc.add_argument("file", metavar="F")

    token_sub = actions(sub, "token", "cli.help.collector.token")
    tc = token_sub.add_parser("create", parents=[common], help="cli.help.collector.token_sub.create.help",
                              description="cli.help.collector.token_sub.create.description")
    tc.add_argument("--site", required=True, help="cli.help.collector.tc.site")
    tc.add_argument("--host", default=None, help="cli.help.collector.tc.host")
    tc.add_argument("--relay", action="store_true",
                    help="cli.help.collector.tc.relay")
    tc.add_argument("--also-host", action="append", default=[], metavar="NAME", dest="also_hosts",
                    help="cli.help.collector.tc.also_hosts")

    imp = sub.add_parser("import", parents=[common], help="cli.help.collector.sub.import.help",
                         description="cli.help.collector.sub.import.description")
    imp.add_argument("files", nargs="*", metavar="FILE", help="cli.help.collector.imp.files")
    imp.add_argument("--watch", default=None, metavar="DIR",
                     help="cli.help.collector.imp.watch")

    user_sub = actions(sub, "user", "cli.help.collector.user")
    uc = user_sub.add_parser("create", parents=[common], help="cli.help.collector.user_sub.create.help",
                             description="cli.help.collector.user_sub.create.description")
    uc.add_argument("name")
    uc.add_argument("--role", required=True, choices=[r.name for r in Role], help="cli.help.collector.uc.role")
    return token_sub, user_sub


def _signing_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                     common: argparse.ArgumentParser) -> None:
    """key create/show/rotate, audit verify, record export/verify: what the signing key signs."""
    key_sub = actions(sub, "key", "cli.help.collector.key")
    key_sub.add_parser("create", parents=[common], help="cli.help.collector.key_sub.create.help",
                       description="cli.help.collector.key_sub.create.description")
    key_sub.add_parser("show", parents=[common], help="cli.help.collector.key_sub.show.help",
                       description="cli.help.collector.key_sub.show.description")
    key_sub.add_parser("rotate", parents=[common], help="cli.help.collector.key_sub.rotate.help",
                       description="cli.help.collector.key_sub.rotate.description")

    aud_sub = actions(sub, "audit", "cli.help.collector.audit")
    aud_sub.add_parser("verify", parents=[common], help="cli.help.collector.aud_sub.verify.help",
                       description="cli.help.collector.aud_sub.verify.description")

    rec_sub = actions(sub, "record", "cli.help.collector.record")
    rx = rec_sub.add_parser("export", parents=[common], help="cli.help.collector.rec_sub.export.help",
                            description="cli.help.collector.rec_sub.export.description")
    rx.add_argument("id", type=int, metavar="ID")
    rx.add_argument("--out", metavar="F", help="cli.help.collector.rx.out")
    rv = rec_sub.add_parser("verify", parents=[common],
                            help="cli.help.collector.rec_sub.verify.help",
                            description="cli.help.collector.rec_sub.verify.description")
    rv.add_argument("file", metavar="FILE")
    rv.add_argument("--public-key", required=True, metavar="KEY",
                    help="cli.help.collector.rv.public_key")


def _settings(args: argparse.Namespace) -> Settings:
    from collector.config import load_settings

    return load_settings(args.config, db_url=args.db_url, host=getattr(args, "host_addr", None),
                         port=getattr(args, "port", None), workers=getattr(args, "workers", None),
                         key_file=args.key_file)


def _migrated_engine(settings: Settings) -> Engine:
    from sqlalchemy.exc import SQLAlchemyError

    from collector.store.db import make_engine, safe_url
    from collector.store.migrate import SchemaNewer, upgrade

    engine = make_engine(settings.db_url)
    try:
        upgrade(engine)
    except SchemaNewer as exc:
        engine.dispose()
        raise CliError(cli_said("cli.collector.schema_newer", url=safe_url(settings.db_url), found=exc.found,
                                known=exc.known or "-", section="Upgrading")) from None
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise CliError(cli_said("cli.collector.cannot_use_database", url=safe_url(settings.db_url),
                                reason=reason)) from exc
    return engine


def _tls_files(args: argparse.Namespace) -> dict[str, str]:
    """uvicorn's ssl options from --tls-cert/--tls-key: both or neither, both readable."""
    if not args.tls_cert and not args.tls_key:
        return {}
    if not (args.tls_cert and args.tls_key):
        raise CliError(cli_said("cli.collector.together", first="--tls-cert", second="--tls-key"))
    for flag, path in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key)):
        if not os.access(path, os.R_OK) or not os.path.isfile(path):
            raise CliError(cli_said("cli.collector.cannot_read_flag", flag=flag, path=path))
    return {"ssl_certfile": args.tls_cert, "ssl_keyfile": args.tls_key}


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    from collector.store.db import safe_url

    tls = _tls_files(args)
    from collector.httpserver import free_address, inherited_socket  # checked before the database is touched
    try:
        where = inherited_socket(args.fd) if args.fd is not None else free_address(settings.host, settings.port)
    except ValueError as exc:
        raise CliError(exc.args[0]) from None  # its keyed text, for the reader's language
    engine = _migrated_engine(settings)
    try:
        keys = _signing_keys(settings, engine)  # records and the audit log are signed with it
    finally:
        engine.dispose()
    log.info("collector on %s://%s, database %s, signing key %s (%s)", "https" if tls else "http", where,
             safe_url(settings.db_url), keys.key_id, settings.key_file)
    dispatcher = _start_notifications(settings)
    try:
        _run_uvicorn(settings, args)
    finally:
        if dispatcher is not None:
            dispatcher.stop()
            dispatcher.engine.dispose()


def _signing_keys(settings: Settings, engine: Engine) -> Keyring:
    """The collector's key, made on first use for a database that holds nothing signed yet."""
    from collector.keys import ensure_keyring
    from collector.store import audit as audit_store

    with engine.connect() as conn:
        signed_by = audit_store.newest_key_id(conn)
    return ensure_keyring(settings.key_file, signed_by)


def _start_notifications(settings: Settings) -> Dispatcher | None:
    """The notification dispatcher thread (one per collector process; claims keep them apart)."""
    if settings.notifications is None or not settings.routing:
        return None
    from collector.notify.dispatch import Dispatcher
    from collector.store.db import JOBS, make_engine

    dispatcher = Dispatcher(make_engine(settings.db_url, limits=JOBS), settings.notifications)
    dispatcher.start()
    return dispatcher


def _run_uvicorn(settings: Settings, args: argparse.Namespace) -> None:
    import resource

    import uvicorn

    from collector import httpserver

    protocol = httpserver.configure(settings.http)
    log.info("at most %d open connections (http.max_connections %d, file limit %d); headers within %gs, "
             "bodies within %gs", protocol.cap, settings.http.max_connections,
             resource.getrlimit(resource.RLIMIT_NOFILE)[0], settings.http.header_timeout,
             settings.http.body_timeout)
    # Forwarded headers are handled in the app (collector/app.py, trusted_proxies), not by uvicorn.
    options = dict(host=settings.host, port=settings.port, log_level=args.log_level,
                   access_log=args.access_log, server_header=False, proxy_headers=False,
                   timeout_keep_alive=settings.http.keep_alive, **_tls_files(args))
    if args.fd is not None:
        options["fd"] = args.fd
    if settings.workers > 1:
        from collector.metrics.shared import shared_directory

        os.environ[SETTINGS_ENV] = settings_for_workers(settings)
        with shared_directory():  # the workers' ingest counters, summed in every worker's /metrics
            uvicorn.run("collector.cli:worker_app", factory=True, workers=settings.workers,
                        http="collector.httpserver:GuardedProtocol", **options)
    else:
        from collector.app import create_app

        app = create_app(settings, jobs=True)
        settle_heap()
        uvicorn.run(app, http=protocol, **options)


#: the young generation's threshold in a serving collector (Python's default is 700)
GC_YOUNG = 10_000


def settle_heap() -> None:
    """Set the garbage collector for serving, once the app is built: what start-up made (modules, tables,
    compiled statements, about 160,000 objects) is frozen out of every collection, and the young
    generation is collected after 10,000 net allocations, not 700.  A batch of 500 results makes
    thousands of short-lived containers that reference counting frees; collecting them every 700
    allocations, and the whole start-up heap with them in each full collection, took 10-15 % of the
    collector's CPU under full ingest load (docs/benchmarks.md).  Cycles are still collected."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG, 20, 20)


def settings_for_workers(settings: Settings) -> str:
    """The settings as worker processes read them back (:func:`app_from_environment`), as JSON."""
    fields = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)
              if f.name != "notifications"}  # the notification dispatcher runs in the parent only
    return json.dumps({**fields, "http": dataclasses.asdict(settings.http),
                       "retention": settings.retention.as_json(),
                       "routing": settings.routing})  # the parent's dispatcher routes events (metrics)


def app_from_environment() -> FastAPI:
    """The app factory uvicorn worker processes call (settings come from the parent)."""
    from collector import httpserver
    from collector.app import create_app
    from collector.config import HttpLimits, Settings
    from collector.retention import Retention

    data = json.loads(os.environ[SETTINGS_ENV])
    routing = bool(data.pop("routing", False))
    settings = Settings(**{**data, "http": HttpLimits(**data["http"]),
                           "trusted_proxies": tuple(data["trusted_proxies"]),
                           "retention": Retention.from_json(data["retention"])})
    from collector.metrics.shared import SHARED_ENV

    httpserver.configure(settings.http)  # this worker's protocol instances read it
    return create_app(settings, jobs=True, shared_metrics=os.environ.get(SHARED_ENV), routing=routing)


def worker_app() -> FastAPI:
    """:func:`app_from_environment`, then the garbage collector set for serving (:func:`settle_heap`)."""
    app = app_from_environment()
    settle_heap()
    return app


def _database(settings: Settings) -> str:
    """Which database a command uses and why, for the reader."""
    from collector.store.db import safe_url

    url = safe_url(settings.db_url)
    if settings.db_source == "the default":
        return tell("cli.collector.db_default", url=url, **_DEFAULT_DB)
    if settings.db_source.startswith("config "):
        return tell("cli.collector.db_config", url=url, file=settings.db_source.removeprefix("config "))
    return tell("cli.collector.db_from", url=url, source=settings.db_source)


_DEFAULT_DB = {"option": "--db", "key": "db:", "env": "$WARDROUND_DB"}


def _refuse_missing_database(settings: Settings) -> None:
    """A command other than serve/migrate never creates the default database (it would be a second, empty one)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from collector.config import ConfigError
    from collector.store.db import safe_url

    try:
        url = make_url(settings.db_url)
    except ArgumentError:
        return  # make_engine says what is wrong with it
    if settings.db_source == "the default" and url.get_backend_name() == "sqlite" and url.database \
            and not Path(url.database).exists():
        raise ConfigError([cli_said("cli.collector.no_database", url=safe_url(url), db="--db URL", config="--config F",
                                    migrate="`wardround-collector migrate`", serve="`serve`", **_DEFAULT_DB)])


def _run(args: argparse.Namespace) -> int:
    from collector import report_cli  # and the rest each command needs: not before the parser (a fast --help)
    from collector.policy import describe_policies, load_policies

    if args.command == "policy":
        policies = load_policies(args.file)
        print(describe_policies(policies))
        return 0
    if args.command == "record" and args.action == "verify":
        return report_cli.verify_export(args.file, args.public_key)
    settings = _settings(args)
    if args.command == "key":
        return report_cli.key(args.action, settings)
    if args.command == "serve":
        if settings.policy_file:  # a bad policy file stops serve before anything starts
            load_policies(settings.policy_file)
        _serve(settings, args)
        return 0
    if args.command != "migrate":
        _refuse_missing_database(settings)
    engine = _migrated_engine(settings)
    try:
        return _run_on(args, settings, engine)
    finally:
        engine.dispose()


def _run_on(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    """A command on the migrated database ``engine``: its exit code."""
    from collector import relays, report_cli
    from collector.auth import AuthError, create_agent_token, create_user
    from collector.keys import load_keyring
    from collector.store.db import safe_url

    keys = None
    pair = (args.command, getattr(args, "action", None))
    if args.command != "migrate":
        print(_database(settings), file=sys.stderr)
    if args.command in ("audit", "record"):
        keys = load_keyring(settings.key_file)  # they check what is signed: never a new key
    elif args.command not in ("migrate", "prune") and pair not in fleet_cli.READ_ONLY:
        keys = _signing_keys(settings, engine)  # it writes signed entries (a list or show never needs the key)
    if pair in fleet_cli.COMMANDS:
        return fleet_cli.run(args, engine, keys)
    if args.command == "migrate":
        print(tell("cli.collector.migrated", url=safe_url(settings.db_url)))
    elif args.command == "prune":
        prune_cli.run(engine, settings, args)
    elif args.command == "audit":
        assert keys is not None
        return report_cli.audit_verify(engine, keys)
    elif args.command == "record":
        report_cli.export_record(engine, keys, args.id, Path(args.out or f"record-{args.id}.json"))
    elif args.command == "import":
        return report_cli.import_bundles(args, settings, engine, keys)
    elif args.command == "token" and args.relay:
        name = args.host or relays.DEFAULT_NAME
        token = relays.create_relay_token(engine, site=args.site, name=name, keys=keys)
        print(tell("cli.collector.relay_token", site=args.site, relay=name, file="collector.token_file"))
        print(token)
    elif args.command == "token":
        if args.host is None:
            raise AuthError(cli_said("cli.collector.token_host_required", command="token create", host="--host",
                                     relay="--relay"))
        token = create_agent_token(engine, site=args.site, host=args.host, also_hosts=args.also_hosts,
                                   keys=keys)
        extra = ", ".join(sorted(set(args.also_hosts) - {args.host}))
        where = {"host": f"{args.site}/{args.host}", "file": "token_file"}
        print(tell("cli.collector.agent_token_also", also=extra, **where) if extra
              else tell("cli.collector.agent_token", **where))
        print(token)
    elif args.command == "user":
        token = create_user(engine, name=args.name, role=args.role, keys=keys)
        print(tell("cli.collector.user_token", name=args.name, role=args.role))
        print(token)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    chatty = args.command in ("serve", "migrate")
    logging.basicConfig(level=logging.INFO if chatty else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        args.host_addr = args.host  # "host" means the listen address only for serve
    try:
        code = _run(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the try, not at exit
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `wardround-collector policy check F | head`: not an error of ours (as the agent)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        told_code = _reported(exc)
        if told_code is None:
            raise
        return told_code


def _reported(exc: Exception) -> int | None:
    """``exc`` told in one line (every problem of a config or fleet file, one line each) on stderr, and
    its exit code; None for an exception that is not ours to tell (a bug: its traceback is shown)."""
    from sqlalchemy.exc import SQLAlchemyError

    from collector import report_cli
    from collector.auth import AuthError
    from collector.config import ConfigError
    from collector.fleet import FleetError
    from collector.keys import KeyFileError
    from collector.messages import ticket_templates
    from collector.store.db import DatabaseURLError

    if isinstance(exc, ConfigError | FleetError):  # every problem at once
        for problem, words in zip(exc.problems, exc.said, strict=True):
            line = tell_problem(problem, words) if words else told(problem, ticket_templates(reader_language()))
            print(f"wardround-collector: {line}", file=sys.stderr)
        if isinstance(exc, FleetError) and len(exc.problems) > 1:
            print(tell("cli.collector.problems", n=len(exc.problems)), file=sys.stderr)
        return exc.exit_code
    if isinstance(exc, KeyFileError | fleet_cli.UsageError | DatabaseURLError | CliError | AuthError
                  | report_cli.ReportError):
        print(f"wardround-collector: {tell_error(exc, ticket_templates(reader_language()))}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 2 if isinstance(exc, DatabaseURLError) else 1))
    if isinstance(exc, SQLAlchemyError):
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        print(tell("cli.collector.database_error", reason=reason), file=sys.stderr)
        return 1
    return None


if __name__ == "__main__":
    sys.exit(main())
