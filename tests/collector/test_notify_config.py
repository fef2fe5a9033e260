"""The notifications: section: full example, secrets from files and env, every fault at once."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from collector.config import ConfigError, load_settings
from collector.notify.config import Secret, mask_url, parse_duration, parse_notifications

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "notifications.example.yaml"


def test_example_file_parses_when_its_secret_files_and_env_exist(tmp_path, monkeypatch):
    text = EXAMPLE.read_text(encoding="utf-8")
    for name in ("smtp.pass", "wecom.url", "dingtalk.url", "dingtalk.secret", "feishu.url", "feishu.secret",
                 "hook.token"):
        (tmp_path / name).write_text(f"https://example.invalid/{name}\n" if name.endswith(".url")
                                     else f"value-of-{name}\n", encoding="utf-8")
    text = text.replace("/etc/wardround/", f"{tmp_path}/")
    monkeypatch.setenv("WARDROUND_HOOK_URL", "https://hooks.example.cn/wardround")
    path = tmp_path / "collector.yaml"
    path.write_text(text, encoding="utf-8")
    settings = load_settings(path)
    config = settings.notifications
    assert config is not None
    assert set(config.channels) == {"oncall-mail", "ops-wecom", "ops-dingtalk", "ops-feishu", "itsm-hook",
                                    "account-manager"}
    assert config.routes[-1].channels == ("account-manager",) and config.routes[-1].events == ("complaint",)
    assert config.channels["oncall-mail"].password == Secret("value-of-smtp.pass")
    assert config.channels["ops-dingtalk"].secret == Secret("value-of-dingtalk.secret")
    assert config.timezone == "Asia/Shanghai" and config.retry.max_age_s == 3 * 86400
    assert config.routes[0].min_level == 2


def test_every_fault_is_reported_at_once_when_section_is_wrong(tmp_path):
    doc = {"channels": {
        "m": {"type": "email", "host": "", "port": 70000, "from": "nobody", "to": [], "password": "x"},
        "w": {"type": "wecom"},
        "d": {"type": "dingtalk", "url": "ftp://x", "secret_file": str(tmp_path / "absent")},
        "x": {"type": "pager"},
        "f": {"type": "feishu", "url": "https://open.feishu.cn/x", "colour": "red"},
    }, "routes": [{"channels": ["m", "ghost"], "min_level": 0, "events": ["exploded"], "language": "fr"}],
        "retry": {"first": "soon"}, "timezone": "Mars/Olympus"}
    config, problems = parse_notifications(doc)
    assert config is None
    text = "\n".join(problems)
    for expected in ("channels.m.host", "channels.m.port", "channels.m.from", "channels.m.to",
                     "channels.m.username: a password needs a username", "channels.w.url: missing",
                     "channels.d.url: expected an http", "channels.d.secret_file: cannot read",
                     "channels.x.type", "channels.f.colour: unknown key", "no channel named 'ghost'",
                     "routes[0].min_level", "routes[0].events", "routes[0].language", "retry.first",
                     "unknown time zone"):
        assert expected in text, expected


def test_config_file_error_names_the_file_when_notifications_are_wrong(tmp_path):
    path = tmp_path / "c.yaml"
    doc = {"notifications": {"channels": {"w": {"type": "wecom"}}}}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert info.value.problems == [
        f"{path}: notifications.channels.w.url: missing: give url_file, url_env or url"]


def test_secret_never_shows_when_printed_or_in_config_repr(monkeypatch):
    monkeypatch.setenv("ROBOT", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=TOPSECRET")
    config, problems = parse_notifications({"channels": {"w": {"type": "wecom", "url_env": "ROBOT"}}})
    assert problems == [] and config is not None
    assert "TOPSECRET" not in repr(config) and "TOPSECRET" not in str(config.channels["w"].url)
    assert config.channels["w"].url.reveal().endswith("TOPSECRET")


def test_plain_smtp_with_password_is_refused_when_configured():
    _, problems = parse_notifications({"channels": {"m": {
        "type": "email", "host": "smtp", "security": "none", "username": "u", "password": "p",
        "from": "a@b.cn", "to": "c@d.cn"}}})
    assert problems == ["notifications.channels.m.security: refusing to send a password without TLS: "
                        "use starttls or ssl"]


def test_masked_url_keeps_only_scheme_and_host_when_it_holds_a_key():
    assert mask_url("https://oapi.dingtalk.com/robot/send?access_token=abc") == "https://oapi.dingtalk.com/***"
    assert mask_url("http://127.0.0.1:8080/open-apis/bot/v2/hook/tok") == "http://127.0.0.1:8080/***"


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("1h30m", 5400), ("3d", 259200), (45, 45),
                                               ("", None), ("soon", None), ("-5s", None), (0, None)])
def test_duration_parses_when_given_units(text, seconds):
    assert parse_duration(text) == seconds


def test_robots_are_paced_at_their_documented_limits_unless_told_otherwise():
    config, problems = parse_notifications({"poll": "2s", "channels": {
        "d": {"type": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send?access_token=t"},
        "w": {"type": "wecom", "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", "rate": "10/min"},
        "f": {"type": "feishu", "url": "https://open.feishu.cn/open-apis/bot/v2/hook/x"},
        "h": {"type": "webhook", "url": "https://hooks.example.cn/w"},
        "o": {"type": "feishu", "url": "https://open.feishu.cn/open-apis/bot/v2/hook/y", "rate": "off"},
        "m": {"type": "webhook", "url": "https://hooks.example.cn/m", "rate": ["30/10m", "2/s"]}}})
    assert problems == [] and config is not None
    rates = {name: [str(r) for r in ch.rates] for name, ch in config.channels.items()}
    assert rates == {"d": ["20/min"], "w": ["10/min"], "f": ["100/min", "5/s"], "h": [], "o": [],
                     "m": ["30/600s", "2/s"]}
    assert config.poll_s == 2


@pytest.mark.parametrize("rate", ["20", "20/fortnight", "0/min", "-3/s", ["20/min", "x"], 20])
def test_bad_rate_or_poll_is_named_when_configured(rate):
    config, problems = parse_notifications({"poll": "forever", "channels": {
        "d": {"type": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send?access_token=t", "rate": rate}}})
    assert config is None
    assert any(p.startswith("notifications.channels.d.rate:") for p in problems)
    assert any(p.startswith("notifications.poll:") for p in problems)


@pytest.mark.parametrize(("name", "ok"), [("ops-mail", True), ("a" * 64, True), ("a" * 65, False),
                                          ("ops\n", False), ("-ops", False)])
def test_channel_names_follow_the_one_name_rule_when_parsed(name, ok):
    _, problems = parse_notifications({"channels": {name: {"type": "wecom", "url": "https://qyapi.example/x"}}})
    assert (not any("a channel name is" in p for p in problems)) is ok
