"""The policy of issue 15: default ticket rules of the hygiene checks and the drill, the promised
restore drills and the customer follow-up settings (built-in defaults and the file)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from checks.result import Status
from collector.config import ConfigError
from collector.policy import default_policies, describe_policies, load_policies

SH = ZoneInfo("Asia/Shanghai")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policies.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("levels", [3, 4])
def test_default_rules_open_tickets_for_stale_antivirus_empty_passwords_and_failed_drills_when_built_in(
        levels, tmp_path):
    four = """\
default:
  levels:
    - {name: a, response: 1h, resolve: 4h, clock: 24x7}
    - {name: b, response: 2h, resolve: 8h, clock: 24x7}
    - {name: c, response: 4h, resolve: 24h, clock: business}
    - {name: d, response: 12h, resolve: 48h, clock: business}
"""
    p = default_policies().default if levels == 3 else load_policies(write(tmp_path, four)).default
    drill = p.rule_for("restore_drill", "/backup/pg/his_*.dump")
    assert drill is not None and drill.after == 1  # weekly: a second bad result would be a week late
    assert (drill.level_for(Status.CRITICAL), drill.level_for(Status.UNKNOWN)) == (2, levels)
    assert drill.level_for(Status.WARNING) is None  # slower than max_duration: on the record only
    av = p.rule_for("antivirus", "defender")
    assert (av.level_for(Status.WARNING), av.level_for(Status.CRITICAL), av.after) == (levels, levels - 1, 2)
    empty = p.rule_for("accounts", "empty_password")
    assert (empty.level_for(Status.CRITICAL), empty.after) == (2, 1)
    for item in ("sqlserver/empty_password", "mysql/empty_password"):
        rule = p.rule_for("db_accounts", item)
        assert (rule.level_for(Status.CRITICAL), rule.after) == (2, 1)
    # the other findings keep the catch-all: CRITICAL after 2, WARNING nothing
    other = p.rule_for("accounts", "password_never_expires")
    assert (other.level_for(Status.WARNING), other.after) == (None, 2)
    assert p.rule_for("db_accounts", "postgresql/trust").after == 2
    assert p.rule_for("patches", "security").level_for(Status.WARNING) is None


def test_a_written_restore_drill_rule_opens_at_the_first_bad_result_when_after_is_left_out(tmp_path):
    p = load_policies(write(tmp_path, """\
default:
  rules:
    - {check: restore_drill, open: {CRITICAL: 1}}
    - {check: antivirus, open: {CRITICAL: 1}}
""")).default
    assert p.rule_for("restore_drill", "x").after == 1
    assert p.rule_for("antivirus", "clamav").after == 2


def test_drills_and_followup_have_sensible_defaults_when_the_policy_says_nothing():
    p = default_policies().default
    assert p.drill_every == "quarterly"
    f = p.followup
    assert (f.within.text, f.within.working_days, f.always, f.tickets, f.account_manager) == (
        "3wd", 3, False, "handled", None)
    assert p.complaint_level == 3  # the least severe level of the built-in scheme
    # resolved on Friday 2026-11-27 16:00: due at the end of business on the 3rd working day after, Wednesday
    resolved = datetime(2026, 11, 27, 16, 0, tzinfo=SH).astimezone(UTC)
    assert p.followup_deadline(resolved) == datetime(2026, 12, 2, 17, 30, tzinfo=SH).astimezone(UTC)


def test_drills_and_followup_are_read_per_site_when_written(tmp_path):
    policies = load_policies(write(tmp_path, """\
default:
  restore_drills: {every: monthly}
  followup: {within: 2wd, account_manager: 李娜, complaint_level: 2}
sites:
  small-clinic:
    restore_drills: off
    followup: {within: 48h, clock: 24x7, tickets: all}
  no-followup:
    followup: {tickets: off}
"""))
    d = policies.default
    assert (d.drill_every, d.followup.within.working_days, d.followup.account_manager, d.complaint_level) == (
        "monthly", 2, "李娜", 2)
    clinic = policies.for_site("small-clinic")
    assert clinic.drill_every is None
    assert (clinic.followup.within.text, clinic.followup.always, clinic.followup.tickets) == ("48h", True, "all")
    assert clinic.followup.account_manager == "李娜"  # inherited from default
    assert policies.for_site("no-followup").followup.tickets == "off"
    text = describe_policies(policies)
    assert "restore drills promised: monthly" in text and "for 李娜" in text
    assert "customer follow-up: off" in text


def test_bad_drill_and_followup_settings_are_reported_with_their_keys_when_loaded(tmp_path):
    path = write(tmp_path, """\
default:
  restore_drills: {every: fortnightly, when: sunday}
  followup: {within: 3d, tickets: some, account_manager: "", complaint_level: 5, call: yes}
sites:
  h1:
    restore_drills: 4
""")
    with pytest.raises(ConfigError) as err:
        load_policies(path)
    text = "\n".join(err.value.problems)
    for expected in ("default.restore_drills.every: expected weekly, monthly, quarterly, yearly or off",
                     "default.restore_drills.when: unknown key",
                     "default.followup.within: '3d' is ambiguous on a business clock",
                     "default.followup.tickets: expected handled, all, off",
                     "default.followup.account_manager: expected a name",
                     "default.followup.complaint_level: expected an integer 1-3",
                     "default.followup.call: unknown key",
                     "sites.h1.restore_drills: expected {every:"):
        assert expected in text, text


def test_hygiene_and_drill_failures_open_tickets_through_ingest_when_the_built_in_rules_apply(engine):
    from datetime import timedelta

    from tests.collector.test_tickets import T0, Feed

    feed = Feed(engine)
    week = timedelta(days=7)
    feed.run("restore_drill", "/backup/pg/his_*.dump", "c", T0, step=week)  # one failed drill
    feed.run("accounts", "empty_password", "c", T0, step=timedelta(days=1))
    feed.run("accounts", "password_never_expires", "ww", T0, step=timedelta(days=1))
    feed.run("antivirus", "clamav", "w", T0, step=timedelta(days=1))
    opened = {(t["check"], t["item"]): t["severity"] for t in feed.all()}
    assert opened == {("restore_drill", "/backup/pg/his_*.dump"): 2, ("accounts", "empty_password"): 2}
    feed.run("antivirus", "clamav", "w", T0 + timedelta(days=1, minutes=1), step=timedelta(days=1))
    opened = {(t["check"], t["item"]): t["severity"] for t in feed.all()}
    assert opened[("antivirus", "clamav")] == 3  # the second day of old signatures
