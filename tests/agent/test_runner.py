"""The runner: one check under a timeout, isolated; anything a check does becomes a result."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from agent.runner import CheckRun, Runner, sanitize
from checks.catalogue import CheckSpec
from checks.context import CheckContext
from checks.result import Metric, Result, Status


@dataclass(frozen=True)
class NoParams:
    pass


def spec(name: str, run: Any, timeout_s: float = 30.0) -> CheckSpec:
    return CheckSpec(name=name, params=NoParams, run=run, summary=f"test check {name}",
                     timeout_s=timeout_s)


def ok(params: Any, ctx: CheckContext) -> list[Result]:
    return [Result(check="fine", item="x", status=Status.OK, summary="all good",
                   metrics=(Metric("value", 1.0),))]


def job(name: str, run: Any, timeout_s: float = 2.0, instance: str = "") -> CheckRun:
    return CheckRun(spec=spec(name, run), params=NoParams(), timeout_s=timeout_s, name=instance)


RUNNER = Runner("central-hospital", "his-db-01")


def test_results_are_stamped_with_origin_and_timing_when_the_check_succeeds() -> None:
    (r,) = RUNNER.run(job("fine", ok))
    assert (r.site, r.host, r.status, r.summary) == ("central-hospital", "his-db-01", Status.OK, "all good")
    assert r.duration_ms >= 0 and r.started_at.tzinfo is not None


def test_a_hung_check_is_unknown_quickly_and_others_still_run_when_it_sleeps_past_its_timeout() -> None:
    release = threading.Event()

    def hang(params: Any, ctx: CheckContext) -> list[Result]:
        release.wait(30)
        return ok(params, ctx)

    runner = Runner("s1", "h1")
    hung = job("hang", hang, timeout_s=0.3)
    got: dict[str, list[Result]] = {}
    started = time.monotonic()
    threads = [threading.Thread(target=lambda j=j: got.__setitem__(j.key, runner.run(j)))
               for j in (hung, job("fine", ok))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - started < 1.5
    (timed_out,) = got["hang"]
    assert timed_out.status == Status.UNKNOWN and timed_out.check == "hang"
    assert timed_out.summary == "timed out after 300 ms"
    assert got["fine"][0].status == Status.OK
    # while it is still hung, the next run answers at once instead of stacking threads
    threads_before = threading.active_count()
    t0 = time.monotonic()
    (again,) = runner.run(hung)
    assert time.monotonic() - t0 < 0.1
    assert again.summary.startswith("previous run still hung since ")
    assert threading.active_count() == threads_before
    # once it finally returns, the instance runs again normally
    release.set()
    time.sleep(0.1)
    assert runner.run(hung)[0].status == Status.OK


def test_an_exception_becomes_unknown_with_a_masked_message_when_the_check_raises() -> None:
    def boom(params: Any, ctx: CheckContext) -> list[Result]:
        raise ConnectionError("login failed for DSN=his;UID=sa;PWD=Hunter2;\nsecond line")

    (r,) = RUNNER.run(job("db_backup", boom, instance="db-main"))
    assert r.status == Status.UNKNOWN and r.item == "db-main"
    assert r.summary == "check failed: ConnectionError: login failed for DSN=his;UID=sa;PWD=***; second line"
    assert "Hunter2" not in str(r.details) and "Traceback" in r.details["traceback"]
    assert "Traceback" not in r.summary


def test_an_empty_answer_is_unknown_when_the_check_returns_nothing() -> None:
    (r,) = RUNNER.run(job("quiet", lambda p, c: []))
    assert (r.status, r.summary) == (Status.UNKNOWN, "returned no result")
    (r,) = RUNNER.run(job("quiet", lambda p, c: None))
    assert r.summary == "returned no result"


def test_an_invalid_result_becomes_unknown_when_it_would_not_pass_the_wire_check() -> None:
    def bad(params: Any, ctx: CheckContext) -> list[Result]:
        return [Result(check="odd", item="/", status=Status.OK, summary="x",
                       metrics=(Metric("used", 1.0, "furlongs"),)), "not a result"]

    first, second = RUNNER.run(job("odd", bad))
    assert first.status == Status.UNKNOWN and first.item == "/"
    assert "returned an invalid result for '/'" in first.summary and "furlongs" in first.summary
    assert second.summary == "returned a str instead of a Result"


def test_state_is_kept_between_runs_when_the_check_updates_it() -> None:
    def counter(params: Any, ctx: CheckContext) -> list[Result]:
        ctx.state["runs"] = ctx.state.get("runs", 0) + 1
        return [Result(check="count", item="", status=Status.OK, summary=f"run {ctx.state['runs']}")]

    runner = Runner("s1", "h1")
    assert [runner.run(job("count", counter))[0].summary for _ in range(3)] == ["run 1", "run 2", "run 3"]


def test_secrets_are_masked_when_sanitized() -> None:
    text = sanitize("Authorization: Bearer abc.def password='x y' token=t0k https://u:pw@host/ a\nb")
    assert text == "Authorization: *** password=*** token=*** https://u:***@host/ a b"
