"""The plain-text summary ``wardround-collector policy check`` prints."""

from __future__ import annotations

from checks._units import format_duration
from checks.result import Status
from collector.policy.model import COMPLAINT_SCORE, WEEKDAYS, Policies


def describe_policies(policies: Policies) -> str:
    """A plain-text summary of each policy (``wardround-collector policy check``)."""
    lines = [f"{policies.source}: OK"]
    for name, p in [("default (sites not listed)", policies.default), *sorted(policies.sites.items())]:
        cal = p.calendar
        days = ",".join(WEEKDAYS[d] for d in sorted(cal.days))
        hours = ",".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in cal.spans)
        lines.append(f"{name}: {len(p.levels)} levels; business hours {days} {hours} {cal.zone.key}; "
                     f"{len(cal.holidays)} holiday(s), {len(cal.workdays)} make-up working day(s)"
                     + (f"; key customer (deadlines x{p.key_factor:g})" if p.key_customer else ""))
        for lv in p.levels:
            lines.append(f"  level {lv.number} {lv.name}: respond {lv.response}, resolve "
                         f"{lv.resolve} ({'24x7' if lv.always else 'business hours'})")
        for r in p.rules:
            opens = ", ".join(f"{Status(s).name}→{lv}" for s, lv in sorted(r.open.items())) or "nothing"
            lines.append(f"  rule {r.check} {r.item}: opens {opens}; after {r.after}, recovers after "
                         f"{r.recover_after}, flapping at {r.flap_changes} changes in {r.flap_window}")
        silent = f"after {p.silent_grace} at level {p.silent_level}" if p.silent_grace else "off"
        reopen = format_duration(p.reopen_window.total_seconds())
        lines.append(f"  agent silent: {silent}; reopen window {reopen}; "
                     f"escalate on breach: {'yes' if p.escalate_on_breach else 'no'}; "
                     f"{len(p.maintenance)} maintenance window(s)")
        f = p.followup
        follow = ("off" if f.tickets == "off" else
                  f"{f.tickets} tickets within {f.within} ({'24x7' if f.always else 'business hours'}); "
                  f"a satisfaction of {COMPLAINT_SCORE} or less opens a complaint at level {p.complaint_level}"
                  f" for {f.account_manager or 'nobody named (followup.account_manager)'}")
        lines.append(f"  restore drills promised: {p.drill_every or 'none'}; customer follow-up: {follow}")
    return "\n".join(lines)

