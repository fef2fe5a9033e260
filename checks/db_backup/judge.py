"""The one verdict on a backup: age against its maximum, size against the median, verification."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from checks._params.db_backup import NAME
from checks.messages import Said, fit_summary, say
from checks.result import Message, Metric, Result, Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


@dataclass(frozen=True)
class Seen:
    """One backup as the catalog reports it."""

    finished: datetime | None  # as the server reports it (server-local for msdb, Oracle, MySQL)
    age_s: float
    size: float | None = None
    location: str = ""
    verified: bool | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    what: str          # "full backup", "full or differential backup", "log backup", ...
    max_age: float
    word: str = "missed"  # "missed" for scheduled backups, "stale" for continuous streams

    @property
    def standard(self) -> str:
        return say("db_backup.standard", what=self.what, max_age=self.max_age)


def judge_backup(item: str, label: str, rule: Rule, seen: Seen | None, *,
                 earlier_sizes: Iterable[float | None] = (), min_size_ratio: float = 0.5,
                 require_verified: bool = False, created_age_s: float | None = None,
                 details: Mapping[str, Any] | None = None,
                 extra: Iterable[tuple[Status, str, str]] = ()) -> Result:
    """The verdict on the newest backup of one kind: age, size, verification.

    ``extra`` adds findings judged elsewhere (a failed job) as (status, verdict, text); a text
    begins with ``label: `` (the summary names the label once).
    """
    info: dict[str, Any] = {"item": item, "type": rule.what, "rule": rule.standard}
    info.update(details or {})
    findings: list[tuple[Status, str, str]] = list(extra)
    metrics = [Metric("age_seconds", None if seen is None else round(seen.age_s, 1), "s",
                      crit=rule.max_age, min=0)]
    if seen is None and any(f[0] is Status.CRITICAL for f in findings):
        pass  # a failure already explains the missing backup
    elif seen is None:
        if created_age_s is not None and created_age_s < rule.max_age:
            findings.append((Status.OK, "new", say("db_backup.new_db", label=label, created=created_age_s,
                                                   what=rule.what, max_age=rule.max_age)))
        else:
            findings.append((Status.CRITICAL, "never backed up", say("db_backup.never", label=label, what=rule.what)))
    else:
        when = server_time(seen.finished)
        info.update({"finished": when, "age_seconds": round(seen.age_s)})
        if seen.size is not None:
            info["size_bytes"] = int(seen.size)
            metrics.append(Metric("size_bytes", float(seen.size), "B", min=0))
        if seen.location:
            info["location"] = seen.location
        info.update(seen.evidence)
        if seen.age_s >= rule.max_age:
            text = say("db_backup.missed" if rule.word == "missed" else "db_backup.stale", what=rule.what,
                       when=when, age=seen.age_s, max_age=rule.max_age)
            findings.append((Status.CRITICAL, rule.word, labelled(label, text)))
        sizes = [float(s) for s in earlier_sizes if s is not None and s > 0]
        if seen.size is not None and len(sizes) >= 3 and min_size_ratio > 0:
            median = statistics.median(sizes)
            info["median_size_bytes"] = int(median)
            if seen.size < min_size_ratio * median:
                text = say("db_backup.too_small", what=rule.what, when=when, size=seen.size,
                           ratio=round(min_size_ratio * 100), median=median, n=len(sizes))
                findings.append((Status.WARNING, "too small", labelled(label, text)))
        if require_verified and seen.verified is False:
            text = say("db_backup.unverified", what=rule.what, when=when)
            findings.append((Status.WARNING, "unverified", labelled(label, text)))
    bad = [f for f in findings if f[0] is not Status.OK]
    if bad:
        bad.sort(key=lambda f: -f[0].severity)
        status = Status.worst(f[0] for f in bad)
        summary = bad[0][2] if len(bad) == 1 else say("db_backup.labelled", label=label, text=say(
            "results.joined", parts=[unlabelled(f[2], label) for f in bad]))
        info["verdict"] = [f[1] for f in bad]
    elif findings:  # only the "new database" note
        status, summary = Status.OK, findings[0][2]
        info["verdict"] = ["new"]
    else:
        assert seen is not None
        status = Status.OK
        kind = seen.evidence.get("kind") or rule.what
        summary = say("db_backup.ok_size" if seen.size is not None else "db_backup.ok", label=label, kind=kind,
                      when=server_time(seen.finished), age=seen.age_s, max_age=rule.max_age, size=seen.size)
        info["verdict"] = ["ok"]
    return Result(check=NAME, item=item[:255], status=status, summary=fit_summary(summary), standard=rule.standard,
                  metrics=tuple(metrics), details=jsonable(info))


def unlabelled(text: str, label: str) -> str:
    """A finding's text without its ``label: `` (the joined summary names it once)."""
    message = getattr(text, "message", None)
    if message is not None and message.key == "db_backup.labelled":
        inner = message.args.get("text")
        return Said(text.removeprefix(f"{label}: "), inner) if isinstance(inner, Message) else text
    return text.removeprefix(f"{label}: ")


def labelled(label: str, text: str) -> str:
    """``label: text`` as a message (the label once in front of a finding)."""
    return say("db_backup.labelled", label=label, text=text)



def server_time(dt: datetime | None) -> str:
    if dt is None:
        return say("db_backup.unknown_time")
    if dt.tzinfo is not None:
        dt = dt.astimezone()
    return dt.strftime("%Y-%m-%d %H:%M")


def as_float(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, Decimal | int | float) and not isinstance(v, bool):
        return float(v)
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def as_bool(v: Any) -> bool:
    """Booleans as drivers return them: bool, 0/1, '0'/'1', 't'/'f'."""
    if isinstance(v, str):
        return v.strip().lower() in ("1", "t", "true", "y", "yes", "on")
    return bool(v)


def jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def problem(item: str, status: Status, summary: str) -> Result:
    return Result(check=NAME, item=item, status=status, summary=fit_summary(summary))


def short(text: Any, limit: int = 500) -> str:
    s = " ".join(str(text or "").split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def age_or_inf(row: Mapping[str, Any]) -> float:
    """``age_s`` of a row as a sort key; a missing or unreadable age sorts last."""
    age = as_float(row.get("age_s"))
    return float("inf") if age is None else age
