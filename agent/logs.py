"""The agent's loggers: the standard ``logging`` module, imported when the first record is written.

``wardround-agent run`` and ``relay`` set the level from ``--log-level`` (:func:`configure`);
until a record at or above it comes, ``logging`` is not imported, so an agent started with
``--log-level warning`` that has nothing to warn about never loads it (issue 16: about 0.5 MB of
an idle agent's memory, docs/benchmarks.md).  The first such record configures ``logging`` as
:func:`configure` was told (``logging.basicConfig``) and every record from then on goes through
``logging`` as before: same format, same stream, same names (``agent.scheduler`` …), so the
levels, handlers and pytest's ``caplog`` work unchanged.  Where ``configure`` was not called
(another program, tests), each record goes straight to ``logging``.
"""

from __future__ import annotations

import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from typing import Any

__all__ = ["FORMAT", "Logger", "configure", "get"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: ``logging``'s numbers for the ``--log-level`` names (``logging.DEBUG`` … without importing it)
_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}

_threshold: int | None = None  # None: no configure() yet, every record goes to logging
_pending: dict[str, Any] = {}  # configure()'s basicConfig arguments until logging is imported
_configuring = threading.Lock()  # two threads' first records: one basicConfig, before either is written


def configure(level: str) -> None:
    """Log at ``level`` (a ``--log-level`` name) and above to stderr; ``logging`` is imported
    now if it already is loaded, else with the first record at or above ``level``."""
    global _threshold
    _threshold = _LEVELS[level.upper()]
    _pending.update(level=level.upper(), stream=sys.stderr, format=FORMAT)
    if "logging" in sys.modules:
        _logging()


def _logging() -> Any:
    import logging

    if _pending:
        with _configuring:
            if _pending:
                logging.basicConfig(**_pending)
                _pending.clear()
    return logging


class Logger:
    """``logging.getLogger(name)``'s debug … exception, importing ``logging`` only for a record
    that will be written (what ``Logger.isEnabledFor`` decides once it is loaded)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def _real(self, level: int) -> logging.Logger | None:
        if "logging" not in sys.modules and _threshold is not None and level < _threshold:
            return None
        logger: logging.Logger = _logging().getLogger(self.name)
        return logger

    def _write(self, level: int, method: str, msg: str, args: tuple[object, ...], kw: dict[str, Any]) -> None:
        if (real := self._real(level)) is not None:
            getattr(real, method)(msg, *args, stacklevel=3, **kw)  # the caller's funcName and lineno

    def debug(self, msg: str, *args: object, **kw: Any) -> None:
        self._write(10, "debug", msg, args, kw)

    def info(self, msg: str, *args: object, **kw: Any) -> None:
        self._write(20, "info", msg, args, kw)

    def warning(self, msg: str, *args: object, **kw: Any) -> None:
        self._write(30, "warning", msg, args, kw)

    def error(self, msg: str, *args: object, **kw: Any) -> None:
        self._write(40, "error", msg, args, kw)

    def exception(self, msg: str, *args: object, **kw: Any) -> None:
        self._write(40, "exception", msg, args, kw)


def get(name: str) -> Logger:
    """The logger ``name`` (``logging.getLogger(name)`` once a record is written)."""
    return Logger(name)
