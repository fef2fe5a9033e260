"""The agent's and its checks' log lines: written by a small writer of their own, or by ``logging``.

``agent/logs.py`` is how the agent reaches this module; a check module takes its logger with
``log = _logs.get(__name__)`` (not ``logging.getLogger``: loading a check then costs no ``logging``).

``wardround-agent run`` and ``relay`` set the level from ``--log-level`` (:func:`configure`).
From then on a record at or above it is written to stderr by :func:`_write_line`, in
``logging``'s format (:data:`FORMAT`: ``2026-12-05 22:07:02,368 INFO agent.scheduler: push:
delivered 5, backlog 0``, a traceback after an ``exception`` record), one line per record,
flushed as it is written; ``logging`` itself is not imported (issue 16: about 0.4 MB of an idle
agent's memory, with the ``traceback``, ``linecache``, ``tokenize`` it brings; docs/benchmarks.md), so the
journal gets the start line and the ``push: delivered`` lines at the default ``info`` without it.

``logging`` takes over where its features are wanted: once something has imported it (a check's
driver library, pytest), every record goes through it, configured as :func:`configure` was told
(``logging.basicConfig``: same format, same stream) so its handlers, levels and ``caplog`` see
every record; a record whose arguments do not fit its message also goes to ``logging`` (which
reports the mistake its own way).  Where ``configure`` was not called (another program, tests),
each record goes straight to ``logging``.
"""

from __future__ import annotations

import sys
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from typing import Any

__all__ = ["FORMAT", "Logger", "configure", "get"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: ``logging``'s numbers for the ``--log-level`` names (``logging.DEBUG`` … without importing it)
_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
_NAMES = {number: name for name, number in _LEVELS.items()}

_threshold: int | None = None  # None: no configure() yet, every record goes to logging
_stream: Any = None  # configure()'s stderr, where the writer writes
_pending: dict[str, Any] = {}  # configure()'s basicConfig arguments until logging is imported
# Reentrant, as logging's own locks: a signal handler that logs ("received SIGTERM; stopping") runs
# in the main thread, perhaps while that thread is inside a write; a plain Lock would hang it there.
_configuring = threading.RLock()  # two threads' first records: one basicConfig, before either is written
_writing = threading.RLock()  # one record's lines together, as logging's handler lock keeps them


def configure(level: str) -> None:
    """Log at ``level`` (a ``--log-level`` name) and above to stderr: by the writer of this module,
    or by ``logging`` if something loads it (configured now if it already is loaded)."""
    global _threshold, _stream
    _threshold, _stream = _LEVELS[level.upper()], sys.stderr
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


def _write_line(name: str, level: int, msg: str, args: tuple[object, ...], with_traceback: bool) -> bool:
    """``FORMAT``'s line for the record on stderr (a traceback after it for ``exception``), as
    ``logging.basicConfig``'s handler writes it; false, nothing written, if ``msg % args`` fails."""
    try:
        message = msg % args if args else str(msg)
    except (TypeError, ValueError, KeyError):
        return False
    now = time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
    text = f"{stamp},{int((now - int(now)) * 1000):03d} {_NAMES[level]} {name}: {message}"
    if with_traceback:  # logging's formatException, "NoneType: None" outside an except block included
        import traceback  # only for an exception record: rare, and then worth its memory

        text += "\n" + "".join(traceback.format_exception(*sys.exc_info())).rstrip("\n")
    stream = _stream
    if stream is None:  # pythonw, a service wrapper without a console: nowhere to write
        return True
    with _writing:
        try:
            stream.write(text + "\n")
            stream.flush()
        except (OSError, ValueError, RuntimeError):  # stderr closed or gone, or a signal handler's record
            pass  # inside this thread's own write ("reentrant call"): the record is lost, the agent goes on
    return True


class Logger:
    """``logging.getLogger(name)``'s debug … exception: a record below the ``--log-level`` costs a
    comparison; one at or above it is written by :func:`_write_line`, or by ``logging`` once that
    is loaded (or where :func:`configure` was not called)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def _write(self, level: int, method: str, msg: str, args: tuple[object, ...], kw: dict[str, Any]) -> None:
        if "logging" not in sys.modules and _threshold is not None:
            if level < _threshold:
                return
            if not kw and _write_line(self.name, level, msg, args, method == "exception"):
                return  # (exc_info=, stacklevel= … are logging's: it writes such a record)
        real: logging.Logger = _logging().getLogger(self.name)
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
    """The logger ``name`` (``logging.getLogger(name)`` once ``logging`` is loaded)."""
    return Logger(name)
