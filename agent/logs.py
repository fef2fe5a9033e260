"""The agent's loggers: ``configure`` (from ``--log-level``) and ``get``, kept in checks/_logs.py so
the checks' records and the agent's go through the same writer (and the same ``logging`` once it
is loaded): one format, one stream, no ``logging`` import for a journal line (issue 16)."""

from __future__ import annotations

from checks._logs import FORMAT, Logger, configure, get

__all__ = ["FORMAT", "Logger", "configure", "get"]
