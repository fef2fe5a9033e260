"""The relay's refusals carry a message key beside the English ``detail`` (as the collector's do,
collector.errors.said_body): an agent says them in its reader's language (agent.http.said_reason)."""

from __future__ import annotations

import dataclasses
import json
import threading
import urllib.error
import urllib.request

import pytest

from agent.http import said_reason
from agent.relay import Relay, hash_token
from agent.relay_config import load_relay_config
from agent.relay_http import make_server
from checks.messages.reader import told
from tests.agent.test_relay_config import _write
from tests.e2e.relay import post, results


@pytest.fixture
def relay_url(tmp_path):
    (tmp_path / "out").mkdir()
    config = load_relay_config(_write(tmp_path, (
        "site: central-hospital\nlisten: 127.0.0.1:8481\n"
        "collector: {url: https://collector.example:8480, token_file: TOKEN}\nspool: relay.db\n")),
        export_dir=str(tmp_path / "out"))
    relay = Relay(dataclasses.replace(config, listen_port=0))  # a free port
    server = make_server(relay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    relay.tokens.replace({"tokens": [{"hash": hash_token("wra_good"), "host": "db-01", "also_hosts": ["db-02"]}]})
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    relay.spool.close()


def _refused(url: str, token: str | None) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(f"{url}/api/v1/agent/config")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    raise AssertionError("the relay took an unknown token")


@pytest.mark.parametrize(("token", "english", "chinese"), [
    ("wra_unknown", "unknown or revoked agent token (this relay knows its site's tokens)",
     "采集代理令牌未知或已吊销（此中继只认得本站点的令牌）"),
    ("wrr_relay", "a relay token is not an agent token", "中继令牌不是采集代理令牌"),
    (None, "missing token: send Authorization: Bearer <agent token>",
     "缺少令牌：请以 Authorization: Bearer 发送采集代理令牌"),
])
def test_the_relays_401s_are_said_in_the_readers_language(relay_url, monkeypatch, token, english, chinese):
    status, answer = _refused(relay_url, token)
    assert status == 401 and answer["detail"] == english  # the English detail as it always was
    monkeypatch.setenv("WARDROUND_LANG", "zh_CN")
    assert told(said_reason(answer)) == chinese
    monkeypatch.setenv("WARDROUND_LANG", "en")
    assert told(said_reason(answer)) == english


def test_the_relays_refusal_of_a_foreign_batch_or_a_body_not_json_is_said_in_the_readers_language(
        relay_url, monkeypatch):
    status, answer = post(relay_url, "wra_good", results(1, "lis-01", site="central-hospital"))
    assert status == 403 and answer["detail"] == (
        "this relay serves site central-hospital; this agent token writes for central-hospital/db-01 (and db-02) "
        "only, not for central-hospital/lis-01")
    monkeypatch.setenv("WARDROUND_LANG", "zh_CN")
    assert told(said_reason(answer)) == (
        "此中继服务站点 central-hospital；此采集代理令牌只能写入 central-hospital/db-01（及 db-02），"
        "不能写入 central-hospital/lis-01")
    request = urllib.request.Request(f"{relay_url}/api/v1/results", data=b"{nope", method="POST",
                                     headers={"Authorization": "Bearer wra_good"})
    with pytest.raises(urllib.error.HTTPError) as got:
        urllib.request.urlopen(request, timeout=10)
    answer = json.loads(got.value.read())
    assert got.value.code == 422 and answer["detail"].startswith("the body is not JSON: ")
    assert told(said_reason(answer)).startswith("请求体不是 JSON：")
