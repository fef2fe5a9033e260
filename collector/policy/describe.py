"""The plain-text summary ``wardround-collector policy check`` prints, in the reader's language
(``cli.policy.*`` texts, :func:`checks.messages.reader.tell`); names, durations and zones as written."""

from __future__ import annotations

from checks._units import format_duration
from checks.messages.reader import tell
from checks.result import Status
from collector.policy.defaults import default_rules
from collector.policy.model import COMPLAINT_SCORE, WEEKDAYS, Policies, Rule, SitePolicy


def _hours(always: bool) -> str:
    return tell("cli.policy.always") if always else tell("cli.policy.business_hours")


def _rule(r: Rule) -> str:
    opens = ", ".join(f"{tell(f'status.{Status(s).name.lower()}')}→{lv}" for s, lv in sorted(r.open.items()))
    return tell("cli.policy.rule", check=r.check, item=r.item, opens=opens or tell("cli.policy.nothing"),
                after=r.after, recover=r.recover_after, changes=r.flap_changes, window=r.flap_window)


def _rules(p: SitePolicy) -> list[str]:
    """The file's rules, then the built-in ones after them (loader.py appends them), each said once: a
    built-in rule whose check and item one of the file's matches never applies, so it is named, not listed."""
    built = default_rules(len(p.levels))
    if p.rules[-len(built):] != built:  # not as the loader makes them: every rule as it is
        built = ()
    written = p.rules[:len(p.rules) - len(built)]
    shadowed = [b for b in built if any(r.matches(b.check, b.item) for r in written)]
    kept = [b for b in built if b not in shadowed]
    lines = ["  " + tell("cli.policy.file_rules", count=len(written)), *("    " + _rule(r) for r in written),
             "  " + tell("cli.policy.builtin_rules", count=len(kept)), *("    " + _rule(r) for r in kept)]
    if shadowed:
        lines.append("    " + tell("cli.policy.builtin_replaced", rules=", ".join(f"{b.check} {b.item}"
                                                                                for b in shadowed)))
    return lines


def _describe(name: str, p: SitePolicy) -> list[str]:
    cal = p.calendar
    days = ",".join(WEEKDAYS[d] for d in sorted(cal.days))
    hours = ",".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in cal.spans)
    where = {"name": name, "levels": len(p.levels), "days": days, "hours": hours, "zone": cal.zone.key,
             "holidays": len(cal.holidays), "workdays": len(cal.workdays)}
    lines = [tell("cli.policy.site_key", factor=f"{p.key_factor:g}", **where) if p.key_customer
             else tell("cli.policy.site", **where)]
    for lv in p.levels:
        lines.append("  " + tell("cli.policy.level", number=lv.number, name=lv.name, response=str(lv.response),
                                 resolve=str(lv.resolve), hours=_hours(lv.always)))
    lines += _rules(p)
    silent = (tell("cli.policy.silent_after", grace=str(p.silent_grace), level=p.silent_level) if p.silent_grace
              else tell("cli.policy.off"))
    lines.append("  " + tell("cli.policy.agent_silent", silent=silent,
                             reopen=format_duration(p.reopen_window.total_seconds()),
                             escalate=tell("cli.policy.yes") if p.escalate_on_breach else tell("cli.policy.no"),
                             maintenance=len(p.maintenance)))
    f = p.followup
    follow = (tell("cli.policy.off") if f.tickets == "off" else
              tell("cli.policy.followup", tickets=f.tickets, within=str(f.within), hours=_hours(f.always),
                   score=COMPLAINT_SCORE, level=p.complaint_level,
                   manager=f.account_manager or tell("cli.policy.nobody", key="followup.account_manager")))
    lines.append("  " + tell("cli.policy.drills", drills=str(p.drill_every or "") or tell("cli.policy.none"),
                             follow=follow))
    return lines


def describe_policies(policies: Policies) -> str:
    """A plain-text summary of each policy (``wardround-collector policy check``)."""
    lines = [tell("cli.policy.ok", source=policies.source)]
    for name, p in [(tell("cli.policy.default"), policies.default), *sorted(policies.sites.items())]:
        lines += _describe(name, p)
    return "\n".join(lines)
