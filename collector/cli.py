"""``wardround-collector``: serve the API, run migrations, create tokens and users.

Exit codes: 0 success, 1 a runtime fault (database unreachable, bad URL,
user exists...), 2 a usage or config-file error.  Errors are one line on
stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from collector import __version__
from collector.auth import AuthError, Role, create_agent_token, create_user
from collector.config import ConfigError, Settings, load_settings
from collector.policy import describe_policies, load_policies
from collector.store.db import DatabaseURLError, make_engine, safe_url
from collector.store.migrate import upgrade

if TYPE_CHECKING:
    from fastapi import FastAPI

    from collector.notify.dispatch import Dispatcher

__all__ = ["main"]

log = logging.getLogger("collector")

SETTINGS_ENV = "WARDROUND_COLLECTOR_SETTINGS"  # hands settings to uvicorn worker processes


class CliError(Exception):
    """A runtime fault to report in one line; exit code 1."""


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="F", help="YAML config file (db, listen.host, listen.port, ...)")
    common.add_argument("--db", metavar="URL", dest="db_url",
                        help="database URL: sqlite:///path.db (default sqlite:///wardround.db, "
                             "or $WARDROUND_DB) or postgresql+psycopg://user:pw@host/db")
    p = argparse.ArgumentParser(prog="wardround-collector",
                                description="The Wardround collector: stores agents' check results "
                                            "and serves the HTTP API and Prometheus metrics.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = sub.add_parser("serve", parents=[common], help="migrate the database, then serve HTTP",
                           description="Bring the schema up to date, then serve the API. "
                                       "Listens on 127.0.0.1 unless told --host 0.0.0.0.")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8480)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument("--access-log", action="store_true", help="log every request (costs throughput)")
    serve.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate (chain) file")
    serve.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")

    sub.add_parser("migrate", parents=[common], help="upgrade the database schema to the newest version")

    policy = sub.add_parser("policy", help="ticket policies (docs/tickets.md)")
    policy_sub = policy.add_subparsers(dest="action", metavar="ACTION", required=True)
    pc = policy_sub.add_parser("check", help="validate a policies file and print what it says",
                               description="Read a policies YAML file, report every fault at once "
                                           "(exit code 2), or print each site's levels and deadlines.")
    pc.add_argument("file", metavar="F")

    token = sub.add_parser("token", help="agent tokens")
    token_sub = token.add_subparsers(dest="action", metavar="ACTION", required=True)
    tc = token_sub.add_parser("create", parents=[common], help="create an agent token (printed once)",
                              description="Create a token for the agent of one host. The token is "
                                          "printed alone on the last line of stdout, once; only its "
                                          "hash is stored.")
    tc.add_argument("--site", required=True, help="the site (customer) the host belongs to")
    tc.add_argument("--host", required=True, help="the host's name as its agent reports it")
    tc.add_argument("--also-host", action="append", default=[], metavar="NAME", dest="also_hosts",
                    help="another host of the same site this token may write results for: a host its "
                         "agent checks remotely (a check entry with host: NAME); repeatable")

    user = sub.add_parser("user", help="people's API tokens")
    user_sub = user.add_subparsers(dest="action", metavar="ACTION", required=True)
    uc = user_sub.add_parser("create", parents=[common], help="create a person and their API token",
                             description="Create a person with a role; their API token is printed "
                                         "alone on the last line of stdout, once.")
    uc.add_argument("name")
    uc.add_argument("--role", required=True, choices=[r.name for r in Role])
    return p


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config, db_url=args.db_url, host=getattr(args, "host_addr", None),
                         port=getattr(args, "port", None), workers=getattr(args, "workers", None))


def _migrated_engine(settings: Settings) -> Engine:
    engine = make_engine(settings.db_url)
    try:
        upgrade(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise CliError(f"cannot use the database {safe_url(settings.db_url)}: {reason}") from exc
    return engine


def _tls_files(args: argparse.Namespace) -> dict[str, str]:
    """uvicorn's ssl options from --tls-cert/--tls-key: both or neither, both readable."""
    if not args.tls_cert and not args.tls_key:
        return {}
    if not (args.tls_cert and args.tls_key):
        raise CliError("--tls-cert and --tls-key go together")
    for flag, path in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key)):
        if not os.access(path, os.R_OK) or not os.path.isfile(path):
            raise CliError(f"{flag}: cannot read {path}")
    return {"ssl_certfile": args.tls_cert, "ssl_keyfile": args.tls_key}


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    tls = _tls_files(args)
    _migrated_engine(settings).dispose()
    log.info("collector on %s://%s:%d, database %s", "https" if tls else "http", settings.host, settings.port,
             safe_url(settings.db_url))
    dispatcher = _start_notifications(settings)
    try:
        _run_uvicorn(settings, args)
    finally:
        if dispatcher is not None:
            dispatcher.stop()
            dispatcher.engine.dispose()


def _start_notifications(settings: Settings) -> Dispatcher | None:
    """The notification dispatcher thread (one per collector process; claims keep them apart)."""
    if settings.notifications is None or not settings.notifications.channels:
        return None
    from collector.notify.dispatch import Dispatcher

    dispatcher = Dispatcher(make_engine(settings.db_url), settings.notifications)
    dispatcher.start()
    return dispatcher


def _run_uvicorn(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    options = dict(host=settings.host, port=settings.port, log_level=args.log_level,
                   access_log=args.access_log, server_header=False, proxy_headers=False, **_tls_files(args))
    if settings.workers > 1:
        os.environ[SETTINGS_ENV] = json.dumps({
            "db_url": settings.db_url, "max_body_bytes": settings.max_body_bytes,
            "policy_file": settings.policy_file, "sweep_seconds": settings.sweep_seconds})
        uvicorn.run("collector.cli:app_from_environment", factory=True, workers=settings.workers,
                    **options)
    else:
        from collector.app import create_app

        uvicorn.run(create_app(settings, jobs=True), **options)


def app_from_environment() -> FastAPI:
    """The app factory uvicorn worker processes call (settings come from the parent)."""
    from collector.app import create_app

    data = json.loads(os.environ[SETTINGS_ENV])
    return create_app(Settings(**data), jobs=True)


def _run(args: argparse.Namespace) -> int:
    if args.command == "policy":
        policies = load_policies(args.file)
        print(describe_policies(policies))
        return 0
    settings = _settings(args)
    if args.command == "serve":
        if settings.policy_file:  # a bad policy file stops serve before anything starts
            load_policies(settings.policy_file)
        _serve(settings, args)
        return 0
    engine = _migrated_engine(settings)
    try:
        if args.command == "migrate":
            print(f"database {safe_url(settings.db_url)} is at the newest schema")
        elif args.command == "token":
            token = create_agent_token(engine, site=args.site, host=args.host, also_hosts=args.also_hosts)
            extra = sorted(set(args.also_hosts) - {args.host})
            also = f", also writes for {', '.join(extra)}" if extra else ""
            print(f"agent token for {args.site}/{args.host}{also} "
                  "(shown once; put it in the agent's token_file):")
            print(token)
        elif args.command == "user":
            token = create_user(engine, name=args.name, role=args.role)
            print(f"API token for {args.name} ({args.role}) (shown once):")
            print(token)
    finally:
        engine.dispose()
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
        return _run(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"wardround-collector: {problem}", file=sys.stderr)
        return exc.exit_code
    except (CliError, AuthError, DatabaseURLError) as exc:
        print(f"wardround-collector: {exc}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        print(f"wardround-collector: database error: {reason}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
