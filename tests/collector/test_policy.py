"""Site policies: business-hours deadlines, holidays and make-up days, 24x7 levels, the file format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from checks.messages.reader import tell_error
from checks.result import Status
from collector.config import ConfigError
from collector.policy import default_policies, load_policies, parse_duration
from collector.policy.model import MAX_CALENDAR_DAYS, Calendar

SH = ZoneInfo("Asia/Shanghai")


def sh(*args: int) -> datetime:
    """A Shanghai wall-clock time as aware UTC."""
    return datetime(*args, tzinfo=SH).astimezone(UTC)


def write(tmp_path: Path, text: str, name: str = "policies.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


HOLIDAYS_2026 = """\
# China, National Day 2026 as the State Council announced it (test data)
holidays:
  - 2026-10-01..2026-10-07
workdays:
  - 2026-09-27        # Sunday worked (调休)
  - 2026-10-10        # Saturday worked (调休)
"""


@pytest.fixture
def policies(tmp_path):
    write(tmp_path, HOLIDAYS_2026, "holidays-cn.yaml")
    return load_policies(write(tmp_path, """\
default:
  business_hours: {timezone: Asia/Shanghai, days: [mon, tue, wed, thu, fri], hours: "08:30-17:30"}
  holidays: holidays-cn.yaml
sites:
  key-hospital:
    key_customer: true
    key_factor: 0.5
  four-level:
    levels:
      - {name: paralysis, response: 1h, resolve: 4h, clock: 24x7}
      - {name: potential paralysis, response: 2h, resolve: 8h, clock: 24x7}
      - {name: degraded, response: 4h, resolve: 24h, clock: business}
      - {name: indirect, response: 12h, resolve: 48h, clock: business}
  lunch-break:
    business_hours: {hours: "08:00-12:00,13:30-17:30"}
"""))


def test_business_deadline_skips_the_weekend_when_opened_late_on_friday(policies):
    p = policies.for_site("anywhere")
    response_due, resolve_due = p.deadlines(2, sh(2026, 11, 27, 16, 30))  # a Friday
    assert response_due == sh(2026, 11, 30, 9, 30)  # 1 h on Friday, 1 h on Monday
    assert resolve_due == sh(2026, 12, 1, 16, 30)  # 18 business hours: 1 + 9 + 8


def test_business_deadline_starts_at_opening_time_when_opened_at_night(policies):
    response_due, _ = policies.default.deadlines(2, sh(2026, 11, 24, 22, 0))
    assert response_due == sh(2026, 11, 25, 10, 30)


def test_business_deadline_skips_holidays_when_the_calendar_lists_them(policies):
    # Wednesday 30 September 17:00; 1-7 October are holidays, Thursday 8 October is worked.
    response_due, _ = policies.default.deadlines(2, sh(2026, 9, 30, 17, 0))
    assert response_due == sh(2026, 10, 8, 10, 0)


def test_business_deadline_counts_a_make_up_saturday_when_listed_as_workday(policies):
    # Friday 9 October 17:00 → Saturday 10 October is a make-up working day.
    response_due, _ = policies.default.deadlines(2, sh(2026, 10, 9, 17, 0))
    assert response_due == sh(2026, 10, 10, 10, 0)


def test_round_the_clock_level_ignores_business_hours_when_clock_is_24x7(policies):
    opened = sh(2026, 10, 3, 23, 0)  # a holiday Saturday night
    assert policies.default.deadlines(1, opened) == (opened + timedelta(hours=2), opened + timedelta(hours=8))
    p4 = policies.for_site("four-level")
    assert p4.deadlines(2, opened) == (opened + timedelta(hours=2), opened + timedelta(hours=8))
    assert p4.deadlines(3, opened)[0] == sh(2026, 10, 8, 12, 30)


def test_key_customer_deadline_is_shorter_when_factor_is_half(policies):
    opened = sh(2026, 11, 24, 9, 0)
    assert policies.for_site("key-hospital").deadlines(2, opened)[0] == sh(2026, 11, 24, 10, 0)
    assert policies.for_site("key-hospital").priority == 1
    assert policies.for_site("other").priority == 0


def test_lunch_break_is_skipped_when_hours_have_two_spans(policies):
    response_due, _ = policies.for_site("lunch-break").deadlines(2, sh(2026, 11, 24, 11, 0))
    assert response_due == sh(2026, 11, 24, 14, 30)


def test_default_mapping_opens_backups_at_level_two_when_critical():
    p = default_policies().default
    backup = p.rule_for("backup_files", "/backups/*.bak")
    assert backup is not None and backup.level_for(Status.CRITICAL) == 2 and backup.after == 1
    disk = p.rule_for("disk", "/")
    assert disk is not None and disk.level_for(Status.CRITICAL) == 2 and disk.after == 2
    assert disk.level_for(Status.WARNING) is None and disk.recover_after == 2


def test_default_mapping_opens_the_agents_corrupt_spool_report_after_one_result():
    p = default_policies().default
    spool = p.rule_for("agent", "spool")  # "spool was corrupt; N results may be lost": an event
    assert spool is not None and spool.level_for(Status.CRITICAL) == 2 and spool.after == 1
    assert spool.level_for(Status.WARNING) is None  # "dropped N results" stays on the record


def test_default_mapping_uses_level_three_for_other_criticals_when_scheme_has_four_levels(policies):
    p4 = policies.for_site("four-level")
    assert p4.rule_for("disk", "/").level_for(Status.CRITICAL) == 3
    assert p4.rule_for("db_backup", "HIS/full").level_for(Status.CRITICAL) == 2


def test_site_rules_come_before_defaults_when_written(tmp_path):
    p = load_policies(write(tmp_path, """\
default:
  rules:
    - {check: disk, item: "C:*", open: {WARNING: 3, CRITICAL: 1}, after: 3, recover_after: 4}
    - {check: ping, open: none}
""")).default
    rule = p.rule_for("disk", "C:\\")
    assert rule.level_for(Status.WARNING) == 3 and rule.after == 3 and rule.recover_after == 4
    assert p.rule_for("disk", "/").level_for(Status.WARNING) is None
    assert p.rule_for("ping", "gw").level_for(Status.CRITICAL) is None


def test_one_off_and_recurring_maintenance_cover_their_hosts_when_in_window(tmp_path):
    p = load_policies(write(tmp_path, """\
default:
  business_hours: {timezone: Asia/Shanghai}
  maintenance:
    - {hosts: [his-db-01], start: "2026-11-28T22:00:00", end: "2026-11-29T02:00:00", reason: upgrade}
    - {hosts: ["pacs-*"], cron: "0 2 * * 0", duration: 2h}
""")).default
    assert p.in_maintenance("his-db-01", sh(2026, 11, 28, 23, 0))
    assert not p.in_maintenance("his-db-01", sh(2026, 11, 29, 2, 0))
    assert not p.in_maintenance("lis-01", sh(2026, 11, 28, 23, 0))
    assert p.in_maintenance("pacs-01", sh(2026, 11, 29, 3, 59))  # a Sunday, 02:00 + 2 h
    assert not p.in_maintenance("pacs-01", sh(2026, 11, 29, 4, 0))
    assert not p.in_maintenance("pacs-01", sh(2026, 11, 30, 3, 0))  # Monday


def test_policy_crons_read_days_as_crontab_does_when_day_and_weekday_are_both_given(tmp_path):
    # One crontab reader (checks/_cron.py) for windows and record schedules: weekday 1-5 is
    # Monday-Friday, and "1 * 0" is the 1st of the month OR a Sunday (crontab(5)), not AND.
    p = load_policies(write(tmp_path, """\
default:
  business_hours: {timezone: Asia/Shanghai}
  maintenance:
    - {hosts: ["pacs-*"], cron: "0 2 1 * 0", duration: 1h}
    - {hosts: ["lis-*"], cron: "0 22 * * 1-5", duration: 1h}
  records:
    schedule: {weekly: "0 8 1 * 1", daily: "@daily"}
""")).default
    assert p.in_maintenance("pacs-01", sh(2026, 11, 29, 2, 30))  # Sunday the 29th
    assert not p.in_maintenance("pacs-01", sh(2026, 11, 30, 2, 30))  # Monday the 30th
    assert p.in_maintenance("pacs-01", sh(2026, 12, 1, 2, 30))  # Tuesday the 1st
    assert p.in_maintenance("lis-01", sh(2026, 11, 30, 22, 30))  # Monday
    assert not p.in_maintenance("lis-01", sh(2026, 11, 28, 22, 30))  # Saturday
    weekly = p.records.trigger("weekly", SH)
    assert weekly is not None
    assert weekly.next(sh(2026, 11, 28, 9, 0)) == sh(2026, 11, 30, 8, 0)  # Saturday → Monday
    assert weekly.next(sh(2026, 11, 30, 9, 0)) == sh(2026, 12, 1, 8, 0)  # Monday → the 1st
    daily = p.records.trigger("daily", SH)
    assert daily is not None and daily.next(sh(2026, 11, 28, 9, 0)) == sh(2026, 11, 29, 0, 0)


def test_every_fault_is_reported_at_once_when_the_file_is_wrong(tmp_path):
    path = write(tmp_path, """\
default:
  levels: [{name: only one, response: 2h, resolve: 1h}]
  business_hours: {timezone: Mars/Olympus, hours: "17:30-08:30"}
  holidays: missing.yaml
  colour: blue
sites:
  h1:
    rules: [{check: disk, open: {CRITICAL: 7}, after: 0}]
    maintenance: [{start: tomorrow}]
""")
    with pytest.raises(ConfigError) as err:
        load_policies(path)
    text = "\n".join(err.value.problems)
    for expected in ("default.levels: expected a list of 3 or 4 levels", "default.business_hours.timezone",
                     "default.business_hours.hours", "missing.yaml", "default.colour: unknown key",
                     "sites.h1.rules[0].open.CRITICAL: expected an integer 1-3",
                     "sites.h1.rules[0].after", "sites.h1.maintenance[0]"):
        assert expected in text
    assert all(p.startswith(str(path)) or "missing.yaml" in p for p in err.value.problems)


def test_durations_parse_when_compound():
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("3d") == timedelta(days=3)
    with pytest.raises(ValueError):
        parse_duration("5 minutes")


def test_example_policy_file_loads_when_shipped():
    example = Path(__file__).resolve().parents[2] / "deploy" / "policies.example.yaml"
    policies = load_policies(example)
    assert policies.sites, "the example should show at least one site"


def test_policy_check_prints_a_summary_when_the_file_is_good(tmp_path):
    from tests.collector.test_cli import cli

    example = Path(__file__).resolve().parents[2] / "deploy" / "policies.example.yaml"
    out = cli("policy", "check", str(example))
    assert out.returncode == 0, out.stderr
    assert "central-hospital" in out.stdout and "key customer" in out.stdout
    assert "level 1 paralysis: respond 1h, resolve 4h (24x7)" in out.stdout


def test_policy_check_says_which_rules_are_the_files_and_which_built_in_each_once_when_summarised(tmp_path,
                                                                                                monkeypatch):
    from collector.policy import describe_policies

    example = Path(__file__).resolve().parents[2] / "deploy" / "policies.example.yaml"
    lines = describe_policies(load_policies(example)).splitlines()
    start = lines.index("  rules from the file (first match wins): 7")
    names = [line.split(": ")[0].strip() for line in lines[start:start + 15]]
    assert names == ["rules from the file (first match wins)", "rule disk C:*", "rule ping *", "rule certificate *",
                     "rule restore_drill *", "rule antivirus *", "rule accounts empty_password",
                     "rule db_accounts */empty_password", "built-in default rules (after the file's)",
                     "rule backup_files *", "rule db_backup *", "rule offsite_copy *", "rule agent spool", "rule * *",
                     "built-in rules never reached (a rule of the file matches their checks and items first)"]
    assert lines[start + 14].endswith(": restore_drill *, accounts empty_password, db_accounts */empty_password, "
                                      "antivirus *")
    catch_all = write(tmp_path, "default:\n  rules: [{check: '*', open: {CRITICAL: 1}}]\n")
    monkeypatch.setenv("WARDROUND_LANG", "zh_CN")
    zh = describe_policies(load_policies(catch_all)).splitlines()
    assert zh[5:9] == ["  文件中的规则（按顺序先匹配者生效）：1 条",
                       "    规则 * *：开单 严重→1；连续 2 次异常后开单，连续 2 次正常后恢复，"
                       "最近 10 次结果内变化 5 次视为抖动",
                       "  内置默认规则（在文件中的规则之后）：0 条",
                       "    不会生效的内置规则（文件中的规则先匹配了它们的检查和项目）：backup_files *, db_backup *, "
                       "offsite_copy *, restore_drill *, accounts empty_password, db_accounts */empty_password, "
                       "antivirus *, agent spool, * *"]


def test_policy_check_and_serve_exit_2_listing_faults_when_the_file_is_bad(tmp_path):
    from tests.collector.test_cli import cli

    bad = write(tmp_path, "default:\n  key_factor: 3\n  reopen_window: soon\n")
    out = cli("policy", "check", str(bad))
    assert out.returncode == 2 and out.stdout == ""
    assert "default.key_factor" in out.stderr and "default.reopen_window" in out.stderr
    assert "Traceback" not in out.stderr
    config = write(tmp_path, f"policy_file: {bad.name}\ndb: sqlite:///{tmp_path}/c.db\n", "collector.yaml")
    served = cli("serve", "--config", str(config), "--port", "1", timeout=60)
    assert served.returncode == 2 and "default.key_factor" in served.stderr
    assert not (tmp_path / "c.db").exists()  # nothing half-started


def test_config_file_names_the_policy_file_relative_to_itself_when_given(tmp_path):
    from collector.config import load_settings

    config = write(tmp_path, "policy_file: policies.yaml\nsweep_seconds: 10\n", "collector.yaml")
    settings = load_settings(config)
    assert settings.policy_file == str(tmp_path.resolve() / "policies.yaml") and settings.sweep_seconds == 10
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, "policy_file: 3\nsweep_seconds: -1\n", "bad.yaml"))
    assert len(err.value.problems) == 2


WORKING_DAYS = """\
default:
  business_hours: {timezone: Asia/Shanghai, days: [mon, tue, wed, thu, fri], hours: "08:00-12:00,13:30-17:30"}
  holidays: holidays-cn.yaml
  levels:
    - {name: system down, response: 2h, resolve: 1d, clock: 24x7}
    - {name: general fault, response: 2h, resolve: 1 working day}
    - {name: minor, response: 9h, resolve: 3wd}
  onsite: {due: 2 working days}
sites:
  key-hospital: {key_customer: true, key_factor: 0.5}
  zh-written:
    levels:
      - {name: 一级, response: 2h, resolve: 8h, clock: 24x7}
      - {name: 二级, response: 2h, resolve: 24h}
      - {name: 三级, response: 27h, resolve: 3个工作日}
"""


@pytest.fixture
def working_days(tmp_path):
    write(tmp_path, HOLIDAYS_2026, "holidays-cn.yaml")
    return load_policies(write(tmp_path, WORKING_DAYS))


def test_working_days_end_with_business_on_the_nth_working_day_after_opening_when_written_wd(working_days):
    # Monday 10:00: Tuesday, Wednesday, Thursday; due when business stops on Thursday (after the lunch span).
    assert working_days.default.deadlines(3, sh(2026, 11, 23, 10, 0))[1] == sh(2026, 11, 26, 17, 30)
    # The day the clock starts is never counted (Civil Code art. 201), even before business hours.
    assert working_days.default.deadlines(3, sh(2026, 11, 23, 7, 0))[1] == sh(2026, 11, 26, 17, 30)
    # Saturday: Monday, Tuesday, Wednesday.
    assert working_days.default.deadlines(3, sh(2026, 11, 28, 11, 0))[1] == sh(2026, 12, 2, 17, 30)
    # Wednesday 30 September: 1-7 October are holidays; Thursday 8, Friday 9, make-up Saturday 10.
    assert working_days.default.deadlines(3, sh(2026, 9, 30, 17, 0))[1] == sh(2026, 10, 10, 17, 30)
    assert working_days.default.deadlines(2, sh(2026, 11, 27, 16, 0))[1] == sh(2026, 11, 30, 17, 30)
    assert working_days.for_site("zh-written").deadlines(3, sh(2026, 11, 23, 10, 0))[1] == sh(2026, 11, 26, 17, 30)
    assert working_days.default.onsite_deadline(sh(2026, 11, 23, 10, 0)) == sh(2026, 11, 25, 17, 30)


def test_hours_stay_hours_on_the_business_clock_and_days_stay_24h_on_24x7_when_written(working_days):
    opened = sh(2026, 11, 27, 16, 0)  # Friday
    assert working_days.default.deadlines(1, opened)[1] == opened + timedelta(hours=24)
    assert working_days.default.deadlines(3, opened)[0] == sh(2026, 11, 30, 17, 0)  # 1.5 h + 4 h + 3.5 h


def test_key_customer_working_days_scale_and_round_up_when_factor_is_half(working_days):
    # 3wd x 0.5 = 1.5: two working days, never half of one.
    assert working_days.for_site("key-hospital").deadlines(3, sh(2026, 11, 23, 10, 0))[1] == \
        sh(2026, 11, 25, 17, 30)


def test_days_on_a_business_clock_are_refused_with_file_key_and_the_choices_when_loaded(tmp_path):
    path = write(tmp_path, """\
default:
  levels:
    - {name: system down, response: 2h, resolve: 3wd, clock: 24x7}
    - {name: general fault, response: 2h, resolve: 3d}
    - {name: minor, response: 9h, resolve: "2"}
  onsite: {due: 1d, clock: business}
  agent_silent: {grace: 1wd}
""")
    with pytest.raises(ConfigError) as err:
        load_policies(path)
    problems = err.value.problems
    text = "\n".join(problems)
    assert f"{path}: default.levels[1].resolve: '3d' is ambiguous on a business clock: write working days " \
           "such as 3wd" in text and "72h" in text
    assert f"{path}: default.levels[0].resolve: '3wd': working days need a business clock" in text
    assert f"{path}: default.levels[2].resolve: expected a duration like" in text and "with its unit" in text
    assert f"{path}: default.onsite.due: '1d' is ambiguous on a business clock" in text
    assert f"{path}: default.agent_silent.grace: '1wd': working days need a business clock" in text
    assert len(problems) == 5


def test_policy_check_prints_terms_as_written_when_the_file_is_good(tmp_path):
    from tests.collector.test_cli import cli

    write(tmp_path, HOLIDAYS_2026, "holidays-cn.yaml")
    out = cli("policy", "check", str(write(tmp_path, WORKING_DAYS)))
    assert out.returncode == 0, out.stderr
    assert "level 3 minor: respond 9h, resolve 3wd (business hours)" in out.stdout
    assert "level 3 三级: respond 27h, resolve 3个工作日 (business hours)" in out.stdout
    assert "1d3h" not in out.stdout


def test_level_names_are_given_per_language_or_as_one_string_and_default_in_both(tmp_path):
    p = load_policies(write(tmp_path, """\
default:
  levels:
    - {name: {zh_CN: 系统瘫痪, en: system down}, response: 1h, resolve: 4h, clock: 24x7}
    - {name: 一般故障, response: 2h, resolve: 18h}
    - {name: {en: minor}, response: 9h, resolve: 27h}
""")).default
    one, two, three = p.levels
    assert (one.name, one.name_in("zh_CN"), one.name_in("en")) == ("system down", "系统瘫痪", "system down")
    assert (two.name_in("zh_CN"), two.name_in("en")) == ("一般故障", "一般故障")  # a plain string: every language
    assert three.name_in("zh_CN") == "minor" and three.says("minor") and not three.says("一般故障")
    defaults = default_policies().default.levels
    assert [lv.name_in("zh_CN") for lv in defaults] == ["系统瘫痪", "一般故障", "轻微故障"]
    assert [lv.name_in("en") for lv in defaults] == ["system down", "general fault", "minor"]


def test_a_level_name_in_an_unknown_language_or_empty_is_refused_naming_the_key(tmp_path):
    path = write(tmp_path, """\
default:
  levels:
    - {name: {fr: panne, zh_CN: ""}, response: 1h, resolve: 4h}
    - {name: {}, response: 2h, resolve: 18h}
    - {name: 7, response: 9h, resolve: 27h}
""")
    with pytest.raises(ConfigError) as err:
        load_policies(path)
    text = "\n".join(err.value.problems)
    for expected in ("default.levels[0].name.fr: unknown language", "default.levels[0].name.zh_CN: expected a name",
                     "default.levels[1].name: expected a name in zh_CN and/or en",
                     "default.levels[2].name: expected a name such as"):
        assert expected in text


def test_unreadable_files_name_what_they_are_when_settings_policy_and_calendar_share_one_reader(tmp_path):
    """config.read_yaml_file reads the settings, the policy file and the holiday calendar: each message
    names its file as before (the settings file by path alone)."""
    from collector.config import load_settings

    with pytest.raises(ConfigError) as err:
        load_policies(tmp_path / "gone.yaml")
    assert err.value.problems == [f"{tmp_path / 'gone.yaml'}: cannot read the policy file: No such file or directory"]
    f = write(tmp_path, "default:\n  holidays: gone-cn.yaml\n")
    with pytest.raises(ConfigError) as err:
        load_policies(f)
    gone = (tmp_path / "gone-cn.yaml").resolve()
    assert err.value.problems == [f"{gone}: cannot read the holiday calendar: No such file or directory"]
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path / "gone.yaml")
    assert err.value.problems == [f"{tmp_path / 'gone.yaml'}: cannot read: No such file or directory"]
    bad = write(tmp_path, "default: [\n", "bad.yaml")
    with pytest.raises(ConfigError, match=r"bad.yaml: not valid YAML \(line 2\)"):
        load_policies(bad)


def test_a_calendar_without_working_time_is_said_in_the_readers_language(monkeypatch):
    # a run-time error (every day of three years a holiday): it was English for a Chinese reader too
    start = datetime(2026, 12, 7, tzinfo=UTC)
    every_day = frozenset(start.date() + timedelta(days=k) for k in range(MAX_CALENDAR_DAYS + 2))
    base = default_policies().default.calendar
    calendar = Calendar(zone=base.zone, days=base.days, spans=base.spans, holidays=every_day)
    for deadline in (lambda: calendar.add(start, timedelta(hours=4)), lambda: calendar.after_working_days(start, 2)):
        with pytest.raises(ValueError) as caught:
            deadline()
        english = "the business calendar has no working time in the next three years"
        assert str(caught.value) == english
        monkeypatch.setenv("WARDROUND_LANG", "zh_CN")
        assert tell_error(caught.value) == "工作日历在未来三年内没有任何工作时间"
        monkeypatch.setenv("WARDROUND_LANG", "en")
        assert tell_error(caught.value) == english
