"""``wardround-agent enrol`` writes a config the agent reads as the person meant it."""

from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agent.config import load_config
from agent.enrol import EnrolRequest, enrol
from tests.agent.helpers import serve_in_thread


class _Enrols(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"token": "wra_test", "site": "central-hospital", "host": "his-db-01"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


def test_a_relative_spool_path_is_taken_from_where_enrol_ran_not_from_the_configs_folder(tmp_path, monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Enrols)
    serve_in_thread(server)
    try:
        monkeypatch.chdir(tmp_path)
        (tmp_path / "agent").mkdir()
        enrol(EnrolRequest(url=f"http://127.0.0.1:{server.server_address[1]}", key="wre_x",
                           config=Path("agent/agent.yaml"), host="his-db-01", spool="agent/spool.db"))
    finally:
        server.shutdown()
        server.server_close()
    assert load_config(tmp_path / "agent" / "agent.yaml").spool == str(tmp_path / "agent" / "spool.db")


class _NotHere(_Enrols):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.send_error(404)


def test_a_url_with_a_path_the_collector_lacks_is_refused_with_a_hint_to_check_it(tmp_path):
    from agent.enrol import EnrolFailed

    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotHere)
    serve_in_thread(server)
    try:
        with pytest.raises(EnrolFailed, match=r"HTTP 404.*check --url"):
            enrol(EnrolRequest(url=f"http://127.0.0.1:{server.server_address[1]}/wardround", key="wre_x",
                               config=tmp_path / "agent.yaml", host="his-db-01"))
    finally:
        server.shutdown()
        server.server_close()
    assert not (tmp_path / "agent.yaml").exists()


def test_a_tls_failure_names_the_options_typed_to_enrol_not_the_config_keys(tmp_path):
    import ssl

    from agent.enrol import EnrolFailed
    from tests.agent.helpers import FakeCollector
    from tests.agent.test_sender import _self_signed

    cert, key = _self_signed(tmp_path, "collector")  # valid for IP 127.0.0.1 only
    other, _ = _self_signed(tmp_path, "someone-else")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    fake = FakeCollector().start(tls=tls)
    said = []
    try:
        for url, ca_file in ((fake.url, other), (fake.url.replace("127.0.0.1", "localhost"), cert)):
            with pytest.raises(EnrolFailed) as caught:
                enrol(EnrolRequest(url=url, key="wre_x", config=tmp_path / "agent.yaml", host="his-db-01",
                                   ca_file=str(ca_file)))
            said.append(str(caught.value))
    finally:
        fake.stop()
    assert "TLS certificate verification failed" in said[0] and said[0].endswith("check --ca-file")
    assert "the host name in --url must be one the collector's certificate names" in said[1]
    assert not any("collector." in s for s in said), said
    assert not (tmp_path / "agent.yaml").exists()


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_the_collectors_refusal_is_told_in_the_readers_language(tmp_path, monkeypatch, lang):
    # an expired or used-up enrolment key is the commonest failure when rolling out a server; the
    # collector's English reason stood inside the Chinese line
    from agent.enrol import EnrolFailed
    from checks.messages.reader import cli_said, tell_error
    from collector.enrol import EnrolError
    from collector.errors import refusal

    command = "wardround-collector enrol-key create --site central-hospital"
    body = json.dumps(refusal(EnrolError(cli_said("cli.enrol.expired", at="2026-12-01T00:00:00.000000Z",
                                                  command=command), 403))).encode()

    class _Expired(_Enrols):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Expired)
    serve_in_thread(server)
    monkeypatch.setenv("WARDROUND_LANG", lang)
    try:
        with pytest.raises(EnrolFailed) as caught:
            enrol(EnrolRequest(url=f"http://127.0.0.1:{server.server_address[1]}", key="wre_x",
                               config=tmp_path / "agent.yaml", host="his-db-01"))
    finally:
        server.shutdown()
        server.server_close()
    english = ("the collector refused the enrolment (HTTP 403): this enrolment key expired at "
               f"2026-12-01T00:00:00.000000Z: make a new one with {command}")
    assert str(caught.value) == english  # the log's words
    assert tell_error(caught.value) == (english if lang == "en" else
                                        "采集端拒绝了注册（HTTP 403）：此注册密钥已于 2026-12-01T00:00:00.000000Z "
                                        f"过期：请用 {command} 新建一个")


@pytest.mark.parametrize(("given", "told_to_give"), [(True, False), (False, True)])
def test_a_bad_host_name_is_blamed_on_this_machine_only_when_no_host_was_given(tmp_path, given, told_to_give):
    from agent.enrol import EnrolUsage

    with pytest.raises(EnrolUsage) as refused:
        enrol(EnrolRequest(url="http://127.0.0.1:1", key="wre_x", config=tmp_path / "agent.yaml", host="web 02",
                           host_given=given))
    text = str(refused.value)
    assert text.startswith("--host: expected 1-64 letters, digits, '.', '_' or '-' (starting with a letter or digit) "
                           "(got 'web 02')")
    assert ("this machine's name does not fit: give --host NAME" in text) is told_to_give


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="enrol --user needs root")
def test_root_enrolling_for_the_services_user_is_not_warned_that_the_token_is_not_roots(tmp_path, caplog):
    # docs/deploy.md: sudo wardround-agent enrol ... --user wardround; the token file is wardround's on
    # purpose, so "belongs to uid 995, not to the agent's user (uid 0): chown it" was wrong advice
    import pwd

    nobody = pwd.getpwnam("nobody")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Enrols)
    serve_in_thread(server)
    try:
        enrol(EnrolRequest(url=f"http://127.0.0.1:{server.server_address[1]}", key="wre_x",
                           config=tmp_path / "agent.yaml", host="his-db-01", spool=str(tmp_path / "spool.db"),
                           user="nobody"))
    finally:
        server.shutdown()
        server.server_close()
    assert {(tmp_path / n).stat().st_uid for n in ("agent.yaml", "agent.token")} == {nobody.pw_uid}
    assert "belongs to uid" not in caplog.text
    load_config(tmp_path / "agent.yaml")  # root reading it later: its own user is told
    assert f"belongs to uid {nobody.pw_uid}, not to the agent's user (uid 0)" in caplog.text
