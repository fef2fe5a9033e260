"""The ping/traceroute parsers against output captured from real systems, in both languages.

Each fixture's first line says where it came from (``# source: ...``); Linux ones were
captured on this machine in the test namespaces, Windows ones are public samples
(English and zh-CN), and the ``.gbk`` files are the same zh-CN text in the console's
code page 936 (reconstructed bytes, as their source line says).
"""

from __future__ import annotations

import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checks._network import Hop, HopMember, PingStats, decode_console, parse_ping, parse_traceroute, trace_failure

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


def fixture_text(name: str) -> str:
    data = (FIXTURES / name).read_bytes()
    head, _, body = data.partition(b"\n")
    assert head.startswith(b"# source: "), f"{name} does not say where it came from"
    if name.endswith(".gbk"):
        return decode_console(body, "936")
    return body.decode("utf-8")


# name: (sent, received, loss_ratio, rtt_min_ms, rtt_avg_ms, rtt_max_ms, target)
PING_CASES = {
    "ping_linux_ok.txt": (5, 5, 0.0, 0.047, 0.118, 0.364, "198.51.100.2"),
    "ping_linux_loss.txt": (10, 5, 0.5, 0.044, 0.056, 0.073, "198.51.100.2"),
    "ping_linux_unreachable.txt": (4, 0, 1.0, None, None, None, "198.51.100.2"),
    "ping_linux_ipv6.txt": (3, 3, 0.0, 0.044, 0.062, 0.092, "::1"),
    "ping_win_en_ok.txt": (4, 4, 0.0, 1.0, 5.0, 13.0, "192.168.0.1"),
    "ping_win_en_unreachable.txt": (4, 0, 1.0, None, None, None, "192.168.0.2"),
    "ping_win_en_continuous.txt": (24, 4, 0.833333, 0.5, 0.5, 0.5, None),
    "ping_zh_ok.txt": (4, 4, 0.0, 1.0, 1.25, 2.0, "192.168.0.3"),
    "ping_zh_ok.gbk": (4, 4, 0.0, 1.0, 1.25, 2.0, "192.168.0.3"),
    "ping_zh_loss.txt": (4, 2, 0.5, 246.0, 247.0, 248.0, "140.82.113.4"),
    "ping_zh_loss_aliyun.txt": (4, 3, 0.25, 8.0, 11.667, 14.0, "223.5.5.5"),
    "ping_zh_loss_aliyun.gbk": (4, 3, 0.25, 8.0, 11.667, 14.0, "223.5.5.5"),
    "ping_zh_unreachable.txt": (4, 0, 1.0, None, None, None, None),
    "ping_zh_unreachable.gbk": (4, 0, 1.0, None, None, None, None),
    "ping_zh_unreachable_addr.txt": (2, 0, 1.0, None, None, None, None),
    "ping_zh_ipv6.txt": (4, 4, 0.0, 0.5, 0.5, 0.5, "fe80::f8da:96d0:e61d:d7b7%12"),
}


@pytest.mark.parametrize("name", sorted(PING_CASES))
def test_parse_ping_reads_counts_and_rtts_when_output_is_real(name):
    sent, received, loss, lo, avg, hi, target = PING_CASES[name]
    stats = parse_ping(fixture_text(name))
    assert stats.recognised
    assert (stats.sent, stats.received) == (sent, received)
    assert stats.loss_ratio == pytest.approx(loss, abs=1e-6)
    assert (stats.rtt_min_ms, stats.rtt_avg_ms, stats.rtt_max_ms) == (
        pytest.approx(lo) if lo is not None else None,
        pytest.approx(avg, abs=1e-3) if avg is not None else None,
        pytest.approx(hi) if hi is not None else None)
    assert stats.target == target
    assert stats.error is None


@pytest.mark.parametrize("name", ["ping_win_en_unreachable.txt", "ping_zh_unreachable.txt",
                                  "ping_zh_unreachable.gbk", "ping_linux_unreachable.txt"])
def test_parse_ping_counts_unreachable_replies_as_lost_when_windows_says_received(name):
    stats = parse_ping(fixture_text(name))
    assert stats.received == 0 and stats.loss_ratio == 1.0
    assert stats.unreachable >= 2


def test_parse_ping_ignores_a_reply_from_another_address_when_the_target_is_known():
    text = ("Pinging 192.0.2.9 with 32 bytes of data:\n"
            "Reply from 192.0.2.9: bytes=32 time=3ms TTL=64\n"
            "Reply from 192.0.2.77: bytes=32 time=1ms TTL=64\n"
            "Ping statistics for 192.0.2.9:\n    Packets: Sent = 2, Received = 2, Lost = 0 (0% loss),\n")
    stats = parse_ping(text)
    assert (stats.sent, stats.received, stats.unreachable) == (2, 1, 1)


def test_parse_ping_jitter_is_the_mean_difference_of_consecutive_rtts_when_several_answer():
    stats = parse_ping(fixture_text("ping_win_en_ok.txt"))  # 1, 13, 2, 4 ms
    assert stats.jitter_ms == pytest.approx((12 + 11 + 2) / 3, abs=1e-3)
    assert stats.rtts_ms == (1.0, 13.0, 2.0, 4.0)


@pytest.mark.parametrize("name,error", [("ping_linux_dns.txt", "cannot resolve host"),
                                        ("ping_zh_dns.txt", "cannot resolve host"),
                                        ("ping_linux_noroute.txt", "network unreachable")])
def test_parse_ping_names_the_failure_when_nothing_could_be_sent(name, error):
    stats = parse_ping(fixture_text(name))
    assert stats.recognised and stats.error == error
    assert stats.sent == 0 and stats.rtt_avg_ms is None


def test_parse_ping_does_not_trust_a_windows_summary_without_reply_lines():
    text = "Ping statistics for 192.168.1.99:\n    Packets: Sent = 4, Received = 4, Lost = 0 (0% loss),\n"
    stats = parse_ping(text)
    assert (stats.sent, stats.received, stats.loss_ratio) == (4, 0, 1.0)


def test_parse_ping_is_not_recognised_when_output_is_unknown():
    stats = parse_ping("Usage: ping [-aAbBdDfhLnOqrRUvV64] ...\nsomething else entirely")
    assert not stats.recognised
    assert "Usage" in stats.raw


def test_parse_ping_reads_gbk_bytes_when_given_bytes():
    data = fixture_text("ping_zh_ok.txt").encode("gbk")
    assert parse_ping(data).received == 4


def _hop(ttl: int, address: str | None, rtts: tuple[float | None, ...]) -> Hop:
    """A hop that answered from one address (or not at all) with these probes."""
    answered = tuple(r for r in rtts if r is not None)
    return Hop(ttl, rtts, (HopMember(address, answered),) if address else ())


# name: (hop count, first hop, last hop)
TRACE_CASES = {
    "traceroute_linux_ok.txt": (2, _hop(1, "192.0.2.1", (0.226, 0.008, 0.006)),
                                _hop(2, "198.51.100.2", (0.148, 0.009, 0.007))),
    "traceroute_linux_router2.txt": (2, _hop(1, "192.0.2.65", (0.3, 0.014, 0.007)),
                                     _hop(2, "198.51.100.2", (0.032, 0.01, 0.01))),
    "traceroute_linux_ratelimited.txt": (2, _hop(1, "192.0.2.1", (0.036, None, None)),
                                         _hop(2, "198.51.100.2", (0.018, 0.009, 0.024))),
    "traceroute_linux_names.txt": (2, _hop(1, "192.0.2.1", (0.034, 0.007)),
                                   _hop(2, "198.51.100.2", (0.016, None))),
    "traceroute_linux_stars.txt": (5, _hop(1, None, (None, None, None)), _hop(5, None, (None, None, None))),
    "tracert_zh_baidu.txt": (9, _hop(1, "192.168.4.129", (0.5, 2.0, 1.0)),
                             _hop(9, "61.135.169.121", (2.0, 1.0, 1.0))),
    "tracert_zh_baidu.gbk": (9, _hop(1, "192.168.4.129", (0.5, 2.0, 1.0)),
                             _hop(9, "61.135.169.121", (2.0, 1.0, 1.0))),
    "tracert_zh_oneline.txt": (11, _hop(1, "192.168.2.1", (1.0, 0.5, 1.0)),
                               _hop(11, "122.20.61.29", (39.0, 40.0, 48.0))),
    "tracert_zh_names.txt": (8, _hop(1, "192.168.1.1", (0.5, 0.5, 0.5)),
                             _hop(8, "183.232.231.173", (14.0, 13.0, 13.0))),
    "tracert_zh_ipv6.txt": (22, _hop(1, "2001:da8:c800:ac05::1", (2.0, 2.0, 2.0)),
                            _hop(22, None, (None, None, None))),
    "tracert_en.txt": (2, _hop(1, "10.0.2.4", (0.5, None, 1.0)),
                       _hop(2, "10.0.1.4", (1.0, 1.0, 1.0))),
}


@pytest.mark.parametrize("name", sorted(TRACE_CASES))
def test_parse_traceroute_reads_every_hop_when_output_is_real(name):
    count, first, last = TRACE_CASES[name]
    hops = parse_traceroute(fixture_text(name))
    assert len(hops) == count
    assert [h.ttl for h in hops] == list(range(1, count + 1))
    assert hops[0] == first
    assert hops[-1] == last


def test_parse_traceroute_marks_a_timed_out_hop_as_unanswered_when_zh_cn_prints_qingqiu_chaoshi():
    hops = parse_traceroute(fixture_text("tracert_zh_baidu.txt"))
    assert hops[7] == _hop(8, None, (None, None, None))
    assert hops[1].rtts_ms == (0.5, 0.5, 0.5)  # "<1 毫秒" three times, no space before the address
    assert hops[1].address == "192.168.11.30"


def test_parse_traceroute_takes_the_bracketed_address_when_a_name_is_printed():
    hops = parse_traceroute(fixture_text("tracert_zh_ipv6.txt"))
    assert hops[12].address == "2001:470:0:2a2::1"
    assert hops[14].rtts_ms == (None, 193.0, 194.0)


def test_parse_traceroute_keeps_every_responder_and_annotation_when_paths_balance():
    text = ("traceroute to 203.0.113.9 (203.0.113.9), 30 hops max, 60 byte packets\n"
            " 1  192.0.2.1  0.3 ms  0.2 ms  0.2 ms\n"
            " 2  198.51.100.1  1.1 ms 198.51.100.5  1.3 ms *\n"
            " 3  203.0.113.9  2.0 ms !H  2.1 ms !H  *\n")
    hops = parse_traceroute(text)
    assert hops[1].addresses == ("198.51.100.1", "198.51.100.5")
    assert hops[1].rtts_ms == (1.1, 1.3, None)
    assert hops[2].annotations == ("!H", "!H")


# name: (hop count, {ttl: [(member, its probes' RTTs), ...]} for the load-balanced hops)
ECMP_CASES = {
    "traceroute_linux_ecmp_n.txt": (8, {4: [("192.171.61.61", (23.072,)), ("206.248.155.109", (17.073,)),
                                            ("192.171.63.17", (23.308,))]}),
    "traceroute_linux_ecmp_n_q1.txt": (8, {4: [("192.171.61.161", (25.393,))]}),
    "traceroute_linux_ecmp_ipv6.txt": (12, {
        3: [("2001:5a0:40:100::51", (15.284, 15.415)), ("2605:9000:0:101::1", (4.864,))],
        9: [("2001:4860::9:4001:d508", (9.376,)), ("2001:4860::c:4002:652a", (9.105,)),
            ("2001:4860::c:4002:6523", (9.384,))]}),
    "traceroute_linux_ecmp_as.txt": (15, {
        12: [("192.121.80.47", (10.01,)), ("72.14.196.42", (9.182, 44.983))],
        13: [("108.170.254.49", (10.852, 10.876)), ("108.170.254.33", (11.185,))]}),
    "traceroute_bsd_ecmp_continuation.txt": (12, {
        6: [("94.142.122.45", (42.79, 46.352)), ("94.142.122.44", (41.479,))],
        8: [("181.40.42.30", (65.148, 65.157)), ("5.53.0.155", (65.096,))]}),
    "traceroute_macos_ecmp_tabs.txt": (6, {
        5: [("101.95.88.134", (8.995,)), ("61.152.25.14", (11.266,)), ("61.152.26.26", (10.508,))],
        6: [("202.97.29.106", (14.124, 14.933)), ("202.97.52.62", (12.223,))]}),
    "traceroute_cisco_ecmp.txt": (3, {
        1: [("172.172.172.26", (464.0, 80.0)), ("172.172.172.22", (360.0,))],
        2: [("172.172.172.2", (960.0, 1216.0)), ("172.172.172.6", (1004.0,))]}),
}


@pytest.mark.parametrize("name", sorted(ECMP_CASES))
def test_parse_traceroute_keeps_every_router_of_a_load_balanced_hop_with_the_rtts_of_its_probes(name):
    count, balanced = ECMP_CASES[name]
    hops = parse_traceroute(fixture_text(name))
    assert [h.ttl for h in hops] == list(range(1, count + 1))
    for ttl, members in balanced.items():
        hop = hops[ttl - 1]
        assert [(m.address, m.rtts_ms) for m in hop.members] == members
        assert hop.address == members[0][0]
        assert sorted(r for r in hop.rtts_ms if r is not None) == sorted(r for _, rs in members for r in rs)


def test_parse_traceroute_reads_as_marks_and_annotations_without_counting_them_as_probes():
    hops = parse_traceroute(fixture_text("traceroute_linux_ecmp_as.txt"))
    assert hops[0].annotations == ("!P", "!", "!<500>")
    assert hops[0].rtts_ms == (0.676, 0.763, 0.91)
    assert hops[11].rtts_ms == (10.01, 9.182, 44.983)  # "[*]" (no AS known) is not a lost probe
    bsd = parse_traceroute(fixture_text("traceroute_bsd_ecmp_continuation.txt"))
    assert bsd[1] == _hop(2, None, (None, None, None))
    assert bsd[6].rtts_ms == (62.692, 44.691, 61.049)


def test_parse_traceroute_gives_no_hops_and_names_the_failure_when_the_name_does_not_resolve():
    text = fixture_text("traceroute_linux_dns.txt")
    assert parse_traceroute(text) == []
    assert trace_failure(text) == "cannot resolve host"
    assert trace_failure("无法解析目标系统名 nohost。") == "cannot resolve host"


def test_decode_console_uses_the_code_page_when_given_and_guesses_when_not():
    gbk = "来自 192.0.2.1 的回复: 字节=32 时间<1ms TTL=128，".encode("gbk")
    assert decode_console(gbk, "936").startswith("来自")
    assert decode_console(gbk, "cp936").startswith("来自")
    assert decode_console(gbk, None).startswith("来自")
    assert decode_console("ü".encode(), "65001") == "ü"
    assert decode_console(b"\xff\xfe\x00", "no-such-codepage")  # replaced, not raised
    assert decode_console(b"\x81", None) == "\x81"  # not UTF-8, not GB18030: Latin-1


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parsers_never_raise_when_text_is_arbitrary(text):
    stats = parse_ping(text)
    assert isinstance(stats, PingStats) and 0.0 <= stats.loss_ratio <= 1.0
    assert all(isinstance(h, Hop) for h in parse_traceroute(text))
    trace_failure(text)


@settings(max_examples=300, deadline=None)
@given(st.binary(), st.sampled_from([None, "936", "65001", "437", "bogus"]))
def test_parsers_never_raise_when_bytes_are_arbitrary(data, codepage):
    text = decode_console(data, codepage)
    assert isinstance(text, str)
    parse_ping(data)
    parse_traceroute(data)
    parse_ping(text)


_LINEISH = st.lists(st.sampled_from([
    "来自 192.0.2.1 的回复: 字节=32 时间<1ms TTL=128", "请求超时。", "Reply from ::1: time<1ms",
    "64 bytes from 192.0.2.1: icmp_seq=1 ttl=64 time=0.1 ms",
    "数据包: 已发送 = 4，已接收 = 9，丢失 = 0 (0% 丢失)，",
    " 1    <1 毫秒   *   2 ms 192.0.2.1", " 2  * * *", "Reply from 192.0.2.1: Destination host unreachable.",
    "PING 192.0.2.1 (192.0.2.1) 56(84) bytes of data.", "3 packets transmitted, 7 received",
]), max_size=12)


@settings(max_examples=300, deadline=None)
@given(_LINEISH)
def test_parse_ping_keeps_received_within_sent_when_lines_are_shuffled(lines):
    stats = parse_ping("\n".join(lines))
    assert 0 <= stats.received
    if stats.sent:
        assert stats.received <= stats.sent
    parse_traceroute("\n".join(lines))


# name: (sent, received, rtt min, avg, max) as the summary lines print them
LINUX_SUMMARY_CASES = {
    "ping_linux_garbled.txt": (20, 20, 0.038, 0.047, 0.080),  # reply 4 garbled, not lost
    "ping_linux_broadcast_dup.txt": (2, 2, 0.586, 504.260, 1276.448),  # "time=1276 ms" in the reply
    "ping_busybox.txt": (1, 1, 1.637, 1.637, 1.637),
    "ping_linux_loss.txt": (10, 5, 0.044, 0.056, 0.073),
    "ping_linux_wan.txt": (20, 19, 27.656, 33.717, 36.758),  # the replies say 27.6 … 36.7 ms
}


@pytest.mark.parametrize("name", sorted(LINUX_SUMMARY_CASES))
def test_parse_ping_takes_received_and_rtts_from_the_linux_summary_when_it_is_printed(name):
    sent, received, lo, avg, hi = LINUX_SUMMARY_CASES[name]
    stats = parse_ping(fixture_text(name))
    assert (stats.sent, stats.received) == (sent, received)
    assert stats.loss_ratio == pytest.approx(1 - received / sent)
    assert (stats.rtt_min_ms, stats.rtt_avg_ms, stats.rtt_max_ms) == (lo, avg, hi)


def test_parse_ping_counts_the_replies_when_a_linux_run_was_cut_before_its_summary():
    text = fixture_text("ping_linux_garbled.txt").split("\n--- ")[0]
    stats = parse_ping(text)
    assert (stats.sent, stats.received) == (19, 19)  # what the readable lines show; no summary to say more
    assert stats.rtt_max_ms == 0.080


@pytest.mark.parametrize("name,unreachable", [("ping_zh_transmit_failed.txt", 3),
                                              ("ping_zh_transmit_failed_gateway.txt", 2)])
def test_parse_ping_counts_ping_transmit_failed_with_a_full_width_colon_as_an_error_reply(name, unreachable):
    text = fixture_text(name)
    stats = parse_ping(text)
    assert (stats.sent, stats.received, stats.loss_ratio) == (4, 0, 1.0)
    assert stats.unreachable == unreachable
    cut = parse_ping(text.split("\n\n", 2)[1])  # the probe lines alone, as when the run was cut short
    assert (cut.sent, cut.received, cut.unreachable) == (4, 0, unreachable)
