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


# The rules several checks share (checks.params.check_port, check_order, check_range, check_percent,
# check_above_zero, check_login) keep the words each check has always said: these are the errors the checks gave before
# the rules were made one (issue 12), kept as they were.
SHARED_RULES = [
    ('clock', {'port': 0}, [('port', 'expected a UDP port 1-65535 (got 0)')]),
    ('clock', {'warn': '10m', 'crit': '1m'}, [('warn', 'must not be above crit (600 s > 60 s)')]),
    ('clock', {'timeout': 0}, [('timeout', 'expected a duration above 0')]),
    ('dns', {'port': 70000}, [('port', 'expected a UDP port 1-65535 (got 70000)')]),
    ('dns', {'warn': 5, 'crit': 2}, [('warn', 'must not be above crit (5 s > 2 s)')]),
    ('dns', {'timeout': 0}, [('timeout', 'expected a duration above 0')]),
    ('port', {'port': -1}, [('port', 'expected a TCP port 1-65535 (got -1)')]),
    ('port', {'port': 0}, None),
    ('port', {'warn': 5, 'crit': 2}, [('warn', 'must not be above crit (5 s > 2 s)')]),
    ('port', {'timeout': 0}, [('timeout', 'expected a duration above 0')]),
    ('tcp', {'port': 65536}, [('port', 'expected a TCP port 1-65535 (got 65536)')]),
    ('certificate', {'port': 0}, [('port', 'expected a TCP port 1-65535 (got 0)')]),
    ('certificate', {'days_warn': 3, 'days_crit': 10}, [('days_crit', 'must not be above days_warn (10 > 3)')]),
    ('certificate', {'timeout': 0}, [('timeout', 'expected a duration above 0')]),
    ('http', {'warn': 5, 'crit': 2}, [('warn', 'must not be above crit (5 s > 2 s)')]),
    ('http', {'days_warn': 3, 'days_crit': 10}, [('days_crit', 'must not be above days_warn (10 > 3)')]),
    ('http', {'timeout': 0}, [('timeout', 'expected a duration above 0')]),
    ('nagios', {'timeout': 0}, [('timeout', 'expected a duration above 0')]),
    ('disk', {'warn': 101}, [('warn', 'expected a percentage between 0 and 100 (got 101)')]),
    ('disk', {'inodes_crit': -1}, [('inodes_crit', 'expected a percentage between 0 and 100 (got -1)')]),
    ('disk', {'warn': 95, 'crit': 90}, [('warn', 'must not be above crit (95 > 90)')]),
    ('ssh', {'port': 0}, [('port', 'expected 1-65535 (got 0)')]),
    ('ssh', {'crit': 120}, [('crit', 'expected a percentage between 0 and 100 (got 120)')]),
    ('ssh', {'warn': 95, 'crit': 90}, [('warn', 'must not be above crit (95 > 90)')]),
    ('ssh', {'command_timeout': 0}, [('command_timeout', 'expected more than 0 s')]),
    ('ssh', {'connect_timeout': 0}, [('connect_timeout', 'expected more than 0 s')]),
    ('ssh', {'target': 'h'}, [('user', 'required')]),
    ('ssh', {'target': 'h', 'user': 'u'}, [('known_hosts', 'required')]),
    ('ssh', {'target': 'h', 'user': 'u', 'known_hosts': '/k'}, [('key_file', 'give key_file or password_file')]),
    ('ssh', {'target': 'h', 'user': 'u', 'known_hosts': '/k', 'password_file': '/p'}, None),
    ('offsite_copy', {'local_path': '/b'}, [('remote_host', 'required')]),
    ('offsite_copy', {'local_path': '/b', 'remote_host': 'h', 'remote_user': 'u'}, [('remote_path', 'required')]),
    ('offsite_copy', {'local_path': '/b', 'remote_host': 'h', 'remote_user': 'u', 'remote_path': '/r',
                      'known_hosts': '/k'}, [('key_file', 'give key_file or password_file')]),
    ('offsite_copy', {'remote_port': 0}, [('remote_port', 'expected 1-65535 (got 0)')]),
    ('offsite_copy', {'connect_timeout': 0}, [('connect_timeout', 'expected more than 0 s')]),
    ('db_accounts', {'query_timeout': 0}, [('query_timeout', 'must be more than 0')]),
    ('db_backup', {'rman_lookback': 0}, [('rman_lookback', 'must be more than 0')]),
    ('db_backup', {'login_timeout': 0}, [('login_timeout', 'must be more than 0')]),
    ('restore_drill', {'list_timeout': 0}, [('list_timeout', 'must be more than 0')]),
    ('restore_drill', {'query_timeout': 0}, [('query_timeout', 'must be more than 0')]),
    ('ping', {'loss_warn': 0.5, 'loss_crit': 0.3}, [('loss_warn', 'must not be above loss_crit (0.5 > 0.3)')]),
    ('ping', {'rtt_warn': 600}, [('rtt_warn', 'must not be above rtt_crit (600 > 500)')]),
    ('ping', {'rtt_warn': 600, 'rtt_crit': None}, None),
    ('system', {'cpu_warn': 95}, [('cpu_warn', 'must not be above cpu_crit')]),
    ('ping', {'count': 0}, [('count', 'expected 1 to 1000 probes (got 0)')]),
    ('ping', {'count': 1000000}, [('count', 'expected 1 to 1000 probes (got 1000000)')]),
    ('ping', {'timeout': 0}, [('timeout', 'expected more than 0 s and at most 60 s (got 0)')]),
    ('ping', {'timeout': '2m'}, [('timeout', 'expected more than 0 s and at most 60 s (got 120)')]),
    ('ping', {'timeout': 1000000}, [('timeout', 'expected more than 0 s and at most 60 s (got 1e+06)')]),
    ('ping', {'interval': 0.1}, [('interval', 'expected 0.2 s to 60 s (got 0.1)')]),
    ('ping', {'interval': '1h'}, [('interval', 'expected 0.2 s to 60 s (got 3600)')]),
    ('ping', {'raise_after': 0}, [('raise_after', 'expected 1 to 100 runs (got 0)')]),
    ('ping', {'clear_after': 101}, [('clear_after', 'expected 1 to 100 runs (got 101)')]),
    ('ping', {'trace_max_hops': 256}, [('trace_max_hops', 'expected 1 to 255 (got 256)')]),
    ('traceroute', {'max_hops': 0}, [('max_hops', 'expected 1 to 255 (got 0)')]),
    ('traceroute', {'queries': 11}, [('queries', 'expected 1 to 10 (got 11)')]),
    ('traceroute', {'wait': 0}, [('wait', 'expected more than 0 s and at most 60 s (got 0)')]),
    ('traceroute', {'wait': 61}, [('wait', 'expected more than 0 s and at most 60 s (got 61)')]),
    ('traceroute', {'learn_runs': 0}, [('learn_runs', 'expected 1 to 100 runs (got 0)')]),
]


@pytest.mark.parametrize(("name", "raw", "errors"), SHARED_RULES)
def test_a_shared_parameter_rule_says_what_the_check_always_said(name, raw, errors):
    from checks.catalogue import params_of

    if errors is None:
        parse_params(params_of(name), raw)
        return
    with pytest.raises(ParamError) as caught:
        parse_params(params_of(name), raw)
    assert caught.value.errors == errors


def test_field_types_reads_every_checks_parameters_as_typing_does():
    """parse_params reads annotations without the typing module (issue 16: the agent runs without
    it); for every check's parameters the types are those ``typing.get_type_hints`` gives."""
    import typing

    from checks.catalogue import CATALOGUE, params_of
    from checks.params import field_types

    for name in CATALOGUE:
        cls = params_of(name)
        assert field_types(cls) == typing.get_type_hints(cls), name
    assert field_types(Sample)["max_age"] is Duration and field_types(Sample)["limit"] == float | None


def test_a_duration_is_the_plain_float_it_was_given():
    """``Duration(x)`` is ``x`` (as with typing.NewType): defaults and results stay plain floats."""
    assert type(Duration(93600.0)) is float and Duration(93600.0) == 93600.0
    assert type(parse_params(Sample, {"max_age": "26h"}).max_age) is float



def test_annotations_given_as_objects_are_read_too_including_typings_optional():
    import dataclasses
    import typing

    optional = typing.Optional[Duration]  # noqa: UP045  # typing's object, as an older annotation gives it
    cls = dataclasses.make_dataclass("Objects", [
        ("limit", optional, None), ("names", tuple[str, ...], ()), ("warn", float | None, None)], frozen=True)
    p = parse_params(cls, {"limit": "5m", "names": "a,b", "warn": ""}, text=True)
    assert (p.limit, p.names, p.warn) == (300.0, ("a", "b"), None)
    with pytest.raises(ParamError) as err:
        parse_params(cls, {"limit": "soon"})
    assert err.value.errors[0][0] == "limit"
