"""checks/_cron.py read forwards (the agent's and the collector's schedules); backwards in test_backup_files."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from checks._cron import Schedule, parse_cron

SATURDAY = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def test_next_fire_is_the_first_at_or_after_the_moment():
    assert parse_cron("0 8 * * 1-5").next(SATURDAY, UTC) == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert parse_cron("0 9 * * *").next(SATURDAY, UTC) == SATURDAY  # a fire exactly now counts
    assert parse_cron("0 0 30 2 *").next(SATURDAY, UTC) is None


def test_next_fire_ors_day_of_month_and_weekday_when_both_are_restricted():
    fires, at = [], SATURDAY
    for _ in range(3):
        at = parse_cron("0 8 1 * 1").next(at, UTC)
        fires.append(at.strftime("%a %d"))
        at = at.replace(minute=1)
    assert fires == ["Mon 30", "Tue 01", "Mon 07"]


def test_question_mark_and_last_day_are_read_as_apscheduler_schedules_wrote_them():
    assert parse_cron("0 8 ? * 1").next(SATURDAY, UTC) == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert parse_cron("30 2 last * *").next(SATURDAY, UTC) == datetime(2026, 11, 30, 2, 30, tzinfo=UTC)
    assert parse_cron("30 2 last * *").latest(datetime(2026, 3, 15, tzinfo=UTC), UTC) == datetime(
        2026, 2, 28, 2, 30, tzinfo=UTC)


def test_a_fire_time_in_a_dst_gap_comes_out_as_the_wall_clock_after_the_jump():
    ny = ZoneInfo("America/New_York")
    fire = Schedule.parse("30 2 * * *", ny).next(datetime(2026, 3, 8, 1, 0, tzinfo=ny))
    assert fire is not None and (fire.hour, fire.minute, fire.utcoffset()) == (3, 30, ny.utcoffset(fire))
