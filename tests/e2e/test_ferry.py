"""The file ferry end to end: a relay writes bundles, a test "gateway" carries them badly, the collector imports.

The gateway drops, repeats and reorders files; each result is stored exactly once, and the
dropped bundle is reported as a gap until it turns up.  A forged or corrupt bundle is refused
whole, in the log and the metrics.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import CollectorProcess, command, wait_for
from tests.e2e.relay import SITE, RelayProcess, get, post, result_ids, results, stored

pytestmark = pytest.mark.slow


def _import(c: CollectorProcess, *files: Path) -> subprocess.CompletedProcess[str]:
    return c.cli("import", *map(str, files), check=False, process=True)  # its log lines are in its stderr


def _ferry_relay(tmp_path: Path, c: CollectorProcess) -> tuple[Path, RelayProcess]:
    """A relay that exports to gateway-out and takes sync bundles from gateway-back (filled once here)."""
    out, back = tmp_path / "gateway-out", tmp_path / "gateway-back"
    out.mkdir()
    back.mkdir()
    relay = RelayProcess(tmp_path / "relay", c, extra=f"export: {{dir: {out}, every: 1s, inbox: {back}}}\n")
    made = c.cli("relay", "bundle", "--site", SITE, "--relay", "front-01", str(back))
    assert "sync bundle for relay front-01" in made.stdout
    return out, relay


def test_bundles_dropped_repeated_and_reordered_by_the_gateway_store_each_result_once(tmp_path):
    c = CollectorProcess(tmp_path, site=SITE, host="his-db-01")
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("templates:\n  base:\n    - {check: uptime, every: 1m}\nassign:\n  - {templates: [base]}\n")
    assert c.cli("fleet", "apply", str(fleet)).returncode == 0
    out, relay = _ferry_relay(tmp_path, c)
    back = tmp_path / "gateway-back"
    relay.start()  # behind the gateway: it never reaches the collector; its tokens came in a sync bundle
    sent: dict[int, list[str]] = {}
    try:
        for seq in range(1, 6):
            batch = results(300, "his-db-01")
            status, answer = post(relay.url, c.agent_token, batch)
            assert status == 200, answer
            wait_for(lambda: len(list(out.glob("*.wrb"))) == seq, 15, f"bundle {seq}")  # noqa: B023
            sent[seq] = answer["accepted"]
        # tokens and configs the other way: the config came in the sync bundle; a revocation comes in the next
        status, body, headers = get(f"{relay.url}/api/v1/agent/config", c.agent_token)
        assert status == 200 and b'"check":"uptime"' in body and headers["ETag"].startswith('"v1-')
        (back / "forged.wrs").write_bytes(b"WRS1 " + b"0" * 64 + b"\n" + b"x")
        c.cli("token", "revoke", "--site", SITE, "--host", "his-db-01")
        c.cli("relay", "bundle", "--site", SITE, "--relay", "front-01", str(back))
        wait_for(lambda: relay.health()["tokens"] == 0, 15, "the revocation to arrive")
        assert post(relay.url, c.agent_token, results(1, "his-db-01"))[0] == 401
        assert (back / "refused" / "forged.wrs").exists()
        assert "inbox: forged.wrs refused: the signature does not match" in relay.log.read_text()
    finally:
        relay.kill()
    bundles = sorted(out.glob("*.wrb"))
    assert [b.name for b in bundles] == [f"wardround-{SITE}-{n:010d}.wrb" for n in range(1, 6)]
    assert not list(out.glob(".*"))  # no half-written file is ever visible
    inbox = tmp_path / "gateway-in"
    inbox.mkdir()
    carried = [bundles[i] for i in (4, 3, 1, 0, 1, 3)]  # bundle 3 is lost; 2 and 4 come twice; out of order
    second = _import(c, *[shutil.copy(b, inbox / f"{n}-{b.name}") for n, b in enumerate(carried)])
    assert second.returncode == 0, second.stderr
    assert "was imported before; nothing changed" in second.stdout
    assert "gap: relay front-01 (e2e-hospital) has bundles up to 5 but not 3" in second.stderr
    uids = result_ids(c)
    expected = {i for n in (1, 2, 4, 5) for i in sent[n]}
    assert len(uids) == len(expected) and set(uids) == expected  # exactly once, and nothing of bundle 3
    # the lost file turns up, in the watched import folder
    watched = tmp_path / "import"
    watched.mkdir()
    proc = subprocess.Popen([command("wardround-collector"), "import", "--watch", str(watched), "--db", c.db],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        shutil.copy(bundles[2], watched / "late.wrb")
        wait_for(lambda: (watched / "imported" / "late.wrb").exists(), 30, "the late bundle to be imported")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert "gap" not in err
    assert sorted(result_ids(c)) == sorted(i for v in sent.values() for i in v)
    assert stored(c, "SELECT count(*) FROM relay_bundles") == [(5,)]

    # forged and corrupt bundles are refused whole
    data = bundles[0].read_bytes()
    altered = bytearray(data)
    altered[-20] ^= 0x01
    (inbox / "altered.wrb").write_bytes(bytes(altered))
    (inbox / "forged.wrb").write_bytes(b"WRB1 " + b"0" * 64 + b"\n" + data.split(b"\n", 1)[1])
    (inbox / "garbage.wrb").write_bytes(b"not a bundle at all")
    bad = _import(c, inbox / "altered.wrb", inbox / "forged.wrb", inbox / "garbage.wrb")
    assert bad.returncode == 1
    assert bad.stderr.count(".wrb: refused whole") == 3 and "ferry: bundle forged.wrb refused whole" in bad.stderr
    assert "matches no relay's key" in bad.stderr
    assert stored(c, "SELECT count(*) FROM ferry_refused") == [(3,)]
    from prometheus_client import CollectorRegistry, generate_latest

    from collector.ferry import FerryCollector
    from collector.store.db import make_engine

    engine = make_engine(c.db)
    registry = CollectorRegistry()
    registry.register(FerryCollector(engine))
    metrics = generate_latest(registry).decode()  # what /metrics serves (collector/metrics.py registers it)
    engine.dispose()
    assert 'wardround_ferry_bundles_total{outcome="refused"} 3.0' in metrics
    assert 'wardround_ferry_bundles_total{outcome="imported"} 5.0' in metrics
    assert 'wardround_ferry_missing_bundles{relay="front-01",site="e2e-hospital"} 0.0' in metrics
