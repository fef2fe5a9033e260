"""The registry of record kinds: kind name → builder.

A builder reads the database and returns the content of one record::

    def build(conn: Connection, *, site: str, period_start: datetime, period_end: datetime,
              lang: str, inspector: str, policy: SitePolicy | None = None) -> RecordContent

``period_start`` (inclusive) and ``period_end`` (exclusive) are aware
datetimes in the site's time zone (``period_start.tzinfo`` is the zone the
record's dates are written in); ``lang`` is ``zh_CN`` or ``en`` (take every
word from :func:`collector.records.i18n.text`); ``inspector`` is the name
printed in the header; ``policy`` is the site's policy (what the contract
promises, e.g. the restore drills; None: the built-in default).  A builder never writes.  The issuing service
(:mod:`collector.records.service`) stamps what it owns into the header after
the builder returns — ``customer``, ``systems``, ``generated_at``,
``origin`` — then stores the content and its digest.

The kinds and the module of each builder are declared in :mod:`collector.record_kinds`:
``daily``, ``weekly``, ``monthly`` and ``quarterly`` (the patrol record,
:mod:`collector.records.patrol`) and ``annual`` (the annual service report,
:mod:`collector.records.annual`); each module registers its builders with :func:`register`
when imported, and :func:`builder` imports it on first use.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection

from collector import record_kinds
from collector.policy import SitePolicy
from collector.records.model import KINDS, RecordContent

__all__ = ["Builder", "UnknownKind", "builder", "register", "registered"]


class Builder(Protocol):
    def __call__(self, conn: Connection, *, site: str, period_start: datetime, period_end: datetime,
                 lang: str, inspector: str, policy: SitePolicy | None = None) -> RecordContent: ...


class UnknownKind(ValueError):
    """No builder is registered for this kind."""


log = logging.getLogger(__name__)
_BUILDERS: dict[str, Builder] = {}
# Where each kind's builder lives; the module registers itself when imported.
_MODULES = {k.name: k.module for k in record_kinds.BY_NAME.values()}  # collector/record_kinds.py


def register(kind: str, build: Builder | Callable[..., RecordContent]) -> None:
    """Make ``build`` the builder of ``kind`` (one of :data:`KINDS`)."""
    if kind not in KINDS:
        raise UnknownKind(f"unknown record kind {kind!r} (expected {', '.join(KINDS)})")
    _BUILDERS[kind] = build


def builder(kind: str) -> Builder:
    """The builder of ``kind``, importing its module on first use."""
    if kind not in _BUILDERS and kind in _MODULES:
        try:
            importlib.import_module(_MODULES[kind])
        except ModuleNotFoundError as exc:
            if exc.name != _MODULES[kind]:
                raise
    try:
        return _BUILDERS[kind]
    except KeyError:
        raise UnknownKind(f"no builder for record kind {kind!r} (available: "
                          f"{', '.join(registered()) or 'none'})") from None


def registered() -> tuple[str, ...]:
    """The kinds that can be issued now (importing the known builder modules).

    A builder module that fails to import is logged and left out, so one
    broken kind does not stop the others being issued.
    """
    for kind in KINDS:
        if kind not in _BUILDERS:
            try:
                builder(kind)
            except UnknownKind:
                pass
            except Exception:  # a broken builder module must not stop the other kinds
                log.exception("the builder of %s records cannot be imported", kind)
    return tuple(k for k in KINDS if k in _BUILDERS)
