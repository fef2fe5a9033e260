"""The words of access the command line offers before anything heavy is loaded: a person's
:class:`Role` (:mod:`collector.auth`) and how a host enrolled with a key is approved
(:data:`APPROVE`, :mod:`collector.enrol`).  No database, no cryptography: ``wardround-collector
--help`` builds its parser from these alone."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["APPROVE", "Role"]

#: how a host enrolled with a key is approved: at once, or by an administrator (``host approve``)
APPROVE = ("auto", "manual")


class Role(IntEnum):
    """What a person may do; a higher role may do everything a lower one may."""

    viewer = 1
    engineer = 2
    admin = 3
