"""/openapi.json and /docs: served to people only, and typing every body and every error (collector/api/openapi.py)."""

from __future__ import annotations

import re

import pytest

from collector.auth import create_user
from collector.web.sessions import COOKIE


@pytest.fixture
def viewer_token(engine):
    return create_user(engine, name="vera", role="viewer")


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc"])
def test_api_description_is_refused_with_401_when_nobody_is_logged_in(client, path):
    r = client.get(path)
    if path == "/redoc":  # not served at all
        assert r.status_code == 404
        return
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    if path == "/openapi.json":
        assert r.json()["detail"]
    else:  # a page: the error page in the reader's language
        assert r.headers["content-type"].startswith("text/html") and "401" in r.text


def test_api_description_is_refused_with_403_when_the_token_is_an_agents(client, agent_headers):
    assert client.get("/openapi.json", headers=agent_headers).status_code == 403
    assert client.get("/openapi.json", headers={"Authorization": "Bearer wru_nope"}).status_code == 401


def test_api_description_is_served_to_a_person_by_token_or_by_the_pages_session(client, viewer_token):
    r = client.get("/openapi.json", headers={"Authorization": f"Bearer {viewer_token}"})
    assert r.status_code == 200 and r.json()["openapi"].startswith("3.")
    assert client.get("/docs").status_code == 401
    assert client.post("/login", data={"token": viewer_token}, follow_redirects=False).status_code == 303
    assert COOKIE in client.cookies
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text and "/openapi.json" in docs.text
    assert client.get("/openapi.json").json() == r.json()  # what Swagger UI fetches with the cookie


def test_docs_load_swagger_ui_from_the_collector_not_a_cdn_when_logged_in(client, viewer_token):
    assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 401
    client.post("/login", data={"token": viewer_token}, follow_redirects=False)
    docs = client.get("/docs").text
    assert not re.search(r'(src|href)="(https?:)?//', docs)  # nothing from elsewhere: closed networks
    for name, kind in (("swagger-ui-bundle.js", "text/javascript"), ("swagger-ui.css", "text/css"),
                       ("favicon-32x32.png", "image/png")):
        assert f"/docs/assets/{name}" in docs
        r = client.get(f"/docs/assets/{name}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind) and len(r.content) > 500
    assert "SwaggerUIBundle" in client.get("/docs/assets/swagger-ui-bundle.js").text
    assert client.get("/docs/assets/..%2Fsecret").status_code == 404
    assert client.get("/docs/assets/index.html").status_code == 404


def test_every_operation_types_its_bodies_and_documents_its_errors(client, viewer_token):
    doc = client.get("/openapi.json", headers={"Authorization": f"Bearer {viewer_token}"}).json()
    schemas = doc["components"]["schemas"]
    problems = []
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            where = f"{method.upper()} {path}"
            responses = op["responses"]
            for status, answer in responses.items():
                schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
                if answer.get("content", {}).get("application/json") is not None and "$ref" not in schema:
                    problems.append(f"{where} {status}: untyped JSON answer {schema}")
                ref = schema.get("$ref", "")
                if ref and ref.rsplit("/", 1)[-1] not in schemas:
                    problems.append(f"{where} {status}: {ref} is not in components")
            if path.startswith("/api/"):
                missing = {"401", "403", "503"} - set(responses)
                if op.get("parameters"):
                    missing |= {"422"} - set(responses)
                if method == "post":
                    missing |= {"413", "415", "422"} - set(responses)
                    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
                    if "$ref" not in body.get("schema", {}):
                        problems.append(f"{where}: request body not typed")
                if missing:
                    problems.append(f"{where}: errors not documented: {sorted(missing)}")
                if op.get("security") != [{"bearer": []}]:
                    problems.append(f"{where}: no bearer security")
    assert not problems, "\n".join(problems)
    assert schemas["ResultBatch"]["properties"]["results"]["items"] == {"$ref": "#/components/schemas/WireResult"}
