"""checks/_units.py: the one duration grammar and the one way values are shown."""

from __future__ import annotations

import pytest

from checks._units import (
    duration_parts,
    format_bytes,
    format_duration,
    format_seconds,
    format_value,
    parse_duration,
    working_days,
)

# Every form one of the former readers accepted: checks/params.py (decimals, ms, w, spaces,
# compounds, bare numbers), collector/notify/config.py (upper case, spaces inside a compound).
READ = [
    ("30s", 30), ("5m", 300), ("26h", 93600), ("7d", 604800), ("2w", 1209600), ("250ms", 0.25),
    ("1.5h", 5400), ("1h30m", 5400), ("1h 30m", 5400), (" 5 m ", 300), ("90", 90), ("0.5", 0.5),
    (90, 90), (1.5, 1.5), ("30S", 30), ("1H30M", 5400), ("3D", 259200), ("250MS", 0.25), ("0s", 0),
]


@pytest.mark.parametrize(("text", "seconds"), READ)
def test_duration_reads_every_form_a_former_reader_accepted(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "h", "5 minutes", "1.h", "-5m", "5x", "1h-30m", "3wd", "inf", "1e3s"])
def test_duration_refuses_what_is_not_one_with_the_hint(text):
    with pytest.raises(ValueError, match="a duration like 30s, 5m, 26h, 7d"):
        parse_duration(text)


@pytest.mark.parametrize("value", [True, None, -1, float("nan"), float("inf"), [5]])
def test_duration_refuses_values_that_are_not_a_length_of_time(value):
    with pytest.raises(ValueError):
        parse_duration(value)


def test_duration_parts_keep_the_numbers_as_written_and_units_in_lower_case():
    assert duration_parts("1H 30m") == [("1", "h"), ("30", "m")]
    assert duration_parts("1.5h") == [("1.5", "h")]
    assert duration_parts("90") == [("90", "s")]


@pytest.mark.parametrize(("text", "days"), [("3wd", 3), ("3 WD", 3), ("1 working day", 1), ("3 working days", 3),
                                            ("3个工作日", 3), ("3工作日", 3), ("3d", None), ("wd", None)])
def test_working_days_read_in_english_and_chinese(text, days):
    assert working_days(text) == days


@pytest.mark.parametrize("seconds", [0.25, 1.5, 45, 300, 5400, 93600, 604800, 1209600, 86400 * 3])
def test_format_duration_writes_what_parse_duration_reads_back(seconds):
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


@pytest.mark.parametrize(("seconds", "text"), [
    (45, "45 s"), (30.44, "30.4 s"), (100, "100 s"), (1800, "30 min"), (5400, "90 min"), (3600, "1 h"),
    (7200, "2 h"), (93600, "26 h"), (112680, "31.3 h"), (172800, "2 d"), (8 * 86400, "8 d"), (-90, "-90 s"),
])
def test_format_seconds_picks_the_unit_by_size(seconds, text):
    assert format_seconds(seconds) == text


@pytest.mark.parametrize(("n", "text"), [
    (0, "0 B"), (512, "512 B"), (1024, "1 KiB"), (1536, "1.5 KiB"), (123_400_000, "117.7 MiB"),
    (5 * 2**30, "5 GiB"), (3 * 2**40, "3 TiB"), (2**52, "4096 TiB"),
])
def test_format_bytes_uses_binary_units_with_one_decimal_at_most(n, text):
    assert format_bytes(n) == text


@pytest.mark.parametrize(("value", "unit", "text"), [
    (41.23, "%", "41.2 %"), (123_400_000, "B", "117.7 MiB"), (1536, "B/s", "1.5 KiB/s"), (93600, "s", "26 h"),
    (3, "count", "3"), (0.125, "", "0.12"), (12.5, "ms", "12.5 ms"), (None, "s", ""),
])
def test_format_value_shows_a_measured_value_with_its_wire_unit(value, unit, text):
    assert format_value(value, unit) == text


@pytest.mark.parametrize(("value", "unit", "zh", "en"), [
    (0.00016, "s", "0.16 ms", "0.16 ms"),       # a fast connect: never "0 s"
    (4.3e-05, "s", "0.043 ms", "0.043 ms"),     # never scientific notation
    (450155, "s", "5.2 天", "5.2 d"),           # never raw seconds
    (45, "s", "45 秒", "45 s"), (5400, "s", "90 分钟", "90 min"), (93600, "s", "26 小时", "26 h"),
    (0.16, "ms", "0.16 ms", "0.16 ms"), (1500, "ms", "1.5 秒", "1.5 s"), (30, "d", "30 天", "30 d"),
    (0, "s", "0 秒", "0 s"), (0.025, "ratio", "2.5 %", "2.5 %"), (0, "ratio", "0 %", "0 %"),
    (1, "count", "1", "1"), (1234567, "c", "1234567", "1234567"), (0.004, "", "0.004", "0.004"),
    (12_000_000, "bps", "12 Mbit/s", "12 Mbit/s"), (45, "C", "45 °C", "45 °C"), (float("nan"), "%", "", ""),
])
def test_format_value_in_both_languages(value, unit, zh, en):
    assert (format_value(value, unit, "zh_CN"), format_value(value, unit, "en")) == (zh, en)


@pytest.mark.parametrize("value", [1e-9, 3.3e-7, 2.5e-5, 0.0001, 0.5, 7, 1e6, 1e15, 1e20])
@pytest.mark.parametrize("unit", ["s", "ms", "", "%", "B", "ratio", "d"])
def test_format_value_never_writes_scientific_notation_or_zero_for_a_value(value, unit):
    for lang in ("zh_CN", "en"):
        text = format_value(value, unit, lang)
        assert "e-" not in text and "e+" not in text, text
        assert not text.startswith("0 ") or (unit == "B" and value < 1), text  # no fractions of a byte


def test_format_value_refuses_a_language_it_has_no_words_for():
    with pytest.raises(ValueError, match="fr"):
        format_value(1.0, "s", lang="fr")
