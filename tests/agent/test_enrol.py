"""``wardround-agent enrol`` writes a config the agent reads as the person meant it."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agent.config import load_config
from agent.enrol import EnrolRequest, enrol


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
    threading.Thread(target=server.serve_forever, daemon=True).start()
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
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(EnrolFailed, match=r"HTTP 404.*check --url"):
            enrol(EnrolRequest(url=f"http://127.0.0.1:{server.server_address[1]}/wardround", key="wre_x",
                               config=tmp_path / "agent.yaml", host="his-db-01"))
    finally:
        server.shutdown()
        server.server_close()
    assert not (tmp_path / "agent.yaml").exists()
