"""The Wardround agent: config, schedule, run checks safely, spool, push.

Modules, in the order data flows through them::

    config     the YAML file → a frozen AgentConfig (every error at once)
    runner     one check run under a timeout, isolated; never raises
    spool      the durable SQLite outbox (+ per-check state, quarantine)
    spool_repair  a corrupt spool: detect, move aside, salvage (used by spool)
    lock       one process per spool: an OS lock that dies with its holder
    sender     spool → collector: gzip JSON batches over agent.http (socket; ssl for https)
    scheduler  timer jobs + the sender thread: the ``run`` daemon
    timer      the scheduler: a fire time per job, one timer thread (checks._cron for cron)
    cli        ``wardround-agent run | once | check``
"""

from __future__ import annotations

import sys
import types

__all__ = ["Worded", "__version__"]


#: Kept equal to ``project.version`` in pyproject.toml (a test checks it);
#: hard-coded because importlib.metadata costs the idle agent memory.
__version__ = "0.1.0"


class _LateInspect(types.ModuleType):
    """``inspect`` as ``dataclasses`` sees it in the agent: the real module only once needed.

    ``dataclasses`` (Python 3.11) imports ``inspect``, which brings ``ast``, ``dis`` and
    ``opcode`` (about 1 MB of an idle agent), and calls it only to write a docstring for a
    dataclass without one: ``str(inspect.signature(cls))`` after the class name.  Unless
    ``inspect`` is loaded anyway, that text is empty here: the docstring is the bare class name,
    as ``dataclasses`` writes it when a signature cannot be read (nothing reads it).  Any other attribute
    (Python 3.12's ``dataclasses`` asks for ``inspect.get_annotations`` for every class) imports
    the real module and puts it in place.  Anything else importing ``inspect`` gets the real one.
    """

    def signature(self, obj: object) -> object:
        real = sys.modules.get("inspect")
        return real.signature(obj) if real is not None else ""  # "": the docstring is the class name

    def __getattr__(self, name: str) -> object:
        import inspect

        setattr(sys.modules["dataclasses"], "inspect", inspect)  # noqa: B010 - a module attribute
        return getattr(inspect, name)


def _dataclasses_without_inspect() -> None:
    if "dataclasses" in sys.modules or "inspect" in sys.modules:
        return  # loaded already: nothing to save
    stand_in = _LateInspect("inspect")
    sys.modules["inspect"] = stand_in
    try:
        import dataclasses  # noqa: F401 - binds the stand-in as dataclasses.inspect
    finally:
        if sys.modules.get("inspect") is stand_in:
            del sys.modules["inspect"]


_dataclasses_without_inspect()


class Worded(Exception):
    """An error whose English text (``str()``, for logs) is also a command-line message ``key``
    (``checks/messages/cli.*.json``) with ``words`` (its arguments), which the command printing it
    renders in the reader's language (``checks.messages.reader.tell``); ``key`` "" when it has none."""

    def __init__(self, text: str, key: str = "", /, **words: object) -> None:
        super().__init__(text)
        self.key, self.words = key, words
