"""Ticket rule kinds are declared by their modules (collector/tickets/kinds.py): the registry finds
them, the sweep runs them in order, and docs/tickets.md's "Ticket rules" table says the same."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from collector.policy import default_policies
from collector.tickets import Tickets
from collector.tickets import sweep as sweep_module
from collector.tickets.kinds import RuleKind, SweepRun, kinds

DOCS = Path(__file__).resolve().parents[2] / "docs" / "tickets.md"


def test_every_kind_module_is_found_in_sweep_order_when_the_registry_is_read():
    found = kinds()
    assert [k.name for k in found] == ["results", "deadlines", "relay_silent", "agent_silent"]
    assert found[0].sweep is None and all(k.sweep is not None for k in found[1:])


def test_the_docs_table_holds_one_row_per_kind_as_declared_when_compared():
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Ticket rules", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if re.match(r"\| `[a-z_]+` \|", line)]
    assert rows == [f"| `{k.name}` | {k.opens} | {k.settings} | {k.doc} |" for k in kinds()]


def test_the_sweep_runs_each_sweep_kind_in_order_and_passes_what_earlier_ones_found(monkeypatch, engine):
    calls: list[str] = []

    def relay(ledger, now, run: SweepRun) -> None:
        calls.append("relay")
        run.hidden.add(("ward", "db-1"))

    def agent(ledger, now, run: SweepRun) -> None:
        calls.append(f"agent hidden={sorted(run.hidden)}")
        run.silent_opened += 2

    fake = (RuleKind("results", "-", "-", "-"), RuleKind("relay", "-", "-", "-", relay, 1),
            RuleKind("agent", "-", "-", "-", agent, 2))
    monkeypatch.setattr(sweep_module, "kinds", lambda: fake)
    report = Tickets(engine, default_policies()).sweep(datetime(2026, 12, 5, tzinfo=UTC))
    assert calls == ["relay", "agent hidden=[('ward', 'db-1')]"]
    assert (report.silent_opened, report.breaches) == (2, 0)
