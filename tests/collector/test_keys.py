"""The signing key as an operator handles it: ``key create/show/rotate``, the key made on first use, a
collector refused when its key is not the database's, and a customer checking an exported record offline
with ``record verify``."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import stat
from pathlib import Path

import orjson

from collector.keys import KEY_ENV, load_keyring
from tests.collector.records_data import DAY, SITE, fill_site
from tests.collector.test_cli import cli, in_process
from tests.conftest import missing

KEY_LINE = re.compile(r"^key id ([0-9a-f]{16})$", re.M)
FINGERPRINT = re.compile(r"^fingerprint \(SHA-256\) ((?:[0-9a-f]{4} ){15}[0-9a-f]{4})$", re.M)
BASE64 = re.compile(r"^public key \(base64\) (\S{44})$", re.M)


def _no_key_env() -> dict[str, str]:
    return {KEY_ENV: ""}


def test_key_create_writes_a_private_file_and_show_prints_the_same_public_key_when_run(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "collector.key"
    made = cli("key", "create", "--key-file", str(key))
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "-----BEGIN PUBLIC KEY-----" in made.stdout and "PRIVATE" not in made.stdout
    shown = cli("key", "show", "--key-file", str(key))
    assert shown.returncode == 0
    for pattern in (KEY_LINE, FINGERPRINT, BASE64):
        assert pattern.search(made.stdout).group(1) == pattern.search(shown.stdout).group(1)  # type: ignore[union-attr]
    assert KEY_LINE.search(shown.stdout).group(1) == load_keyring(key).key_id  # type: ignore[union-attr]
    again = cli("key", "create", "--key-file", str(key))
    assert again.returncode == 2 and "exists already" in again.stderr
    assert load_keyring(key).key_id == KEY_LINE.search(shown.stdout).group(1)  # type: ignore[union-attr]


def test_key_rotate_keeps_the_old_public_key_and_key_file_in_the_config_is_used(tmp_path: Path) -> None:
    key = tmp_path / "collector.key"
    assert cli("key", "create", "--key-file", str(key)).returncode == 0
    old = load_keyring(key).key_id
    config = tmp_path / "collector.yaml"
    config.write_text("key_file: collector.key\n")
    rotated = cli("key", "rotate", "--config", str(config), env=_no_key_env())
    assert rotated.returncode == 0, rotated.stderr
    ring = load_keyring(key)
    assert ring.key_id != old and [k.key_id for k in ring.retired] == [old]
    assert f"retired key {old}" in cli("key", "show", "--config", str(config), env=_no_key_env()).stdout
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_first_signing_command_makes_the_key_and_a_collector_with_another_key_refuses_to_start(
        tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/w.db"
    first = tmp_path / "first.key"
    made = cli("token", "create", "--site", "s", "--host", "h", "--db", db, "--key-file", str(first), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip().splitlines()[-1].startswith("wra_")
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    first_id = load_keyring(first).key_id
    assert "created the collector's signing key" in made.stderr and first_id in made.stderr
    # The database is now signed (the token's audit entry): a collector without that key may not sign it.
    other = tmp_path / "other.key"
    for args in (["serve", "--db", db, "--port", "1", "--key-file", str(other)],
                 ["user", "create", "bob", "--role", "viewer", "--db", db, "--key-file", str(other)]):
        out = cli(*args, cwd=tmp_path)
        assert out.returncode == 2, out.stderr
        assert f"{other}: no signing key, and this database is signed with key {first_id}" in out.stderr
        assert "copy the key file" in out.stderr and "Traceback" not in out.stderr
    assert not other.exists()  # nothing is made for a database that is signed already
    assert cli("key", "create", "--key-file", str(other)).returncode == 0
    wrong = cli("serve", "--db", db, "--port", "1", "--key-file", str(other), cwd=tmp_path)
    assert wrong.returncode == 2 and "is not the key this database is signed with" in wrong.stderr
    fresh = cli("user", "create", "bob", "--role", "viewer", "--db", f"sqlite:///{tmp_path}/fresh.db",
                cwd=tmp_path, env=_no_key_env())
    assert fresh.returncode == 0, fresh.stderr
    assert (tmp_path / "wardround-collector.key").exists()
    open_key = tmp_path / "open.key"
    assert cli("key", "create", "--key-file", str(open_key)).returncode == 0
    open_key.chmod(0o644)
    out = cli("serve", "--db", db, "--port", "1", "--key-file", str(open_key), cwd=tmp_path)
    assert out.returncode == 2 and "chmod 600" in out.stderr and "0644" in out.stderr


def test_an_exported_record_verifies_offline_with_the_public_key_and_fails_when_changed(
        tmp_path: Path, sqlite_template: Path) -> None:
    shutil.copyfile(sqlite_template, tmp_path / "w.db")
    db = f"sqlite:///{tmp_path}/w.db"
    from collector.store.db import make_engine

    engine = make_engine(db)
    fill_site(engine)
    engine.dispose()
    key = os.environ[KEY_ENV]
    engineer = in_process("user", "create", "li", "--role", "engineer", "--db", db).stdout.strip().splitlines()[-1]
    assert engineer.startswith("wru_")
    from fastapi.testclient import TestClient

    from collector.app import create_app
    from collector.config import Settings

    with TestClient(create_app(Settings(db_url=db))) as client:
        headers = {"Authorization": f"Bearer {engineer}"}
        rid = client.post("/api/v1/records", json={"site": SITE, "kind": "daily", "date": DAY},
                          headers=headers).json()["id"]
        client.post(f"/api/v1/records/{rid}/sign", json={"signer": "王主任", "role": "customer"}, headers=headers)
    exported = cli("record", "export", str(rid), "--db", db, "--out", str(tmp_path / "r.json"))
    assert exported.returncode == 0, exported.stderr
    pem = tmp_path / "collector.pub"
    shown = cli("key", "show", "--key-file", key).stdout
    pem.write_text(shown[shown.index("-----BEGIN PUBLIC KEY-----"):])
    b64 = BASE64.search(shown).group(1)  # type: ignore[union-attr]
    # what it says is the command to run, with the collector's own key (never a message key, never a warning)
    said = f"wardround-collector record verify {tmp_path / 'r.json'} --public-key {b64}"
    assert exported.stdout == f"record {rid} written to {tmp_path / 'r.json'}; check it with: {said}\n"
    assert "WARNING" not in exported.stderr, exported.stderr
    chinese = cli("record", "export", str(rid), "--db", db, "--out", str(tmp_path / "r.json"),
                  env={"LANG": "zh_CN.UTF-8"})
    assert chinese.stdout == f"巡检记录 {rid} 已写入 {tmp_path / 'r.json'}；用此命令核验：{said}\n", chinese.stdout
    assert "WARNING" not in chinese.stderr, chinese.stderr
    for public in (str(pem), b64):  # the PEM file, or the key printed on the record
        ok = cli("record", "verify", str(tmp_path / "r.json"), "--public-key", public, env=_no_key_env())
        assert ok.returncode == 0 and "verified" in ok.stdout, ok.stdout + ok.stderr
    doc = orjson.loads((tmp_path / "r.json").read_bytes())
    doc["signatures"][0]["signer"] = "张三"
    (tmp_path / "changed.json").write_bytes(orjson.dumps(doc))
    bad = cli("record", "verify", str(tmp_path / "changed.json"), "--public-key", b64)
    assert bad.returncode == 1 and "FAILED" in bad.stdout and "sign-off" in bad.stdout
    other = tmp_path / "other.key"
    in_process("key", "create", "--key-file", str(other))  # a stranger's key (key create is tested above)
    stranger = BASE64.search(in_process("key", "show", "--key-file", str(other)).stdout).group(1)  # type: ignore[union-attr]
    wrong_key = cli("record", "verify", str(tmp_path / "r.json"), "--public-key", stranger)
    # offline, no collector is involved: another key than the one given, not one "this collector does not trust"
    signer = doc["record"]["key_id"]
    given = hashlib.sha256(base64.b64decode(stranger)).hexdigest()[:16]
    assert wrong_key.returncode == 1 and "does not trust" not in wrong_key.stdout, wrong_key.stdout
    assert (f"the record is signed by key {signer}, not by the public key given ({given}); sign-off "
            f"{doc['signatures'][0]['id']} is signed by key {signer}, not by the public key given ({given})"
            ) in wrong_key.stdout, wrong_key.stdout
    chinese = cli("record", "verify", str(tmp_path / "r.json"), "--public-key", stranger, env={"LANG": "zh_CN.UTF-8"})
    assert chinese.returncode == 1 and "本采集端" not in chinese.stdout, chinese.stdout
    assert (f"记录由密钥 {signer} 签名，不是所给的公钥（{given}）；签字 {doc['signatures'][0]['id']} 由密钥 {signer} "
            f"签名，不是所给的公钥（{given}）") in chinese.stdout, chinese.stdout
    for args, message in ((["record", "verify", str(tmp_path / "nope.json"), "--public-key", b64], "cannot read"),
                          (["record", "verify", str(tmp_path / "r.json"), "--public-key", "abc"], "public key"),
                          (["record", "export", "999", "--db", db], "no record 999")):
        out = cli(*args)
        assert out.returncode in (1, 2) and message in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_the_signed_bytes_in_an_export_check_with_openssl_when_written_out(tmp_path: Path,
                                                                          sqlite_template: Path) -> None:
    """The documented openssl check (docs/records.md): the record's signed bytes, its signature, the PEM key."""
    if shutil.which("openssl") is None:
        missing("openssl", "install Debian openssl")
    import base64
    import subprocess
    from datetime import UTC, datetime

    from collector.records.service import Records
    from collector.store.db import make_engine
    from tests.collector.records_data import ZONE

    shutil.copyfile(sqlite_template, tmp_path / "w.db")
    engine = make_engine(f"sqlite:///{tmp_path}/w.db")
    fill_site(engine)
    records = Records(engine, clock=lambda: datetime(2026, 11, 23, 8, tzinfo=ZONE).astimezone(UTC))
    rid = records.issue(site=SITE, kind="daily", period=DAY, actor="li").id
    doc = orjson.loads(records.export(rid))
    engine.dispose()
    (tmp_path / "signed.bin").write_text(doc["signed"]["record"], encoding="utf-8")
    (tmp_path / "sig.bin").write_bytes(base64.b64decode(doc["record"]["signature"]))
    (tmp_path / "pub.pem").write_text(records.keys.public.pem())
    out = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "pub.pem"), "-rawin",
                          "-in", str(tmp_path / "signed.bin"), "-sigfile", str(tmp_path / "sig.bin")],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "Signature Verified Successfully" in out.stdout, out.stdout + out.stderr
    assert orjson.loads(doc["signed"]["record"])["digest"] == doc["record"]["digest"]


def test_the_python_check_in_the_security_docs_verifies_an_export_and_refuses_a_changed_one(
        tmp_path: Path, sqlite_template: Path) -> None:
    import subprocess
    import sys
    from datetime import UTC, datetime

    from collector.records.service import Records
    from collector.store.db import make_engine
    from tests.collector.records_data import ZONE

    docs = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text(encoding="utf-8")
    snippet = docs.split("```python\n", 1)[1].split("```", 1)[0]
    shutil.copyfile(sqlite_template, tmp_path / "w.db")
    engine = make_engine(f"sqlite:///{tmp_path}/w.db")
    fill_site(engine)
    records = Records(engine, clock=lambda: datetime(2026, 11, 23, 8, tzinfo=ZONE).astimezone(UTC))
    rid = records.issue(site=SITE, kind="daily", period=DAY, actor="li").id
    records.sign(rid, signer="李工", role="engineer", actor="li")
    records.sign(rid, signer="王主任", role="customer", actor="li")
    (tmp_path / "record-12.json").write_bytes(records.export(rid))
    engine.dispose()
    script = snippet.replace("<the base64 public key printed on the record>", records.keys.public.base64)

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                              timeout=60)

    ok = run()
    assert ok.returncode == 0 and "verified: central-hospital daily" in ok.stdout and "王主任" in ok.stdout, ok.stderr
    doc = orjson.loads((tmp_path / "record-12.json").read_bytes())
    doc["signed"]["signatures"][1] = doc["signed"]["signatures"][1].replace("王主任", "张三")
    (tmp_path / "record-12.json").write_bytes(orjson.dumps(doc))
    assert run().returncode != 0
