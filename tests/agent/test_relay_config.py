"""The relay's config: every problem at once as FILE: key: expected, exit code 2, nothing started."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from agent.config import ConfigError
from agent.relay_config import load_relay_config, parse_listen


def _write(tmp_path, text: str):
    token = tmp_path / "relay.token"
    token.write_text("wrr_secret-token-value\n")
    token.chmod(0o600)
    path = tmp_path / "relay.yaml"
    path.write_text(text.replace("TOKEN", str(token)))
    return path


def test_a_good_config_and_its_defaults(tmp_path):
    (tmp_path / "out").mkdir()
    config = load_relay_config(_write(tmp_path, (
        "site: central-hospital\nlisten: 0.0.0.0:8481\n"
        "collector: {url: https://collector.example:8480, token_file: TOKEN, proxy: 'http://proxy.example:3128'}\n"
        "spool: relay.db\n")))
    assert (config.site, config.listen_host, config.listen_port) == ("central-hospital", "0.0.0.0", 8481)
    assert config.spool == str(tmp_path / "relay.db") and config.export is None and config.sync_every_s == 30
    assert config.collector is not None and config.collector.proxy == "http://proxy.example:3128"
    exporting = load_relay_config(config.path, export_dir=str(tmp_path / "out"))
    assert exporting.export is not None and exporting.export.every_s == 300


def test_every_problem_is_named_with_its_key(tmp_path):
    with pytest.raises(ConfigError) as got:
        load_relay_config(_write(tmp_path, (
            "site: central hospital\nlisten: 8481\ntls_cert: relay.crt\n"
            "collector: {url: ftp://x, token_file: TOKEN}\nexport: {dir: /nonexistent, every: soon}\nspeed: 9\n")))
    text = "\n".join(got.value.errors)
    for key in ("relay.yaml: site:", "relay.yaml: listen:", "tls_key: tls_cert and tls_key go together",
                "collector.url:", "export.dir: expected an existing directory", "export.every:",
                "speed: unknown key"):
        assert key in text, text
    assert "wrr_secret" not in text


def test_the_relay_command_exits_2_on_a_bad_config(tmp_path):
    path = _write(tmp_path, "site: s1\nlisten: nowhere\n")
    out = subprocess.run([sys.executable, "-m", "agent", "relay", "--config", str(path)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2
    assert "listen: required: HOST:PORT" in out.stderr and "nothing started" in out.stderr


@pytest.mark.parametrize("text", ["8481", "host:", "h:0", "h:70000", ""])
def test_listen_must_be_host_and_port(text):
    with pytest.raises(ValueError):
        parse_listen(text)


def test_the_relays_config_problems_are_said_in_chinese(tmp_path):
    # listen, the TLS pair, the export folders, the collector and the spool size were English in a Chinese run
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    (one / "lone.key").write_text("not a key\n")
    (two / "lone.crt").write_text("not a certificate\n")
    bad = _write(one, "site: s1\nlisten: nowhere\ntls_cert: gone.crt\ntls_key: lone.key\n"
                           "export: {dir: /nonexistent, inbox: /nonexistent-in}\nspool_max_bytes: lots\n")
    pair = _write(two, "site: s1\nlisten: 0.0.0.0:8481\ntls_cert: lone.crt\nexport: [out]\n"
                            "collector: {url: 'https://c.example:8480', token_file: TOKEN}\n")
    said = {}
    for lang in ("zh_CN.UTF-8", "C.UTF-8"):
        for path in (bad, pair):
            out = subprocess.run([sys.executable, "-m", "agent", "relay", "--config", str(path)], capture_output=True,
                                 text=True, timeout=60, env={**os.environ, "LANG": lang, "LC_ALL": "",
                                                             "WARDROUND_LANG": ""})
            assert out.returncode == 2, out.stderr
            said[lang, path] = out.stderr
    zh = said["zh_CN.UTF-8", bad] + said["zh_CN.UTF-8", pair]
    for line in ("relay.yaml: listen: 必填：采集代理发送到的 HOST:PORT，例如 0.0.0.0:8481（收到 'nowhere'）",
                 f"relay.yaml: tls_cert: 应为可读的 PEM 文件（{one / 'gone.crt'}）",
                 "relay.yaml: export.dir: 应为已存在的目录（/nonexistent）",
                 "relay.yaml: export.inbox: 应为已存在的目录（/nonexistent-in）",
                 "relay.yaml: collector: 必填：url 和 token_file（中继令牌，它也为摆渡数据包签名）",
                 "relay.yaml: spool_max_bytes: 应为大小，如 2GiB，或字节数（收到 'lots'）",
                 "relay.yaml: tls_key: tls_cert 和 tls_key 须一起使用",
                 "relay.yaml: export: 应为 {dir: DIR, every: 5m}（收到 ['out']）"):
        assert line in zh, zh
    en = said["C.UTF-8", bad] + said["C.UTF-8", pair]
    for line in ("relay.yaml: listen: required: HOST:PORT the agents send to, e.g. 0.0.0.0:8481 (got 'nowhere')",
                 f"relay.yaml: tls_cert: expected a readable PEM file ({one / 'gone.crt'})",
                 "relay.yaml: export.dir: expected an existing directory (/nonexistent)",
                 "relay.yaml: export.inbox: expected an existing directory (/nonexistent-in)",
                 "relay.yaml: collector: required: url and token_file (the relay token, which also signs ferry "
                 "bundles)",
                 "relay.yaml: spool_max_bytes: expected a size like 2GiB or a number of bytes (got 'lots')",
                 "relay.yaml: tls_key: tls_cert and tls_key go together",
                 "relay.yaml: export: expected {dir: DIR, every: 5m} (got ['out'])"):
        assert line in en, en


def test_a_certificate_and_key_that_do_not_load_are_said_in_chinese(tmp_path):
    (tmp_path / "c.crt").write_text("not a certificate\n")
    (tmp_path / "c.key").write_text("not a key\n")
    path = _write(tmp_path, "site: s1\nlisten: 0.0.0.0:8481\ntls_cert: c.crt\ntls_key: c.key\n"
                            "collector: {url: 'https://c.example:8480', token_file: TOKEN}\n")
    out = subprocess.run([sys.executable, "-m", "agent", "relay", "--config", str(path)], capture_output=True,
                         text=True, timeout=60, env={**os.environ, "LANG": "zh_CN.UTF-8", "LC_ALL": "",
                                                     "WARDROUND_LANG": ""})
    assert out.returncode == 2 and "relay.yaml: tls_cert: 应为 PEM 证书及其私钥（" in out.stderr, out.stderr
