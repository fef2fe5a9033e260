"""The relay's config: every problem at once as FILE: key: expected, exit code 2, nothing started."""

from __future__ import annotations

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
