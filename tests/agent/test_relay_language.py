"""The relay's refusals carry a message key beside the English ``detail`` (as the collector's do,
collector.errors.said_body): an agent says them in its reader's language (agent.http.said_reason)."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from agent.http import said_reason
from agent.relay import Relay, hash_token
from agent.relay_config import load_relay_config
from agent.relay_http import make_server
from checks.messages.reader import told
from tests.agent.helpers import said_both, serve_in_thread
from tests.agent.test_relay_config import _write
from tests.e2e.relay import post, results


@contextlib.contextmanager
def _serving(tmp_path, export: bool = True, collector: str = "https://collector.example:8480",
             **changes: object) -> Iterator[str]:
    """A relay of site central-hospital (writing bundles for a file gateway unless not ``export``) on a free port:
    its URL; ``changes``: to its config."""
    (tmp_path / "out").mkdir(exist_ok=True)
    config = load_relay_config(_write(tmp_path, (
        "site: central-hospital\nlisten: 127.0.0.1:8481\n"
        f"collector: {{url: {collector}, token_file: TOKEN}}\nspool: relay.db\n")),
        export_dir=str(tmp_path / "out") if export else None)
    relay = Relay(dataclasses.replace(config, listen_port=0, **changes))  # a free port
    server = make_server(relay)
    serve_in_thread(server)
    relay.tokens.replace({"tokens": [{"hash": hash_token("wra_good"), "host": "db-01", "also_hosts": ["db-02"]}]})
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        relay.spool.close()


@pytest.fixture
def relay_url(tmp_path):
    with _serving(tmp_path) as url:
        yield url


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
    assert said_both(answer, monkeypatch) == (chinese, english)


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


def _asked(url: str, method: str, path: str, body: bytes | None = None, token: str = "wra_good",
           length: int | None = None) -> tuple[int, dict[str, object]]:
    """(status, answer) of one request; ``length``: a Content-Length header that is not the body's."""
    conn = http.client.HTTPConnection(urlsplit(url).hostname, urlsplit(url).port, timeout=10)
    try:
        conn.putrequest(method, path)
        conn.putheader("Authorization", f"Bearer {token}")
        conn.putheader("Content-Length", str(len(body or b"") if length is None else length))
        conn.endheaders(body)
        got = conn.getresponse()
        return got.status, json.loads(got.read())
    finally:
        conn.close()


def test_the_relays_rarer_refusals_are_said_in_the_readers_language(relay_url, monkeypatch):
    asked = {  # what was sent: (status, English as it always was, Chinese)
        ("POST", "/api/v1/result", b"{}", None): (
            404, "this relay serves /api/v1/results, /api/v1/enrol and /api/v1/agent/config, not /api/v1/result",
            "此中继只服务 /api/v1/results、/api/v1/enrol 和 /api/v1/agent/config，不服务 /api/v1/result"),
        ("GET", "/api/v1/tickets", None, None): (
            404, "not served by this relay: /api/v1/tickets", "此中继不服务此路径：/api/v1/tickets"),
        ("POST", "/api/v1/results", b'{"results": {}}', None): (
            422, 'expected a JSON object {"results": [...]}', '应为 JSON 对象 {"results": [...]}'),
        ("POST", "/api/v1/enrol", b"", 10**9): (413, "body too large", "请求体太大"),
        ("GET", "/api/v1/agent/token", None, None): (
            503, "this relay writes bundles for a file gateway: it does not reach the collector (enrol with "
            "`wardround-collector token create`; configs come in sync bundles)",
            "此中继为网闸写出数据包：它连不到采集端（请用 `wardround-collector token create` 注册；"
            "配置随同步数据包送达）"),
    }
    for (method, path, body, length), (status, english, chinese) in asked.items():
        got, answer = _asked(relay_url, method, path, body, length=length)
        assert (got, answer["detail"]) == (status, english), path
        assert said_both(answer, monkeypatch) == (chinese, english), path


def test_a_full_spool_and_an_unreachable_collector_are_said_in_the_readers_language(tmp_path, monkeypatch):
    with _serving(tmp_path, export=False, collector="http://127.0.0.1:9", spool_max_bytes=1) as url:
        assert post(url, "wra_good", results(1, "db-01", site="central-hospital"))[0] == 200
        status, answer = post(url, "wra_good", results(1, "db-01", site="central-hospital"))
        assert status == 503
        used = str(answer["detail"]).split("(")[1].split(" ")[0]
        english = (f"the relay's spool is full ({used} bytes of spool_max_bytes 1): the collector has not taken "
                   "results for a while; keep them and retry")
        assert answer["detail"] == english
        assert said_both(answer, monkeypatch) == (
            f"中继的暂存库已满（{used} 字节，spool_max_bytes 为 1）：采集端已有一段时间没有取走结果；"
            "请保留这些结果并稍后重试",
            english)
        status, answer = _asked(url, "GET", "/api/v1/agent/token")
        assert status == 503 and str(answer["detail"]).startswith("the relay cannot reach the collector now: ")
        zh, en = said_both(answer, monkeypatch)
        assert en == answer["detail"] and zh.startswith("中继现在连不上采集端：") and "cannot" not in zh, zh
