"""The agent's trigger for ``cron:`` check entries: APScheduler asks, :mod:`checks._cron` answers.

APScheduler's own ``CronTrigger`` numbers weekdays from Monday and ANDs day-of-month
with day-of-week, so a crontab (``0 8 * * 1-5``, ``0 8 1 * 1``) would fire on other days
than crontab(5) says.  :class:`CrontabTrigger` keeps APScheduler's scheduling (jobs,
misfires, coalescing) and takes every fire time from the project's one crontab reader.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from apscheduler.triggers.base import BaseTrigger

from checks._cron import Schedule
from checks._files import local_zone

__all__ = ["CrontabTrigger"]


class CrontabTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 ships no types
    """Fires when :mod:`checks._cron` says: crontab(5) weekdays and day matching, in ``timezone``.

    Not APScheduler's ``CronTrigger``: it numbers weekdays from Monday and ANDs
    day-of-month with day-of-week, so a crontab would fire on other days.  ``jitter_s``
    delays each fire by a random 0..jitter seconds, as ``CronTrigger(jitter=...)`` does.
    """

    __slots__ = ("schedule", "jitter")

    def __init__(self, expr: str, *, jitter_s: float = 0.0, timezone: tzinfo | None = None):
        self.schedule = Schedule.parse(expr, timezone or local_zone())
        self.jitter = int(jitter_s) or None

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        start = now
        if previous_fire_time is not None:  # as CronTrigger: never the same fire twice, even jittered
            start = min(now, previous_fire_time + timedelta(microseconds=1))
            if start == previous_fire_time:
                start += timedelta(microseconds=1)
        fire: datetime | None = self._apply_jitter(self.schedule.next(start), self.jitter, now)
        return fire

    def __str__(self) -> str:
        return f"cron[{self.schedule.cron.expr}]"
