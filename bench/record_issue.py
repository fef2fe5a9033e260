#!/usr/bin/env python3
"""How long a daily inspection record for 1,000 hosts x 30 items takes to issue and render.

In-process, on a temp SQLite file (and PostgreSQL with ``--pg-url``): the
database is filled through the store layer (``collector.store.queries``:
results, latest, hosts; ``collector.store.tickets``: tickets) with one day
of patrols — ``--per-day`` results per item (default 4: every 6 hours), 2 %
of items WARNING and 1 % CRITICAL, one ``db_backup`` item per host with age
and size metrics — plus one result per item the day before (the look-back
the gap search reads), 50 tickets, and 10 hosts silent all day (gaps).

Then, with the collector's real :class:`collector.records.service.Records`:

* ``issue``: build the content (the SQL reads and the rows), canonical JSON,
  SHA-256, INSERT, the collector key's signature and the audit entry — what
  ``POST /api/v1/records`` does (``--rounds`` times, a new record each time);
* ``read``: load the stored record and verify its digest and signature;
* ``html``, ``csv``, ``pdf``: the renderings of the stored record (``pdf``:
  ``render.pdf``, the HTML page printed by ``collector.records.printer``);
* ``pdf_weasyprint``: the same HTML printed by WeasyPrint, the PDF path before
  issue 16 (``--weasyprint-rounds``, default 1; skipped when WeasyPrint is not
  installed), so the two are measured in the same run on the same record.  It
  runs after all the rounds: WeasyPrint leaves gigabytes of heap behind at
  1,000 hosts, which slows whatever runs after it in the process;
* ``pdf_rss_mb`` (``--memory``): how much the resident memory of a process
  grows while it prints the PDF once more, per path (printed in a forked
  child: its peak RSS, VmHWM, minus its RSS before printing).
* ``signing_us``: what keyed integrity adds, alone (microseconds, median of
  many): the Ed25519 signature of the record's fields, its check, and one
  audit-log append (lock, head, hash, signature, INSERT) in a transaction.

With ``--hygiene`` every host also reports the security hygiene checks
(``patches``, ``antivirus``, ``accounts``, ``db_accounts``: 10 items, on the
day and the day before) and every 20th host a weekly ``restore_drill`` for
the year before the day (52 results with details), so the record carries the
hygiene and drill sections; the figures go to ``record_issue_hygiene.json``.

Reports the median and each run; writes ``bench/results/record_issue.json``.

Usage::

    .venv/bin/python bench/record_issue.py                    # 1000 hosts x 30 items, 3 rounds
    .venv/bin/python bench/record_issue.py --hosts 50 --rounds 3 --weasyprint-rounds 3 --memory
    .venv/bin/python bench/record_issue.py --hygiene --pdf-rounds 0         # + hygiene and drill sections
    .venv/bin/python bench/record_issue.py --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/x
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _harness as h  # noqa: E402
import orjson  # noqa: E402

from collector import audit  # noqa: E402
from collector.dates import credible_until  # noqa: E402
from collector.keys import Keyring, create_key  # noqa: E402
from collector.records import integrity, render  # noqa: E402
from collector.records.service import Records  # noqa: E402
from collector.store import queries  # noqa: E402
from collector.store import tickets as ticket_store  # noqa: E402
from collector.store.db import make_engine, writing  # noqa: E402
from collector.store.migrate import upgrade  # noqa: E402
from collector.store.tables import records as records_table  # noqa: E402

SITE = "bench-hospital"
ZONE = ZoneInfo("Asia/Shanghai")
DAY = datetime(2026, 11, 22, tzinfo=ZONE)
CHECKS = ("disk", "system", "service", "process", "port", "certificate", "logscan", "clock", "ping", "http")


def _item(i: int) -> tuple[str, str, str, list[dict[str, Any]]]:
    """The i-th of a host's 30 items: (check, item, standard, metrics); item 0 is the db backup."""
    if i == 0:
        return ("db_backup", "HIS/full", "full backup < 26 h old",
                [{"name": "age_seconds", "value": 7200.0, "unit": "s", "crit": 93600},
                 {"name": "size_bytes", "value": 3.2e9, "unit": "B"}])
    check = CHECKS[i % len(CHECKS)]
    return (check, f"item-{i:02d}", "used < 80 %",
            [{"name": "used_percent", "value": 40.0 + i, "unit": "%", "warn": 80, "crit": 90},
             {"name": "free_bytes", "value": 5e10, "unit": "B"}])


_HYGIENE = (  # (check, item, status, metrics, details) as the checks report them
    ("patches", "security", 1, [("pending_security", 3, "count"), ("pending_updates", 11, "count"),
                                ("oldest_security_age_seconds", 40 * 86400.0, "s"), ("lists_age_seconds", 3600.0, "s")],
     {"manager": "apt", "age_note": "first seen"}),
    ("patches", "last_update", 0, [("since_update_seconds", 5 * 86400.0, "s")], {"last_update": "2026-11-17"}),
    ("patches", "reboot", 0, [("reboot_pending_seconds", 0.0, "s")], {}),
    ("antivirus", "clamav", 0, [("signature_age_seconds", 7200.0, "s")], {"product": "ClamAV"}),
    ("accounts", "empty_password", 0, [("accounts", 0, "count"), ("login_accounts", 3, "count")], {"accounts": []}),
    ("accounts", "administrators", 0, [("accounts", 0, "count")], {"accounts": []}),
    ("accounts", "password_never_expires", 1, [("accounts", 2, "count")], {"accounts": ["backup", "his"]}),
    ("db_accounts", "postgresql/trust", 0, [("accounts", 0, "count")], {"trust_lines": []}),
    ("db_accounts", "postgresql/no_password", 0, [("accounts", 0, "count")], {"accounts": []}),
    ("db_accounts", "mysql/empty_password", 2, [("accounts", 1, "count")], {"accounts": ["root@localhost"]}),
)


def _hygiene_rows(host: str, host_no: int) -> list[dict[str, Any]]:
    """A host's hygiene results on the day and the day before, and (every 20th host) a year of weekly drills."""
    def row(check: str, item: str, status: int, at: datetime, metrics: list[Any], details: dict[str, Any]
            ) -> dict[str, Any]:
        return {"uid": uuid.uuid4().hex, "site": SITE, "host": host, "check": check, "item": item, "status": status,
                "summary": f"{check} {item}", "standard": "", "started_at": at.astimezone(UTC),
                "received_at": at.astimezone(UTC), "duration_ms": 3.0,
                "metrics": orjson.dumps([{"name": n, "value": v, "unit": u} for n, v, u in metrics]).decode(),
                "details": orjson.dumps(details).decode()}

    days = (DAY - timedelta(hours=16, minutes=30), DAY + timedelta(hours=7, minutes=30))
    out = [row(c, i, st, day, m, d) for day in days for c, i, st, m, d in _HYGIENE]
    if host_no % 20 == 0:
        for week in range(52):
            at = DAY - timedelta(weeks=week, hours=-3)
            ok = week % 9 != 4
            out.append(row("restore_drill", "/backup/pg/his_*.dump", 0 if ok else 2, at,
                           [("duration_seconds", 95.0, "s"), ("restored_size_bytes", 7.5e9 if ok else None, "B")],
                           {"source_database": "his", "dropped": True}))
    return out


def fill(engine: Any, n_hosts: int, items: int, per_day: int, hygiene: bool = False) -> int:
    """Write the day's results; returns how many results were stored."""
    stored = 0
    step = timedelta(hours=24 / per_day)
    for host_no in range(n_hosts):
        host = f"host-{host_no:04d}"
        silent = host_no % 100 == 99  # 1 % of hosts report nothing on the day: gaps
        rows = []
        times = [DAY - timedelta(hours=3)] + ([] if silent else [DAY + step * k + timedelta(minutes=7)
                                                                 for k in range(per_day)])
        for i in range(items):
            check, item, standard, metrics = _item(i)
            status = 0
            if (host_no * items + i) % 100 == 1:
                status = 1
            elif (host_no * items + i) % 100 == 2:
                status = 2
            for at in times:
                rows.append({"uid": uuid.uuid4().hex, "site": SITE, "host": host, "check": check,
                             "item": item, "status": status, "summary": f"{check} {item} status {status}",
                             "standard": standard, "started_at": at.astimezone(UTC),
                             "received_at": at.astimezone(UTC), "duration_ms": 3.0,
                             "metrics": orjson.dumps(metrics).decode(), "details": "{}"})
        if hygiene:
            rows += _hygiene_rows(host, host_no)
        with writing(engine) as conn:
            queries.store_new_results(conn, rows)
            queries.upsert_latest(conn, rows, credible_until=credible_until(datetime.now(UTC)))
            queries.touch_host(conn, site=SITE, host=host, seen=max(r["started_at"] for r in rows),
                               clock_offset_s=0.0, spool_backlog=0, agent_version="bench")
        stored += len(rows)
    with writing(engine) as conn:
        for k in range(50):
            opened = (DAY + timedelta(minutes=25 * k)).astimezone(UTC)
            ticket_store.insert_ticket(conn, {
                "site": SITE, "host": f"host-{k:04d}", "check": "disk", "item": f"t{k}", "severity": 2,
                "initial_severity": 2, "level_name": "general fault", "priority": 0,
                "state": "resolved" if k % 2 else "open", "summary": f"fault {k}",
                "reported_via": "monitoring",
                "reported_by": "system", "opened_at": opened, "response_due": opened + timedelta(hours=2),
                "resolve_due": opened + timedelta(hours=8),
                "acknowledged_at": opened + timedelta(hours=1 + k % 3) if k % 2 else None,
                "resolved_at": opened + timedelta(hours=4 + k % 7) if k % 2 else None, "closed_at": None,
                "occurrences": 1, "last_result_id": None, "last_status": None, "last_seen_at": None,
                "flapping": False, "response_breached": False, "resolve_breached": False, "reopened_count": 0,
                "onsite_requested_at": None, "onsite_due": None, "onsite_breached": False,
                "updated_at": opened})
    return stored


def timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def weasyprint_pdf() -> Any:
    """The PDF path before issue 16: the record's HTML printed by WeasyPrint; None when not installed."""
    try:
        import weasyprint  # type: ignore[import-untyped]
    except (ImportError, OSError):
        return None
    return lambda rec: bytes(weasyprint.HTML(string=render.html(rec)).write_pdf())


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        return int(f.read().split(field + ":")[1].split()[0])


def rss_growth_mb(fn: Any) -> float:
    """How much a forked child's resident memory grows while it runs ``fn``: its peak RSS (VmHWM) minus
    its RSS before it started, MB."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: print, report, and leave without running the parent's cleanup
        try:
            start = _status_kb("VmRSS")
            fn()
            os.write(write, str(_status_kb("VmHWM") - start).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        grown_kb = f.read()
    os.waitpid(pid, 0)
    return round(int(grown_kb) * 1024 / 1e6, 1) if grown_kb else float("nan")


def micro(fn: Any, n: int) -> float:
    """Median microseconds of ``fn`` over ``n`` calls."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times) * 1e6, 1)


def signing_cost(engine: Any, keys: Keyring, record_id: int) -> dict[str, float]:
    """What keyed integrity adds to issuing and reading one record, measured alone."""
    with writing(engine) as conn:
        row = conn.execute(records_table.select().where(records_table.c.id == record_id)).first()
    fields = integrity.record_fields(row)
    payload = integrity.record_payload(fields, keys.key_id)
    detail = {"site": SITE, "kind": "daily", "digest": fields["digest"], "signature": fields["signature"]}

    def append() -> None:
        with writing(engine) as conn:
            audit.append(conn, keys, actor="bench", action="record.issue", target=f"record:{record_id}",
                         detail=detail)

    return {"sign": micro(lambda: integrity.sign_record(keys, fields), 500),
            "verify": micro(lambda: keys.public.verify(payload, fields["signature"]), 500),
            "audit_append_txn": micro(append, 100)}


def section_cost(engine: Any) -> dict[str, float]:
    """Median milliseconds of each hygiene/drill section builder alone (5 calls): the day's patrol
    sections and the annual report's counts over the year before the day."""
    from collector.policy import default_policy
    from collector.records.hygiene import annual_drills, annual_hygiene, drills_section, hygiene_section
    from collector.store import records as store
    from collector.store.db import reading

    start, end, year = DAY, DAY + timedelta(days=1), DAY - timedelta(days=364)
    policy = default_policy()
    with reading(engine) as conn:
        items = store.period_items(conn, SITE, start, end)
        calls = {"hygiene_section": lambda: hygiene_section(conn, SITE, items, start, end, "zh_CN"),
                 "drills_section": lambda: drills_section(conn, SITE, start, end, "zh_CN", policy),
                 "annual_hygiene": lambda: annual_hygiene(conn, SITE, year, end, "zh_CN"),
                 "annual_drills": lambda: annual_drills(conn, SITE, year, end, "zh_CN", policy, None)}
        return {name: round(micro(fn, 5) / 1000, 1) for name, fn in calls.items()}


def run(db_url: str, args: argparse.Namespace, keys: Keyring) -> dict[str, Any]:
    engine = make_engine(db_url)
    upgrade(engine)
    fill_s, stored = timed(lambda: fill(engine, args.hosts, args.items, args.per_day, args.hygiene))
    now = (DAY + timedelta(days=1, hours=8)).astimezone(UTC)
    records = Records(engine, clock=lambda: now, keys=keys)
    runs: dict[str, list[float]] = {k: [] for k in ("issue", "read", "html", "csv", "pdf", "pdf_weasyprint")}
    old_pdf = weasyprint_pdf() if args.weasyprint_rounds else None
    sizes: dict[str, int] = {}
    rows = 0
    for r in range(args.rounds):
        secs, rec = timed(lambda: records.issue(site=SITE, kind="daily", period="2026-11-22",
                                                language="zh_CN", actor="bench"))
        runs["issue"].append(secs)
        secs, rec = timed(lambda rid=rec.id: records.get(rid))
        assert rec.verified
        runs["read"].append(secs)
        rows = len(rec.content["rows"])
        sizes["sections"] = len(rec.content["sections"])
        secs, page = timed(lambda rec=rec: render.html(rec))
        runs["html"].append(secs)
        secs, sheet = timed(lambda rec=rec: render.csv_bytes(rec))
        runs["csv"].append(secs)
        if r < args.pdf_rounds:
            secs, pdf = timed(lambda rec=rec: render.pdf(rec))
            runs["pdf"].append(secs)
            sizes["pdf_bytes"] = len(pdf)
        sizes.update(content_bytes=len(orjson.dumps(rec.content)), html_bytes=len(page.encode()),
                     csv_bytes=len(sheet))
        done = ", ".join(f"{k} {v[-1]:.2f} s" for k, v in runs.items() if v)
        print(f"  round {r + 1}: {done}", flush=True)
    peaks = {}
    if args.memory:
        peaks["pdf"] = rss_growth_mb(lambda: render.pdf(rec))
        if old_pdf is not None:
            peaks["pdf_weasyprint"] = rss_growth_mb(lambda: old_pdf(rec))
        print(f"  RSS growth while printing the PDF, MB: {peaks}", flush=True)
    for r in range(args.weasyprint_rounds if old_pdf is not None else 0):  # last: see the docstring
        secs, pdf = timed(lambda rec=rec: old_pdf(rec))
        runs["pdf_weasyprint"].append(secs)
        sizes["pdf_weasyprint_bytes"] = len(pdf)
        print(f"  WeasyPrint {r + 1}: {secs:.2f} s", flush=True)
    signing = signing_cost(engine, keys, rec.id)
    print(f"  signing alone: {signing}", flush=True)
    sections = section_cost(engine) if args.hygiene else {}
    if sections:
        print(f"  hygiene and drill sections alone (ms): {sections}", flush=True)
    engine.dispose()
    return {"db": db_url.split(":")[0], "results_stored": stored, "fill_seconds": round(fill_s, 1),
            "rows": rows, "sizes": sizes, "signing_us": signing, "sections_ms": sections, "pdf_rss_mb": peaks,
            "median_seconds": {k: round(statistics.median(v), 3) for k, v in runs.items() if v},
            "pdf_rows_per_second": {k: round(rows / statistics.median(runs[k])) for k in ("pdf", "pdf_weasyprint")
                                    if runs[k]},
            "runs_seconds": {k: [round(x, 3) for x in v] for k, v in runs.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--items", type=int, default=30)
    ap.add_argument("--per-day", type=int, default=4, help="results per item in the day (default 4)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pdf-rounds", type=int, default=3, help="rounds that also render the PDF (default 3)")
    ap.add_argument("--weasyprint-rounds", type=int, default=1,
                    help="rounds that also print the PDF with WeasyPrint, the old path (default 1; slow: "
                         "about 100 rows/s)")
    ap.add_argument("--memory", action="store_true",
                    help="also measure how much memory printing one more PDF takes, per path (in a forked "
                         "child)")
    ap.add_argument("--pg-url", help="also run on this (empty) PostgreSQL database")
    ap.add_argument("--hygiene", action="store_true",
                    help="hosts also report the hygiene checks and weekly restore drills (the record's new sections)")
    args = ap.parse_args()
    out: dict[str, Any] = {"machine": h.machine_info(), "hosts": args.hosts, "items": args.items,
                           "per_day": args.per_day, "hygiene": args.hygiene, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        print(f"SQLite: {args.hosts} hosts x {args.items} items, {args.per_day} results/item/day", flush=True)
        keys = create_key(Path(tmp) / "bench.key")
        out["runs"].append(run(f"sqlite:///{Path(tmp) / 'bench.db'}", args, keys))
        if args.pg_url:
            print("PostgreSQL", flush=True)
            out["runs"].append(run(args.pg_url, args, keys))
    print(h.table(["db", "rows", "issue s", "read s", "html s", "csv s", "pdf s", "pdf rows/s", "pdf MB",
                   "WeasyPrint s", "WeasyPrint rows/s"],
                  [[r["db"], r["rows"], *(h.fmt(r["median_seconds"].get(k), ".2f")
                                          for k in ("issue", "read", "html", "csv", "pdf")),
                    h.fmt(r["pdf_rows_per_second"].get("pdf"), ",d"),
                    h.fmt(r["sizes"].get("pdf_bytes", 0) / 1e6, ".1f"),
                    h.fmt(r["median_seconds"].get("pdf_weasyprint"), ".1f"),
                    h.fmt(r["pdf_rows_per_second"].get("pdf_weasyprint"), ",d")] for r in out["runs"]]))
    name = "record_issue_hygiene.json" if args.hygiene else "record_issue.json"
    print(f"wrote {h.write_json(name, out)}")


if __name__ == "__main__":
    main()
