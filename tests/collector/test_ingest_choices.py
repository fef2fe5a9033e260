"""The ingest's per-batch choices made in C pick what the former Python loops picked: the items the ticket
rules look at (``relevant_groups``) and each item's latest state (``newest_by_item``)."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from checks.result import Status
from collector.policy import Rule, SitePolicy
from collector.policy.defaults import DEFAULT_CALENDAR, DEFAULT_LEVELS, default_policy, default_rules
from collector.store.queries import newest_by_item
from collector.tickets.rules import relevant_groups

CHECKS = ("backup", "disk", "antivirus", "accounts", "agent", "cpu", "db_accounts")
ITEMS = ("/", "/data", "spool", "empty_password", "app/empty_password", "total")


def former(policy: SitePolicy, rows: Sequence[Mapping[str, Any]], held: Callable[[tuple[str, str]], bool]
           ) -> tuple[dict[tuple[str, str], Rule], dict[tuple[str, str], list[Mapping[str, Any]]]]:
    """The grouping ``on_results`` did before (main ``ba97aec``), as the reference."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    rules: dict[tuple[str, str], Rule] = {}
    relevant: set[tuple[str, str]] = set()
    for r in rows:
        key = (r["check"], r["item"])
        rule = rules.get(key)
        if rule is None:
            found_rule = policy.rule_for(*key)
            if found_rule is None:
                continue
            rule = rules[key] = found_rule
        groups.setdefault(key, []).append(r)
        if r["status"] in rule.open:
            relevant.add(key)
    relevant |= {k for k in groups if held(k)}
    return rules, {k: groups[k] for k in sorted(relevant)}


def test_relevant_groups_match_the_former_grouping_on_random_batches() -> None:
    rnd = random.Random(16)
    without_catch_all = SitePolicy(levels=DEFAULT_LEVELS, calendar=DEFAULT_CALENDAR, rules=default_rules(3)[:-1])
    statuses = [int(s) for s in Status]
    seen_empty = seen_groups = 0
    for round_ in range(400):
        policy = default_policy() if round_ % 2 else without_catch_all
        bad_share = rnd.choice((0.0, 0.0, 0.02, 0.3))
        rows = [{"check": rnd.choice(CHECKS), "item": rnd.choice(ITEMS), "uid": i,
                 "status": rnd.choice(statuses) if rnd.random() < bad_share else int(Status.OK)}
                for i in range(rnd.randrange(0, 60))]
        kept = {(rnd.choice(CHECKS), rnd.choice(ITEMS)) for _ in range(rnd.randrange(0, 4))}
        rules, groups = relevant_groups(policy, rows, kept.__contains__)
        old_rules, old_groups = former(policy, rows, kept.__contains__)
        assert list(groups) == list(old_groups)  # same items, in the same (sorted) order
        assert all(groups[k] == old_groups[k] for k in groups)  # the same rows, in the batch's order
        assert {k: rules[k] for k in groups} == {k: old_rules[k] for k in old_groups}
        seen_empty += not groups
        seen_groups += bool(groups)
    assert seen_empty > 50 and seen_groups > 50  # both paths taken


def former_newest(rows: list[dict[str, Any]]) -> dict[tuple[str, ...], dict[str, Any]]:
    """``upsert_latest``'s choice of each item's row before (main ``ba97aec``), as the reference."""
    newest: dict[tuple[str, ...], dict[str, Any]] = {}
    for row in rows:
        key = (row["site"], row["host"], row["check"], row["item"])
        held = newest.get(key)
        if held is None or row["started_at"] > held["started_at"]:
            newest[key] = row
    return newest


def test_the_latest_states_row_of_each_item_is_the_former_choice_on_random_batches() -> None:
    rnd = random.Random(36)
    start = datetime(2026, 12, 5, 8, tzinfo=UTC)
    for _ in range(400):  # few start times: many ties, which keep the first row of the batch
        rows = [{"site": "s", "host": rnd.choice("ab"), "check": rnd.choice(CHECKS[:3]), "item": rnd.choice(ITEMS[:2]),
                 "uid": i, "started_at": start + timedelta(minutes=rnd.randrange(4))}
                for i in range(rnd.randrange(0, 40))]
        newest = newest_by_item(rows)
        assert {k: r["uid"] for k, r in newest.items()} == {k: r["uid"] for k, r in former_newest(rows).items()}
