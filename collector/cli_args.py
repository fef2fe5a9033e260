"""Parser pieces the ``wardround-collector`` command modules share (:mod:`collector.cli`,
:mod:`collector.fleet_cli`)."""

from __future__ import annotations

import argparse

__all__ = ["actions"]


def actions(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str
            ) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """Command ``name``, whose actions (``token create``, ``token list``, ...) are added to what this returns."""
    command = sub.add_parser(name, help=help)
    return command.add_subparsers(dest="action", metavar="ACTION", required=True)
