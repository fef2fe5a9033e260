"""Inspection records and service reports: signed, immutable evidence in HTML, PDF and CSV.

Public API:

* :mod:`collector.records.model` — the content model (:class:`RecordContent`
  and its parts, verdicts, :func:`canonical` and :func:`digest`); the
  structure is drawn in that module's docstring;
* :mod:`collector.records.kinds` — :func:`register` a builder for a kind,
  :func:`builder` to get one;
* :mod:`collector.records.i18n` — :func:`text`, the catalogs every word comes from;
* :mod:`collector.records.service` — issue, list, read, sign and verify
  records (what the API and the scheduler call);
* :mod:`collector.records.render` — HTML, PDF and CSV from stored content.
"""

from __future__ import annotations

from collector.records import model
from collector.records.i18n import text
from collector.records.kinds import UnknownKind, builder, register, registered
from collector.records.model import *  # noqa: F403  # the content model: the names of model.__all__

__all__ = ["UnknownKind", "builder", "register", "registered", "text"]
__all__ += model.__all__
