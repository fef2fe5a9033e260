"""`make demo`: a collector, an enrolled agent and one full patrol of this machine.

Everything lives under ./demo, or $WARDROUND_DEMO_DIR (the collector's SQLite
database and signing key, the fleet file, the agent's config, token and spool).  The agent is
enrolled as a new server would be: a fleet file applied, an enrolment key, `wardround-agent enrol`.
The collector listens on 127.0.0.1:8480 (`make demo PORT=N`, or $WARDROUND_DEMO_PORT), or on any
free port when that one is taken; the port is bound here once and
the socket handed to the collector, so nothing can take it in between.  The collector is stopped at the end unless
DEMO_KEEP=1.  Only the standard library is used here; the commands are the
real console scripts from .venv/bin.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = Path(os.environ.get("WARDROUND_DEMO_DIR") or ROOT / "demo")
BIN = Path(sys.executable).parent
STATUS = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def listen(preferred: int) -> socket.socket:
    """A socket listening on 127.0.0.1, held from this moment: ``preferred`` if free, else any free port.

    The collector gets this very socket (``serve --fd``), so no other program can take the port
    between choosing it and serving on it.
    """
    for port in (preferred, 0):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no obstacle
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        sock.listen(128)
        return sock
    raise OSError("cannot bind any port on 127.0.0.1")


def last_line(cmd: list[str]) -> str:
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def get_json(url: str, token: str) -> object:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def post_json(url: str, token: str, body: dict[str, object]) -> object:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.load(resp)


def download(url: str, token: str, path: Path) -> Path:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        path.write_bytes(resp.read())
    return path


def ticket_line(t: dict[str, object]) -> str:
    """One open ticket; a monitoring ticket's summary already starts with its check and item."""
    what = f"{t['check']} {t['item']}"
    summary = str(t["summary"])
    if not summary.startswith(f"{what}:"):
        summary = f"{what}: {summary}"
    return f"#{t['id']} severity {t['severity']} {t['host']} {summary} (respond by {t['response_due']})"


def make_backup_dir() -> Path:
    """A backup folder whose newest dump is from the day before yesterday: last night's run is missing."""
    backups = DEMO / "backups"
    backups.mkdir(exist_ok=True)
    dump = backups / "his_full.bak.gz"
    if not dump.exists():
        import gzip
        with gzip.open(dump, "wb") as f:
            f.write(b"-- demo backup --\n" * 1000)
    old = time.time() - 50 * 3600
    os.utime(dump, (old, old))
    return backups


def main() -> int:
    DEMO.mkdir(exist_ok=True)
    db = f"sqlite:///{DEMO / 'collector.db'}"
    host = socket.gethostname().split(".")[0] or "demo-host"
    site = "demo-hospital"
    collector = str(BIN / "wardround-collector")
    agent = str(BIN / "wardround-agent")

    say(f"collector database: {DEMO / 'collector.db'}")
    subprocess.run([collector, "migrate", "--db", db], check=True)
    key = DEMO / "collector.key"  # signs records and the audit log; made once, kept for later runs
    if not key.exists():
        subprocess.run([collector, "key", "create", "--key-file", str(key)], check=True, capture_output=True)
    os.environ["WARDROUND_KEY_FILE"] = str(key)  # for every collector command below
    fingerprint = subprocess.run([collector, "key", "show"], check=True, capture_output=True,
                                 text=True).stdout.splitlines()[1]
    say(f"signing key {key} ({fingerprint})")
    user_token = last_line([collector, "user", "create", "--db", db, "demo-engineer", "--role", "engineer"])
    (DEMO / "engineer.token").write_text(user_token + "\n")
    (DEMO / "engineer.token").chmod(0o600)
    backups = make_backup_dir()
    fleet = DEMO / "fleet.yaml"  # the checks every demo host gets from the collector
    fleet.write_text(
        "templates:\n"
        "  base:\n"
        "    - {check: disk, every: 5m, params: {warn: 80, crit: 90}}\n"
        "    - {check: system, every: 1m}\n"
        "    - {check: backup_files, every: 15m,\n"
        f"       params: {{path: '{backups}', pattern: '*.bak.gz', schedule: '0 2 * * *', grace: 1h30m}}}}\n"
        "assign:\n"
        "  - {templates: [base]}\n")
    subprocess.run([collector, "fleet", "apply", str(fleet), "--db", db], check=True)
    enrol_key = last_line([collector, "enrol-key", "create", "--db", db, "--site", site, "--expires", "1h"])
    say(f"fleet file {fleet} applied; an enrolment key for {site} made (one use, one hour)")

    sock = listen(int(os.environ.get("WARDROUND_DEMO_PORT") or 8480))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    log = open(DEMO / "collector.log", "ab")  # noqa: SIM115 - lives as long as the server
    with sock:  # the collector keeps its own copy of the socket
        server = subprocess.Popen([collector, "serve", "--db", db, "--fd", str(sock.fileno())],
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                  pass_fds=[sock.fileno()])
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1):
                    break
            except OSError:
                if server.poll() is not None:
                    say(f"the collector did not start; see {DEMO / 'collector.log'}")
                    return 1
                time.sleep(0.2)
        say(f"collector listening on {base}")

        config = DEMO / "agent.yaml"
        say(f"enrolling this machine as {site}/{host}: wardround-agent enrol --url {base} --key ... --config {config}")
        enrolled = subprocess.run([agent, "enrol", "--url", base, "--key", enrol_key, "--config", str(config),
                                   "--host", host, "--spool", str(DEMO / "spool.db"), "--replace"])
        if enrolled.returncode != 0:
            say("the enrolment failed (see above)")
            return 1
        say(f"one full patrol of this machine with {config}")
        patrol = subprocess.run([agent, "once", "--config", str(config), "--push"])
        if patrol.returncode == 4:
            print("(exit code 4: some results were not delivered; they wait in the spool, see above)")
        else:
            print(f"(the patrol's exit code is its worst status: {patrol.returncode} = "
                  f"{STATUS.get(patrol.returncode, '?')})")

        hosts = get_json(f"{base}/api/v1/hosts", user_token)["hosts"]  # type: ignore[index]
        results = get_json(f"{base}/api/v1/results?limit=1000", user_token)["results"]  # type: ignore[index]
        say("what the collector now knows")
        for h in hosts:
            worst = STATUS.get(h["worst_status"], "none yet")
            print(f"  {h['site']}/{h['host']}: worst status {worst}, {h['checks']} check items, "
                  f"last seen {h['last_seen'] or 'never'}, config {h['config_version'] or '-'}")
        print(f"  {len(results)} results stored")
        tickets = get_json(f"{base}/api/v1/tickets?state=open,acknowledged", user_token)["tickets"]  # type: ignore[index]
        print(f"  {len(tickets)} open ticket{'' if len(tickets) == 1 else 's'}")
        for t in tickets:
            print(f"    {ticket_line(t)}")

        say("today's inspection record")
        today = time.strftime("%Y-%m-%d")
        record = post_json(f"{base}/api/v1/records", user_token,
                           {"site": site, "kind": "daily", "date": today})
        rid = record["id"]  # type: ignore[index]
        pdf = download(f"{base}/api/v1/records/{rid}.pdf", user_token, DEMO / f"record-{today}.pdf")
        csv = download(f"{base}/api/v1/records/{rid}.csv", user_token, DEMO / f"record-{today}.csv")
        verify = get_json(f"{base}/api/v1/records/{rid}/verify", user_token)
        print(f"  record {rid}, SHA-256 {record['digest']}, {verify['status']} with key "  # type: ignore[index]
              f"{verify['key_id']}")  # type: ignore[index]
        print(f"  PDF: {pdf}")
        print(f"  CSV: {csv}")

        say("where to look next")
        print(f"  pages:    {base}/  (log in with the token in {DEMO / 'engineer.token'})")
        print(f"  tickets:  curl -H \"Authorization: Bearer $(cat {DEMO / 'engineer.token'})\" "
              f"{base}/api/v1/tickets")
        print(f"  record:   {base}/api/v1/records/{rid}.html")
        print(f"  hosts:    curl -H \"Authorization: Bearer $(cat {DEMO / 'engineer.token'})\" {base}/api/v1/hosts")
        print(f"  results:  curl -H \"Authorization: Bearer $(cat {DEMO / 'engineer.token'})\" "
              f"'{base}/api/v1/results?host={host}'")
        print(f"  metrics:  curl {base}/metrics")
        print(f"  verify:   {collector} record export {rid} --db {db} --key-file {key} --out {DEMO / 'record.json'}"
              f" && {collector} record verify {DEMO / 'record.json'} --public-key <the base64 key on the record>")
        print(f"  audit:    {collector} audit verify --db {db} --key-file {key}")
        print(f"  agent:    {agent} run --config {config}")
        print(f"  files:    {DEMO}")
        if os.environ.get("DEMO_KEEP") == "1":
            say(f"collector left running (pid {server.pid}); stop it with: kill {server.pid}")
            server = None  # type: ignore[assignment]
        else:
            say("collector stopped (DEMO_KEEP=1 leaves it running)")
        return 0
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
