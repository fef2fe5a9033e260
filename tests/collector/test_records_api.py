"""``/api/v1/records`` over HTTP: roles, issue, read in every format, sign, verify, bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from collector.app import create_app
from collector.auth import create_user
from collector.config import Settings
from collector.records.service import Records
from tests.collector.records_data import DAY, SITE, ZONE, fill_site
from tests.conftest import missing

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=ZONE)


@pytest.fixture
def api(tmp_path: Any, sqlite_template: Any) -> Any:
    import shutil

    from collector.store.db import make_engine
    path = tmp_path / "w.db"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    fill_site(engine)
    app = create_app(Settings(db_url=f"sqlite:///{path}"), engine=engine)
    app.state.services.records = Records(engine, clock=lambda: NOW.astimezone(UTC))
    viewer = {"Authorization": f"Bearer {create_user(engine, name='vera', role='viewer')}"}
    engineer = {"Authorization": f"Bearer {create_user(engine, name='li', role='engineer')}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, viewer, engineer, engine
    engine.dispose()


def test_engineer_issues_and_viewer_reads_every_format_when_tokens_are_valid(api: Any) -> None:
    client, viewer, engineer, _ = api
    r = client.post("/api/v1/records", json={"site": SITE, "kind": "daily", "date": DAY, "language": "en"},
                    headers=engineer)
    assert r.status_code == 201, r.text
    doc = r.json()
    rid = doc["id"]
    assert doc["verified"] is True and len(doc["digest"]) == 64
    assert doc["content"]["header"]["inspector"] == "li"
    assert doc["period"] == {"from": DAY, "to": DAY}
    got = client.get(f"/api/v1/records/{rid}", headers=viewer)
    assert got.status_code == 200 and got.json()["content"] == doc["content"]
    html = client.get(f"/api/v1/records/{rid}.html", headers=viewer)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert doc["digest"] in html.text
    csv = client.get(f"/api/v1/records/{rid}.csv", headers=viewer)
    assert csv.status_code == 200 and csv.content.startswith(b"\xef\xbb\xbf")
    assert 'filename="record-' in csv.headers["content-disposition"]
    pdf = client.get(f"/api/v1/records/{rid}.pdf", headers=viewer)
    if pdf.status_code == 503:
        missing("fonts for PDF records", pdf.json()["detail"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert pdf.headers["x-record-digest"] == doc["digest"]
    listed = client.get("/api/v1/records", params={"site": SITE, "kind": "daily", "from": DAY, "to": DAY},
                        headers=viewer)
    assert [x["id"] for x in listed.json()["records"]] == [rid]
    later = client.get("/api/v1/records", params={"from": "2026-11-23"}, headers=viewer)
    assert later.json()["records"] == []


def test_sign_appends_and_verify_reports_tampering_when_the_content_column_is_changed(api: Any) -> None:
    client, viewer, engineer, engine = api
    body = {"site": SITE, "kind": "daily", "period": {"from": DAY, "to": DAY}}
    rid = client.post("/api/v1/records", json=body, headers=engineer).json()["id"]
    r = client.post(f"/api/v1/records/{rid}/sign",
                    json={"signer": "王主任", "role": "customer", "note": "已核对"}, headers=engineer)
    assert r.status_code == 201 and r.json()["signatures"][0]["signer"] == "王主任"
    assert r.json()["signatures"][0]["signed_by"] == "li"
    assert client.get(f"/api/v1/records/{rid}/verify", headers=viewer).json()["verified"] is True
    with engine.begin() as conn:
        conn.execute(text("UPDATE records SET content = REPLACE(content, '\"normal\"', '\"abnormal\"') "
                          "WHERE id = :id"), {"id": rid})
    v = client.get(f"/api/v1/records/{rid}/verify", headers=viewer).json()
    assert v["verified"] is False and v["signatures"][0]["matches"] is False
    assert client.get(f"/api/v1/records/{rid}", headers=viewer).json()["verified"] is False
    assert client.get(f"/api/v1/records/{rid}.html", headers=viewer).headers["x-record-verified"] == "false"
    again = client.post(f"/api/v1/records/{rid}/sign", json={"signer": "x", "role": "engineer"},
                        headers=engineer)
    assert again.status_code == 422 and "verification" in again.json()["detail"]


def test_roles_and_bad_input_get_clear_4xx_when_sent(api: Any) -> None:
    client, viewer, engineer, _ = api
    assert client.get("/api/v1/records").status_code == 401
    r = client.post("/api/v1/records", json={"site": SITE, "kind": "daily"}, headers=viewer)
    assert r.status_code == 403
    bad = [
        (b"not json", "JSON"), (b"[1]", "object"), (b'{"kind": "daily"}', "site"),
        (b'{"site": "central-hospital", "kind": "daily", "colour": 1}', "colour"),
        (b'{"site": "central-hospital", "kind": "yearly"}', "kind"),
        (b'{"site": "central-hospital", "kind": "daily", "date": "x", "period": "y"}', "not both"),
        (b'{"site": "central-hospital", "kind": "daily", "period": {"from": "2026-11-22"}}', "from and to"),
        (b'{"site": "central-hospital", "kind": "daily", "period": 5}', "period"),
    ]
    for body, message in bad:
        r = client.post("/api/v1/records", content=body,
                        headers={**engineer, "Content-Type": "application/json"})
        assert r.status_code == 422, (body, r.text)
        assert message in str(r.json()["detail"]), (body, r.text)
    assert client.get("/api/v1/records/12345", headers=viewer).status_code == 404
    assert client.get("/api/v1/records/1.docx", headers=viewer).status_code == 404
    assert client.get("/api/v1/records", params={"kind": "hourly"}, headers=viewer).status_code == 422
    assert client.get("/api/v1/records", params={"from": "22-11-2026"}, headers=viewer).status_code == 422
    r = client.post("/api/v1/records/1/sign", json={"signer": "a", "role": "engineer"}, headers=engineer)
    assert r.status_code == 404
    rid = client.post("/api/v1/records", json={"site": SITE, "kind": "daily"}, headers=engineer).json()["id"]
    r = client.post(f"/api/v1/records/{rid}/sign", json={"signer": "", "role": "engineer"}, headers=engineer)
    assert r.status_code == 422 and "signer" in r.json()["detail"]
    r = client.post(f"/api/v1/records/{rid}/sign", json={"signer": "a"}, headers=engineer)
    assert r.status_code == 422 and "role" in r.json()["detail"]
