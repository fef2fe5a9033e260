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

__all__ = ["__version__"]


#: Kept equal to ``project.version`` in pyproject.toml (a test checks it);
#: hard-coded because importlib.metadata costs the idle agent memory.
__version__ = "0.1.0"
