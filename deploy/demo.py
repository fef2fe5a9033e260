"""`make demo`: a collector, an enrolled agent and one full patrol of this machine.

Everything lives under ./demo, or $WARDROUND_DEMO_DIR (the collector's SQLite
database and signing key, the fleet file, the agent's config, token and spool).  The agent is
enrolled as a new server would be: a fleet file applied, an enrolment key, `wardround-agent enrol`.
The collector listens on 127.0.0.1:8480 (`make demo PORT=N`, or $WARDROUND_DEMO_PORT), or on any
free port when that one is taken; the port is bound here once and
the socket handed to the collector, so nothing can take it in between.  The collector is stopped at the end unless
DEMO_KEEP=1.  The commands are the real console scripts from .venv/bin; this script runs with that
venv's Python and says what it does in the reader's language (``WARDROUND_LANG``, else the locale:
``checks.messages.reader.tell``, ``cli.demo.*`` texts in checks/messages/cli.{zh_CN,en}.json), times
as the collector's ticket texts show them (``collector.messages.local_moment``, in the default policy's
business-calendar zone, which the demo collector uses).
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
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from checks.messages.reader import aligned, reader_language, tell
from collector.keys import load_keyring
from collector.messages import local_moment, ticket_summary
from collector.policy.defaults import DEFAULT_CALENDAR

ROOT = Path(__file__).resolve().parent.parent
DEMO = Path(os.environ.get("WARDROUND_DEMO_DIR") or ROOT / "demo")
BIN = Path(sys.executable).parent
STATUS = {0: "ok", 1: "warning", 2: "critical", 3: "unknown"}  # an exit code or worst status: status.* keys


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


def status_word(code: object) -> str:
    """A status code (0-3, or None) as a word in the reader's language."""
    name = STATUS.get(code) if isinstance(code, int) else None
    return tell(f"status.{name}") if name is not None else tell("cli.demo.no_status")


def moment(value: object) -> str:
    """An ISO time from the API as the collector's ticket texts show one: ``2026-12-05 22:58 (Asia/Shanghai)``,
    in the zone of the demo collector's business calendar (the default policy's)."""
    return local_moment(str(value) if value else None, DEFAULT_CALENDAR.zone) or tell("cli.demo.never")


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


class Failed(Exception):
    """A command of the demo failed; it said why on stderr (exit 1, no traceback)."""


def run(cmd: list[str], *, quiet: bool = False) -> subprocess.CompletedProcess[str]:
    """``cmd`` run to the end; when it fails, what it said on stderr is shown and the demo stops (:class:`Failed`)."""
    done = subprocess.run(cmd, capture_output=quiet, text=True)
    if done.returncode != 0:
        if quiet:
            sys.stderr.write(done.stderr)
        raise Failed(cmd)
    return done


def migrate(collector: str, db: str) -> None:
    """``migrate`` the demo database and say where it stands (its last line, in the reader's language); the
    log of each migration Alembic writes on stderr — twenty English lines a newcomer need not read — is shown
    only when it fails."""
    print(run([collector, "migrate", "--db", db], quiet=True).stdout.strip().splitlines()[-1], flush=True)


def last_line(cmd: list[str]) -> str:
    """The last line ``cmd`` printed on stdout (a secret: a token, a key); :class:`Failed` when it fails."""
    return run(cmd, quiet=True).stdout.strip().splitlines()[-1]


def engineer_token(collector: str, db: str, name: str = "demo-engineer") -> str:
    """The demo engineer's API token: made with the person, or, when ``./demo`` keeps them from an earlier
    run, a new one (``user token``; the old one stops working)."""
    made = subprocess.run([collector, "user", "create", "--db", db, name, "--role", "engineer"],
                          capture_output=True, text=True)
    if made.returncode == 0:
        return made.stdout.strip().splitlines()[-1]
    return last_line([collector, "user", "token", "--db", db, name])


def record_day(now: datetime) -> str:
    """Today as the demo collector's sites count days (the default business calendar's zone), the day
    the patrol just stored falls in; the machine's own clock may be in another day (UTC)."""
    return f"{now.astimezone(DEFAULT_CALENDAR.zone):%Y-%m-%d}"


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


def ticket_line(t: dict[str, object], results: Sequence[dict[str, object]] = ()) -> str:
    """One open ticket in the reader's language: its summary as the pages show it
    (:func:`collector.messages.ticket_summary`, from the message of the newest of ``results`` on its
    host, check and item: the one a one-patrol demo opened it with); a monitoring ticket's summary
    already starts with its check and item."""
    key = (t["host"], t["check"], t["item"])
    message = next((r["message"] for r in results if (r["host"], r["check"], r["item"]) == key and r.get("message")),
                   None)
    raw = json.dumps({"message": message}) if message is not None else None
    summary = ticket_summary(str(t["summary"]), str(t["check"]), str(t["item"]), raw, reader_language())
    what = f"{t['check']} {t['item']}"
    if not summary.startswith(f"{what}:"):
        summary = f"{what}: {summary}"
    return tell("cli.demo.ticket", id=t["id"], severity=t["severity"], host=t["host"], summary=summary,
                due=moment(t["response_due"]))


def verify_command(collector: str, rid: object, db: str, key: Path, key_id: str | None) -> str:
    """The commands that export record ``rid`` and check it offline, with the base64 public key of the key
    that signed it (``key_id``, from the demo's key file: the current key or a retired one) — what
    ``record export`` prints and the record shows, so the line runs as it is."""
    keys = load_keyring(str(key))
    public = keys.trusted(key_id) or keys.public
    out = DEMO / "record.json"
    return (f"{collector} record export {rid} --db {db} --key-file {key} --out {out} && {collector} record verify "
            f"{out} --public-key {public.base64}")


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

    step(tell("cli.demo.database", path=DEMO / "collector.db"))
    migrate(collector, db)
    key = DEMO / "collector.key"  # signs records and the audit log; made once, kept for later runs
    if not key.exists():
        run([collector, "key", "create", "--key-file", str(key)], quiet=True)
    os.environ["WARDROUND_KEY_FILE"] = str(key)  # for every collector command below
    public = load_keyring(str(key)).public  # what `wardround-collector key show` prints
    step(tell("cli.demo.signing_key", path=key, key_id=public.key_id, fingerprint=public.fingerprint))
    user_token = engineer_token(collector, db)
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
    run([collector, "fleet", "apply", str(fleet), "--db", db])
    enrol_key = last_line([collector, "enrol-key", "create", "--db", db, "--site", site, "--expires", "1h"])
    step(tell("cli.demo.fleet", path=fleet, site=site))

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
                    step(tell("cli.demo.not_started", path=DEMO / "collector.log"))
                    return 1
                time.sleep(0.2)
        step(tell("cli.demo.listening", url=base))

        config = DEMO / "agent.yaml"
        step(tell("cli.demo.enrolling", site=site, host=host,
                 command=f"wardround-agent enrol --url {base} --key ... --config {config}"))
        enrolled = subprocess.run([agent, "enrol", "--url", base, "--key", enrol_key, "--config", str(config),
                                   "--host", host, "--spool", str(DEMO / "spool.db"), "--replace"])
        if enrolled.returncode != 0:
            step(tell("cli.demo.enrol_failed"))
            return 1
        step(tell("cli.demo.patrol", config=config))
        patrol = subprocess.run([agent, "once", "--config", str(config), "--push"])
        if patrol.returncode == 4:
            print(tell("cli.demo.exit_undelivered"))
        else:
            print(tell("cli.demo.exit_worst", code=patrol.returncode, status=status_word(patrol.returncode)))

        hosts = get_json(f"{base}/api/v1/hosts", user_token)["hosts"]  # type: ignore[index]
        results = get_json(f"{base}/api/v1/results?limit=1000", user_token)["results"]  # type: ignore[index]
        step(tell("cli.demo.known"))
        for h in hosts:
            print("  " + tell("cli.demo.host", site=h["site"], host=h["host"], worst=status_word(h["worst_status"]),
                              n=h["checks"], seen=moment(h["last_seen"]), config=h["config_version"] or "-"))
        print("  " + tell("cli.demo.results", n=len(results)))
        tickets = get_json(f"{base}/api/v1/tickets?state=open,acknowledged", user_token)["tickets"]  # type: ignore[index]
        print("  " + tell("cli.demo.tickets", n=len(tickets)))
        for t in tickets:
            print(f"    {ticket_line(t, results)}")

        step(tell("cli.demo.record"))
        today = record_day(datetime.now(UTC))
        record = post_json(f"{base}/api/v1/records", user_token,
                           {"site": site, "kind": "daily", "date": today})
        rid = record["id"]  # type: ignore[index]
        pdf = download(f"{base}/api/v1/records/{rid}.pdf", user_token, DEMO / f"record-{today}.pdf")
        csv = download(f"{base}/api/v1/records/{rid}.csv", user_token, DEMO / f"record-{today}.csv")
        verify = get_json(f"{base}/api/v1/records/{rid}/verify", user_token)
        print("  " + tell("cli.demo.record_verified" if verify["verified"] else "cli.demo.record_not_verified",  # type: ignore[index]
                          id=rid, digest=record["digest"], key=verify["key_id"]))  # type: ignore[index]
        print(f"  PDF: {pdf}")
        print(f"  CSV: {csv}")

        step(tell("cli.demo.next"))
        bearer = f"curl -H \"Authorization: Bearer $(cat {DEMO / 'engineer.token'})\""
        print("  " + "\n  ".join(aligned([
            [tell("cli.demo.look.pages"), tell("cli.demo.pages", url=f"{base}/", file=DEMO / "engineer.token")],
            [tell("cli.demo.look.tickets"), f"{bearer} {base}/api/v1/tickets"],
            [tell("cli.demo.look.record"), f"{base}/api/v1/records/{rid}.html"],
            [tell("cli.demo.look.hosts"), f"{bearer} {base}/api/v1/hosts"],
            [tell("cli.demo.look.results"), f"{bearer} '{base}/api/v1/results?host={host}'"],
            [tell("cli.demo.look.metrics"), f"curl {base}/metrics"],
            [tell("cli.demo.look.verify"), verify_command(collector, rid, db, key, verify["key_id"])],  # type: ignore[index]
            [tell("cli.demo.look.audit"), f"{collector} audit verify --db {db} --key-file {key}"],
            [tell("cli.demo.look.agent"), f"{agent} run --config {config}"],
            [tell("cli.demo.look.files"), str(DEMO)]])))
        if os.environ.get("DEMO_KEEP") == "1":
            step(tell("cli.demo.kept", pid=server.pid, command=f"kill {server.pid}"))
            server = None  # type: ignore[assignment]
        else:
            step(tell("cli.demo.stopped"))
        return 0
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failed:
        sys.exit(1)
