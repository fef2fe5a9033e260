"""The fleet on both databases: enrolment keys, the inventory, the fleet file, token and user lifecycle."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from collector import credentials, enrol, fleet, inventory
from collector.auth import Agent, authenticate, create_agent_token, create_user
from collector.store.db import make_engine, reading, writing
from collector.store.tables import agent_tokens, audit_log, enrol_keys, fleet_hosts
from tests.collector.conftest import HOST, SITE, make_result

FLEET = b"""
templates:
  base-linux:
    - {check: disk, every: 5m, params: {warn: 80, crit: 90}}
    - {check: system, every: 1m}
  his-db:
    - {check: db_backup, every: 15m, params: {engine: sqlserver, dsn: "Driver=x;Server=db", password_file: /etc/pw}}
assign:
  - {templates: [base-linux]}
  - {role: his-db, templates: [his-db]}
  - {site: central-hospital, host: his-db-01, templates: [his-db]}
"""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def enrol_body(host: str = "new-01", **extra: object) -> dict[str, object]:
    return {"host": host, "roles": [], "facts": {"os": "Linux", "os_version": "Debian 12", "ips": ["10.1.2.3"],
                                                 "agent_version": "0.1.0"}, **extra}


def actions(engine: object) -> list[tuple[str, str, str]]:
    with reading(engine) as conn:  # type: ignore[arg-type]
        return [(r.action, r.outcome, r.target) for r in conn.execute(select(audit_log).order_by(audit_log.c.seq))]


# -- enrolment --------------------------------------------------------------------------------

def test_enrolment_answers_a_working_token_once_and_puts_the_host_in_the_inventory(client, engine):
    key = enrol.create_key(engine, site=SITE, roles=["his-db"])
    r = client.post("/api/v1/enrol", json=enrol_body(roles=["linux"]), headers=bearer(key))
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["site"] == SITE and answer["host"] == "new-01" and answer["approval"] == "approved"
    assert answer["roles"] == ["his-db", "linux"]
    token = answer["token"]
    assert authenticate(engine, token) == Agent(site=SITE, host="new-01")
    hosts = {h["host"]: h for h in inventory.list_hosts(engine, SITE)}
    assert hosts["new-01"]["never_reported"] is True and hosts["new-01"]["facts"]["os_version"] == "Debian 12"
    assert hosts["new-01"]["enrolled_via"].startswith("key ")
    # single use: the same key again is refused, nothing else changes
    again = client.post("/api/v1/enrol", json=enrol_body("new-02"), headers=bearer(key))
    assert again.status_code == 403 and "used up (1 of 1 uses)" in again.json()["detail"]
    # ... and says why with a key, so the agent's enrol tells it in its reader's language
    assert again.json()["message"] == {"key": "cli.enrol.used_up", "args": {
        "uses": 1, "max_uses": 1, "command": f"wardround-collector enrol-key create --site {SITE}"}}
    assert "new-02" not in {h["host"] for h in inventory.list_hosts(engine, SITE)}
    assert ("host.enrol", "ok", f"host:{SITE}/new-01") in actions(engine)
    assert ("host.enrol", "failed", f"host:{SITE}/new-02") in actions(engine)


def test_a_key_of_another_site_is_refused_through_a_relay_and_spends_no_use(client, engine):
    # a site relay passes enrolment on with Wardround-Relay-Site: a host enrolled into another site there
    # would meet 401 at that relay for ever (it knows its own site's tokens only)
    key = enrol.create_key(engine, site="other-hospital")
    r = client.post("/api/v1/enrol", json=enrol_body(), headers={**bearer(key), "Wardround-Relay-Site": SITE})
    assert r.status_code == 403 and "other-hospital" in r.json()["detail"] and SITE in r.json()["detail"]
    assert r.json()["message"]["key"] == "cli.enrol.other_site"
    assert enrol.list_keys(engine, "other-hospital")[0]["uses"] == 0
    assert ("host.enrol", "failed", "host:other-hospital/new-01") in actions(engine)
    same = client.post("/api/v1/enrol", json=enrol_body(), headers={**bearer(key), "Wardround-Relay-Site":
                                                                     "other-hospital"})
    assert same.status_code == 200, same.text


@pytest.mark.parametrize(("key", "status", "words"), [
    ("wre_forged-key-that-nobody-made", 401, "unknown enrolment key"),
    ("not-even-a-key", 401, "unknown enrolment key"),
])
def test_a_forged_key_is_refused_with_401_when_enrolling(client, engine, key, status, words):
    r = client.post("/api/v1/enrol", json=enrol_body(), headers=bearer(key))
    assert r.status_code == status and words in r.json()["detail"]
    assert inventory.list_hosts(engine) == []


def test_an_expired_or_revoked_key_is_refused_saying_which(client, engine):
    expired = enrol.create_key(engine, site=SITE, uses=5)
    with writing(engine) as conn:
        conn.execute(update(enrol_keys).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    r = client.post("/api/v1/enrol", json=enrol_body(), headers=bearer(expired))
    assert r.status_code == 403 and "expired at" in r.json()["detail"]
    revoked = enrol.create_key(engine, site=SITE, uses=5)
    enrol.revoke_key(engine, 2)
    r = client.post("/api/v1/enrol", json=enrol_body(), headers=bearer(revoked))
    assert r.status_code == 403 and "revoked" in r.json()["detail"]
    assert client.post("/api/v1/enrol", json=enrol_body()).status_code == 401


@pytest.mark.parametrize("host", ["his db 01", "../etc", "x" * 65, "", "漢字", "-lead", None, 7])
def test_a_host_name_with_odd_characters_is_refused_with_422_and_spends_no_use(client, engine, host):
    key = enrol.create_key(engine, site=SITE)
    r = client.post("/api/v1/enrol", json=enrol_body(host=host), headers=bearer(key))  # type: ignore[arg-type]
    detail = str(r.json()["detail"])
    assert r.status_code == 422 and "host" in detail
    if isinstance(host, str) and len(host) < 255:
        assert "host: expected 1-64 letters" in detail
    assert client.post("/api/v1/enrol", json=enrol_body(), headers=bearer(key)).status_code == 200


@pytest.mark.parametrize("body", [b"not json", b"[1]", b'{"host": "a", "colour": 1}', b'{"host": "a", "roles": "x"}',
                                  b'{"host": "a", "replace": "yes"}'])
def test_a_malformed_enrolment_body_is_422_never_500(client, engine, body):
    key = enrol.create_key(engine, site=SITE)
    r = client.post("/api/v1/enrol", content=body, headers=bearer(key))
    assert r.status_code == 422, r.text


def test_a_host_enrolled_already_is_refused_unless_replace_which_revokes_the_old_token(client, engine):
    key = enrol.create_key(engine, site=SITE, uses=3)
    first = client.post("/api/v1/enrol", json=enrol_body(), headers=bearer(key)).json()["token"]
    r = client.post("/api/v1/enrol", json=enrol_body(), headers=bearer(key))
    assert r.status_code == 409 and "--replace" in r.json()["detail"]
    assert authenticate(engine, first) is not None
    r = client.post("/api/v1/enrol", json=enrol_body(replace=True), headers=bearer(key))
    assert r.status_code == 200
    assert authenticate(engine, first) is None and authenticate(engine, r.json()["token"]) is not None
    assert [k["uses"] for k in enrol.list_keys(engine)] == [2]  # the refused one spent nothing


def test_manual_approval_holds_results_with_403_until_approved(client, engine):
    key = enrol.create_key(engine, site=SITE, approve="manual")
    token = client.post("/api/v1/enrol", json=enrol_body(host=HOST), headers=bearer(key)).json()["token"]
    r = client.post("/api/v1/results", json={"results": [make_result()]}, headers=bearer(token))
    assert r.status_code == 403 and r.json()["detail"].startswith("awaiting approval")
    assert f"host approve --site {SITE} --host {HOST}" in r.json()["detail"]
    assert client.get("/api/v1/agent/config", headers=bearer(token)).status_code == 403
    assert inventory.approve(engine, site=SITE, host=HOST) is True
    r = client.post("/api/v1/results", json={"results": [make_result()]}, headers=bearer(token))
    assert r.status_code == 200


def test_a_key_with_bad_arguments_is_refused_before_anything_is_stored(engine):
    for kwargs in ({"site": "bad site"}, {"site": SITE, "uses": 0}, {"site": SITE, "roles": ["a b"]},
                   {"site": SITE, "approve": "maybe"}, {"site": SITE, "expires": timedelta(days=400)}):
        with pytest.raises(enrol.EnrolError):
            enrol.create_key(engine, **kwargs)  # type: ignore[arg-type]
    assert enrol.list_keys(engine) == []


# -- the inventory ----------------------------------------------------------------------------

def test_a_token_made_by_hand_enrols_its_host_which_shows_as_never_reported(client, engine, viewer_headers):
    create_agent_token(engine, site=SITE, host="quiet-01")
    token = create_agent_token(engine, site=SITE, host=HOST)
    client.post("/api/v1/results", json={"results": [make_result()], "agent": {"config_version": "v3-abc"}},
                headers=bearer(token))
    hosts = {h["host"]: h for h in client.get("/api/v1/hosts", headers=viewer_headers).json()["hosts"]}
    assert hosts["quiet-01"]["never_reported"] is True and hosts["quiet-01"]["last_seen"] is None
    assert hosts["quiet-01"]["enrolled_via"] == "token"
    assert hosts[HOST]["config_version"] == "v3-abc" and hosts[HOST]["never_reported"] is False


def test_retire_revokes_the_hosts_tokens_and_hides_it_from_the_list(client, engine, viewer_headers):
    token = create_agent_token(engine, site=SITE, host=HOST)
    assert inventory.retire(engine, site=SITE, host=HOST)
    assert authenticate(engine, token) is None
    assert client.get("/api/v1/hosts", headers=viewer_headers).json()["hosts"] == []
    listed = client.get("/api/v1/hosts?retired=true", headers=viewer_headers).json()["hosts"]
    assert listed[0]["retired_at"] is not None
    with pytest.raises(credentials.CredentialNotFound, match="retired already"):
        inventory.retire(engine, site=SITE, host=HOST)
    assert ("host.retire", "ok", f"host:{SITE}/{HOST}") in actions(engine)


# -- the fleet file ---------------------------------------------------------------------------

def test_the_fleet_file_is_stored_versioned_and_serves_each_host_its_effective_checks(client, engine):
    version, new = fleet.apply(engine, FLEET, "fleet.yaml")
    assert (version, new) == (1, True)
    assert fleet.apply(engine, FLEET, "fleet.yaml") == (1, False)  # unchanged: no new version
    key = enrol.create_key(engine, site="central-hospital", roles=["his-db"])
    token = client.post("/api/v1/enrol", json=enrol_body(host="his-db-01"), headers=bearer(key)).json()["token"]
    r = client.get("/api/v1/agent/config", headers=bearer(token))
    assert r.status_code == 200
    got = r.json()
    assert got["version"] == 1 and got["templates"] == ["base-linux", "his-db"]  # his-db once, by role and host
    assert [c["check"] for c in got["checks"]] == ["disk", "system", "db_backup"]
    etag = r.headers["etag"]
    assert etag == f'"{got["etag"]}"' and got["etag"].startswith("v1-")
    assert client.get("/api/v1/agent/config", headers={**bearer(token), "If-None-Match": etag}).status_code == 304
    plain = create_agent_token(engine, site=SITE, host="his-app-01")
    other = client.get("/api/v1/agent/config", headers=bearer(plain)).json()
    assert [c["check"] for c in other["checks"]] == ["disk", "system"] and other["etag"] != got["etag"]
    v2 = FLEET.replace(b"warn: 80", b"warn: 75")
    assert fleet.apply(engine, v2, "fleet.yaml") == (2, True)
    again = client.get("/api/v1/agent/config", headers={**bearer(token), "If-None-Match": etag})
    assert again.status_code == 200 and again.json()["version"] == 2


def test_no_fleet_file_means_no_central_checks(client, engine, agent_headers):
    r = client.get("/api/v1/agent/config", headers=agent_headers)
    assert r.status_code == 200 and r.json()["checks"] == [] and r.json()["version"] == 0


@pytest.mark.parametrize(("change", "expected"), [
    (b"check: disk,", "templates.base-linux[0].check: expected a check name from the catalogue: unknown check 'dsik'"),
    (b"warn: 80", "templates.base-linux[0].params.warn: expected a number (got 'high')"),
    (b"every: 1m", "templates.base-linux[1].every: expected a duration like 30s, 5m, 26h, 7d (got '1 minute')"),
    (b"templates: [his-db]}\n  - {site", "assign[1].templates: no template named 'his_db'"),
    (b"password_file: /etc/pw", "templates.his-db[0].params.password: a password never goes in the fleet file"),
    (b"role: his-db,", "assign[1].colour: unknown key"),
])
def test_a_bad_fleet_file_is_refused_with_file_key_expected_and_the_stored_one_stays(engine, change, expected):
    fleet.apply(engine, FLEET, "fleet.yaml")
    replacement = {
        b"check: disk,": b"check: dsik,", b"warn: 80": b"warn: high", b"every: 1m": b"every: 1 minute",
        b"templates: [his-db]}\n  - {site": b"templates: [his_db]}\n  - {site",
        b"password_file: /etc/pw": b"password: s3cret", b"role: his-db,": b"role: his-db, colour: red,",
    }[change]
    with pytest.raises(fleet.FleetError) as err:
        fleet.apply(engine, FLEET.replace(change, replacement, 1), "fleet.yaml")
    assert any(line.startswith(f"fleet.yaml: {expected}") for line in err.value.problems), err.value.problems
    assert "s3cret" not in str(err.value)
    assert fleet.newest(engine)[0] == 1


def test_every_problem_of_a_fleet_file_is_reported_at_once(engine):
    bad = FLEET.replace(b"warn: 80", b"warn: high").replace(b"every: 1m", b"every: soon").replace(
        b"check: db_backup", b"check: db_bakup")
    with pytest.raises(fleet.FleetError) as err:
        fleet.apply(engine, bad, "fleet.yaml")
    assert len(err.value.problems) == 3, err.value.problems


def test_two_templates_that_would_give_a_host_two_checks_of_one_name_are_refused(engine):
    clash = FLEET.replace(b"- {check: db_backup,", b"- {check: disk, every: 1h}\n    - {check: db_backup,")
    with pytest.raises(fleet.FleetError) as err:
        fleet.apply(engine, clash, "fleet.yaml")
    assert any("assign[0] and assign[1]: a host matching both would get two checks named 'disk' "
               "(templates base-linux and his-db)" in p for p in err.value.problems), err.value.problems
    # rules that can never meet (two different sites) may reuse a name
    apart = b"""
templates:
  a: [{check: disk, every: 5m}]
  b: [{check: disk, every: 1h}]
assign:
  - {site: one, templates: [a]}
  - {site: two, templates: [b]}
"""
    assert fleet.apply(engine, apart, "fleet.yaml") == (1, True)


def test_a_huge_or_binary_fleet_file_is_refused_whole(engine):
    with pytest.raises(fleet.FleetError, match="larger than 1 MiB"):
        fleet.apply(engine, b"# " + b"x" * (1 << 20), "fleet.yaml")
    with pytest.raises(fleet.FleetError, match="not UTF-8"):
        fleet.apply(engine, b"\xff\xfe", "fleet.yaml")
    with pytest.raises(fleet.FleetError, match="given twice"):
        fleet.apply(engine, b"templates: {}\ntemplates: {}\n", "fleet.yaml")
    assert fleet.newest(engine) == (0, None)


# -- tokens and people ------------------------------------------------------------------------

def test_revocation_is_401_at_once_and_audited(client, engine):
    token = create_agent_token(engine, site=SITE, host=HOST)
    assert client.post("/api/v1/results", json={"results": [make_result()]}, headers=bearer(token)).status_code == 200
    assert credentials.revoke_token(engine, site=SITE, host=HOST)
    assert client.post("/api/v1/results", json={"results": [make_result()]}, headers=bearer(token)).status_code == 401
    with pytest.raises(credentials.CredentialNotFound):
        credentials.revoke_token(engine, site=SITE, host=HOST)
    assert ("token.revoke", "ok", f"token:{SITE}/{HOST}") in actions(engine)


def test_rotation_hands_the_new_token_to_the_holder_of_the_old_one_during_the_grace(client, engine):
    old = create_agent_token(engine, site=SITE, host=HOST, also_hosts=["nas-01"])
    done = credentials.rotate_token(engine, site=SITE, host=HOST, grace=timedelta(hours=1))
    r = client.post("/api/v1/results", json={"results": [make_result()]}, headers=bearer(old))
    assert r.status_code == 200 and "wardround-token-expires" in r.headers
    picked = client.get("/api/v1/agent/token", headers=bearer(old))
    assert picked.status_code == 200 and picked.json()["token"] == done.token
    new = authenticate(engine, done.token)
    assert isinstance(new, Agent) and new.also_hosts == frozenset({"nas-01"}) and new.expires_at is None
    r = client.post("/api/v1/results", json={"results": [make_result(host="nas-01")]}, headers=bearer(done.token))
    assert r.status_code == 200 and "wardround-token-expires" not in r.headers
    assert client.get("/api/v1/agent/token", headers=bearer(done.token)).status_code == 404
    # the sealed successor in the database is not the token
    with reading(engine) as conn:
        rows = conn.execute(select(agent_tokens)).all()
    assert all(done.token not in str(tuple(r)) for r in rows)


def test_the_old_token_stops_when_its_grace_ends(client, engine):
    old = create_agent_token(engine, site=SITE, host=HOST)
    credentials.rotate_token(engine, site=SITE, host=HOST, grace=timedelta(0))
    assert client.post("/api/v1/results", json={"results": [make_result()]}, headers=bearer(old)).status_code == 401


def test_a_disabled_person_and_an_old_person_token_stop_working_at_once(client, engine):
    admin = create_user(engine, name="ada", role="admin")
    vera = create_user(engine, name="vera", role="viewer")
    assert client.get("/api/v1/hosts", headers=bearer(vera)).status_code == 200
    r = client.post("/api/v1/users/vera/token", headers=bearer(admin))
    assert r.status_code == 200
    assert client.get("/api/v1/hosts", headers=bearer(vera)).status_code == 401
    assert client.get("/api/v1/hosts", headers=bearer(r.json()["token"])).status_code == 200
    assert client.post("/api/v1/users/vera/disable", headers=bearer(admin)).status_code == 200
    assert client.get("/api/v1/hosts", headers=bearer(r.json()["token"])).status_code == 401
    assert client.post("/api/v1/users/ada/disable", headers=bearer(admin)).status_code == 409
    assert client.post("/api/v1/users/nobody/disable", headers=bearer(admin)).status_code == 404
    users = {u["name"]: u["state"] for u in client.get("/api/v1/users", headers=bearer(admin)).json()["users"]}
    assert users == {"ada": "active", "vera": "disabled"}
    assert [a[0] for a in actions(engine)][-2:] == ["user.token", "user.disable"]


def test_the_admin_api_lists_revokes_and_rotates_tokens_and_refuses_others(client, engine, viewer_headers):
    admin = create_user(engine, name="ada", role="admin")
    create_agent_token(engine, site=SITE, host=HOST)
    listed = client.get("/api/v1/tokens", headers=bearer(admin)).json()["tokens"]
    assert [(t["site"], t["host"], t["state"]) for t in listed] == [(SITE, HOST, "active")]
    assert "token_hash" not in listed[0]
    assert client.get("/api/v1/tokens", headers=viewer_headers).status_code == 403
    r = client.post("/api/v1/tokens/rotate", json={"site": SITE, "host": HOST, "grace": "1h"}, headers=bearer(admin))
    assert r.status_code == 200 and r.json()["token"].startswith("wra_")
    assert client.post("/api/v1/tokens/rotate", json={"site": SITE, "host": HOST, "grace": "soon"},
                       headers=bearer(admin)).status_code == 422
    r = client.post("/api/v1/tokens/revoke", json={"site": SITE, "host": HOST}, headers=bearer(admin))
    assert r.status_code == 200 and len(r.json()["revoked"]) == 2
    assert client.post("/api/v1/tokens/revoke", json={"site": SITE, "host": HOST},
                       headers=bearer(admin)).status_code == 404
    r = client.post("/api/v1/enrol-keys", json={"site": SITE, "roles": ["web"], "uses": 2}, headers=bearer(admin))
    assert r.status_code == 200 and r.json()["key"].startswith("wre_")
    assert client.post("/api/v1/enrol-keys", json={"site": "a b"}, headers=bearer(admin)).status_code == 422
    r = client.post("/api/v1/fleet", json={"source": FLEET.decode()}, headers=bearer(admin))
    assert r.status_code == 200 and r.json() == {"version": 1, "new": True}
    r = client.post("/api/v1/fleet", json={"source": FLEET.decode().replace("warn: 80", "warn: high")},
                    headers=bearer(admin))
    assert r.status_code == 422 and any("params.warn: expected a number" in p["msg"] for p in r.json()["detail"])
    assert client.get("/api/v1/fleet", headers=viewer_headers).json()["fleet"]["version"] == 1
    with reading(engine) as conn:
        assert conn.execute(select(fleet_hosts.c.host)).scalars().all() == [HOST]


def test_two_databases_in_one_process_each_serve_their_own_fleet_file_of_the_same_version(engine, sqlite_template,
                                                                                          tmp_path):
    # the parsed file is kept per process: a version number is one database's, so another database's
    # v1 (a restored copy, or a command run in a process that saw another) must not be served from it
    shutil.copyfile(sqlite_template, tmp_path / "other.db")
    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        assert fleet.apply(engine, FLEET, "fleet.yaml")[0] == 1
        only = b"templates:\n  only: [{check: uptime, every: 1m}]\nassign:\n  - {templates: [only]}\n"
        assert fleet.apply(other, only, "other.yaml")[0] == 1
        for _ in range(2):  # the second round from what each kept
            assert set(fleet.newest(engine)[1].templates) == {"base-linux", "his-db"}
            assert set(fleet.newest(other)[1].templates) == {"only"}
    finally:
        other.dispose()
