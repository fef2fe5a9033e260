"""The built-in policy: three levels, the Asia/Shanghai business week and the default rules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import time, timedelta
from zoneinfo import ZoneInfo

from checks.result import Status
from collector.policy.model import OPEN_AT_FIRST, Calendar, Level, Policies, Rule, SitePolicy
from collector.terms import Term

DEFAULT_LEVELS: tuple[Level, ...] = (
    Level(1, "system down", Term("2h", timedelta(hours=2)), Term("8h", timedelta(hours=8)), True,
          {"zh_CN": "系统瘫痪", "en": "system down"}),
    Level(2, "general fault", Term("2h", timedelta(hours=2)), Term("18h", timedelta(hours=18)), False,
          {"zh_CN": "一般故障", "en": "general fault"}),
    Level(3, "minor", Term("9h", timedelta(hours=9)), Term("27h", timedelta(hours=27)), False,
          {"zh_CN": "轻微故障", "en": "minor"}),
)


def level_name(stored: str, severity: int, lang: str, levels: Sequence[Level] = DEFAULT_LEVELS) -> str:
    """A ticket's level name (as stored) for a reader of ``lang``: the policy's name in that language
    when ``stored`` is one of the level's names, else as stored (a name the policy no longer has)."""
    for lv in levels:
        if lv.number == severity and lv.says(stored):
            return lv.name_in(lang)
    return stored
DEFAULT_CALENDAR = Calendar(zone=ZoneInfo("Asia/Shanghai"), days=frozenset(range(5)),
                            spans=((time(8, 30), time(17, 30)),))


def default_rules(n_levels: int) -> tuple[Rule, ...]:
    """The built-in mapping for a scheme of ``n_levels`` levels (after any site rules).

    * backup checks and the restore drill: CRITICAL (failed or missing backup,
      a drill whose restore or probe failed) opens at level 2, the second most
      severe; UNKNOWN (the backup could not be verified, the drill could not
      run) at the least severe level; after 1 bad result;
    * a login with an empty password (``accounts`` item ``empty_password``,
      ``db_accounts`` items ``*/empty_password``): CRITICAL at level 2 after 1;
    * the agent's report about its own spool (``agent``/``spool``): CRITICAL
      (the spool was corrupt, results may be lost) opens at the second least
      severe level after 1 result: it reports an event, not a reading that a
      second result would confirm;
    * ``antivirus``: WARNING (signatures older than ``max_signature_age``,
      real-time protection off) at the least severe level, CRITICAL (disabled,
      no usable signatures) at the second least severe, after 2;
    * every other check: CRITICAL opens at the second least severe level
      (2 of 3, 3 of 4) after 2 consecutive bad results; WARNING and UNKNOWN
      open nothing (they show on the inspection record).
    """
    critical, unknown, warning = int(Status.CRITICAL), int(Status.UNKNOWN), int(Status.WARNING)
    backup = {critical: 2, unknown: n_levels}
    rules = [Rule(check=c, open=backup, after=1) for c in sorted(OPEN_AT_FIRST)]
    rules += [Rule(check="accounts", item="empty_password", open={critical: 2}, after=1),
              Rule(check="db_accounts", item="*/empty_password", open={critical: 2}, after=1),
              Rule(check="antivirus", open={warning: n_levels, critical: max(n_levels - 1, 1)}, after=2),
              Rule(check="agent", item="spool", open={critical: max(n_levels - 1, 1)}, after=1)]
    rules.append(Rule(check="*", open={critical: max(n_levels - 1, 1)}, after=2))
    return tuple(rules)


def default_policy() -> SitePolicy:
    return SitePolicy(levels=DEFAULT_LEVELS, calendar=DEFAULT_CALENDAR, rules=default_rules(3))


def default_policies() -> Policies:
    return Policies(default=default_policy())

