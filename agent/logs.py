"""The agent's loggers: ``configure`` (from ``--log-level``) and ``get``, kept in checks/_logs.py so
the checks' records and the agent's go through the same writer (and the same ``logging`` once it
is loaded): one format, one stream, no ``logging`` import for a journal line (issue 16)."""

from __future__ import annotations

from collections.abc import Callable

from checks._logs import FORMAT, Logger, configure, get

__all__ = ["FORMAT", "Logger", "configure", "get", "told_too"]


def told_too(logger: Logger, said: Callable[[], str]) -> None:
    """Beside an English log line a person acts on (the collector cannot be reached, the spool is full), the
    same in the reader's language (``said``: a command-line message, ``tell("cli.agent.log...", ...)``), when
    that is not English: the English line stays the one to grep for, the next says it to the person reading
    the journal (docs/agent.md). Called only then, as the messages' module is loaded only then (a healthy
    running agent keeps it out)."""
    from checks.messages.reader import reader_language

    if reader_language() != "en":
        logger.warning("%s", said())
