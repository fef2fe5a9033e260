"""``wardround-collector prune``: apply the retention settings now (collector/retention.py) and print what went."""

from __future__ import annotations

import argparse
import dataclasses
from datetime import timedelta
from typing import TYPE_CHECKING

from checks._units import parse_duration
from checks.messages.reader import cli_said, tell, told

if TYPE_CHECKING:  # the parser is built without them (collector.cli: a fast start)
    from sqlalchemy import Engine

    from collector.config import Settings

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    prune = sub.add_parser("prune", parents=[common], help="cli.help.collector.sub.prune.help",
                           description="cli.help.collector.sub.prune.description")
    prune.add_argument("--dry-run", action="store_true", help="cli.help.collector.prune.dry_run")
    prune.add_argument("--keep-results", metavar="DURATION",
                       help="cli.help.collector.prune.keep_results")


def run(engine: Engine, settings: Settings, args: argparse.Namespace) -> None:
    from collector.config import ConfigError
    from collector.keys import KeyFileError, load_keyring
    from collector.retention import prune, results_retention
    from collector.store.db import DatabaseClock

    retention = settings.retention
    refused = None
    if args.keep_results is not None:
        try:
            keep = timedelta(seconds=parse_duration(args.keep_results))
        except ValueError as exc:
            raise ConfigError([cli_said("cli.collector.bad_duration", option="--keep-results",
                                        got=repr(args.keep_results))]) from exc
        try:
            retention = dataclasses.replace(retention, results=results_retention(args.keep_results))
        except ValueError as exc:
            if not args.dry_run:
                raise ConfigError([cli_said("cli.prune.option", option="--keep-results", why=exc.args[0])]) from exc
            refused = exc.args[0]  # a dry run shows what it would remove, and that a real run is refused
            retention = dataclasses.replace(retention, results=keep)
    keys = None
    if retention.audit is not None and not args.dry_run:  # the audit log's checkpoint is signed (never a new key)
        try:
            keys = load_keyring(settings.key_file)
        except KeyFileError as exc:
            raise KeyFileError(cli_said("cli.prune.needs_key", error=exc.args[0] if exc.args else str(exc),
                                        key="retention.audit: never")) from exc
    report = prune(engine, retention, DatabaseClock(engine)(), dry_run=args.dry_run, keys=keys)
    for line in report.lines():
        print(told(line))
    if refused:
        print(tell("cli.prune.refused_real", dry_run="--dry-run", option="--keep-results", why=refused))
