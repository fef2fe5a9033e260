from __future__ import annotations

from dataclasses import dataclass

import pytest

from checks.params import Duration, ParamError, format_duration, parse_duration, parse_params


@dataclass(frozen=True)
class Sample:
    warn: float = 80.0
    count: int = 10
    max_age: Duration = Duration(93600.0)
    names: tuple[str, ...] = ()
    verify: bool = True
    target: str = ""
    limit: float | None = None


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("5m", 300), ("26h", 93600), ("7d", 604800), ("1w", 604800), ("250ms", 0.25),
    ("90", 90), (45, 45), (1.5, 1.5), ("1h30m", 5400), ("2d 12h", 216000),
])
def test_parse_duration_reads_the_contract_units(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["5 minutes", "-1s", "h", "", True, -3, None, "1h30", "m5"])
def test_parse_duration_rejects_anything_else(bad):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_format_duration_writes_the_shortest_exact_form():
    assert [format_duration(s) for s in (93600, 300, 45, 604800, 1.5)] == ["26h", "5m", "45s", "1w", "1.5s"]


def test_params_from_yaml_values_keep_their_types():
    p = parse_params(Sample, {"warn": 85, "count": 3, "max_age": "26h", "names": ["a", "b"], "verify": False})
    assert p == Sample(warn=85.0, count=3, max_age=Duration(93600.0), names=("a", "b"), verify=False)


def test_params_from_command_line_text_are_converted():
    p = parse_params(Sample, {"warn": "85", "names": "MSSQLSERVER, SQLSERVERAGENT", "verify": "no",
                              "limit": ""}, text=True)
    assert p.warn == 85.0 and p.names == ("MSSQLSERVER", "SQLSERVERAGENT") and p.verify is False
    assert p.limit is None


def test_every_error_is_reported_at_once_when_several_params_are_wrong():
    with pytest.raises(ParamError) as err:
        parse_params(Sample, {"warn": "high", "count": 2.5, "max_age": "soon", "colour": "red"})
    keys = [k for k, _ in err.value.errors]
    assert keys == ["warn", "count", "max_age", "colour"]
    messages = dict(err.value.errors)
    assert "expected a number" in messages["warn"]
    assert "whole number" in messages["count"]
    assert "duration like 30s" in messages["max_age"]
    assert "unknown parameter" in messages["colour"] and "warn" in messages["colour"]


def test_yaml_strings_are_not_silently_taken_as_numbers():
    with pytest.raises(ParamError, match="warn"):
        parse_params(Sample, {"warn": "85"})


def test_range_errors_come_with_type_errors_in_one_pass_when_both_are_wrong():
    from checks.disk import DiskParams

    with pytest.raises(ParamError) as err:
        parse_params(DiskParams, {"warn": "high", "crit": 150})
    messages = dict(err.value.errors)
    assert "expected a number" in messages["warn"]
    assert "between 0 and 100" in messages["crit"]


def test_a_range_error_about_a_parameter_that_failed_its_type_is_not_reported_twice():
    from checks.disk import DiskParams

    # crit is not a number; the default crit (90) must not produce a second, made-up message
    with pytest.raises(ParamError) as err:
        parse_params(DiskParams, {"warn": 95, "crit": "x"})
    assert [k for k, _ in err.value.errors] == ["crit"]
