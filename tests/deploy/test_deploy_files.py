"""The deploy kit is accepted by the tools and the code that read it.

compose file (PyYAML) and every file it mounts or builds from; ``promtool check config`` and
``promtool test rules``; the systemd units (``systemd-analyze verify`` where it can run, and
their hardening keys always); the install script (``bash -n``, ``shellcheck``); the collector's
sample config through the collector's own loader; the Grafana provisioning files.
"""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from collector.config import load_settings
from tests.conftest import missing

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing(name, f"apt-get install {package}")
    return str(path)


def test_compose_file_parses_and_names_files_that_exist_when_read():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert set(compose["services"]) == {"postgres", "collector", "prometheus", "grafana"}
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source}"
        if "build" in service:
            context = DEPLOY / service["build"]["context"]
            assert (context / service["build"]["dockerfile"]).is_file()


def test_grafana_provisioning_points_at_the_dashboards_when_read():
    ds = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/wardround.yml").read_text())
    [source] = ds["datasources"]
    assert source["type"] == "prometheus" and source["uid"] == "wardround-prometheus"
    boards = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/wardround.yml").read_text())
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"])
    mounted = mounts["../dashboards"]
    # one provider (one folder) per language, each reading that language's directory of dashboards/
    paths = {p["options"]["path"] for p in boards["providers"]}
    assert paths == {f"{mounted}/zh_CN", f"{mounted}/en"}
    assert len({p["folder"] for p in boards["providers"]}) == len({p["folderUid"] for p in boards["providers"]}) == 2
    for path in paths:
        assert list((ROOT / "dashboards" / path.removeprefix(f"{mounted}/")).glob("*.json")), path


def test_prometheus_config_passes_promtool_when_checked():
    promtool = _tool("promtool", "prometheus")
    run = subprocess.run([promtool, "check", "config", "prometheus.yml"], cwd=DEPLOY / "prometheus",
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "rules found" in run.stdout


def test_alert_rules_pass_their_unit_tests_when_promtool_runs_them():
    promtool = _tool("promtool", "prometheus")
    run = subprocess.run([promtool, "test", "rules", "alerts_test.yml"], cwd=DEPLOY / "prometheus",
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    alerts = {r["alert"] for g in yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())["groups"]
              for r in g["rules"]}
    tested = (DEPLOY / "prometheus/alerts_test.yml").read_text()
    assert alerts and {a for a in alerts if f"alertname: {a}" not in tested} == set()


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, empty_lines_in_values=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "systemd" / name)
    return parser


@pytest.mark.parametrize("name, user", [("wardround-agent.service", "wardround"),
                                        ("wardround-collector.service", "wardround-collector"),
                                        ("wardround-relay.service", "wardround"),
                                        ("wardround-import.service", "wardround-collector")])
def test_units_run_unprivileged_and_hardened_when_parsed(name, user):
    s = _unit(name)["Service"]
    assert s["User"] == user and s["User"] != "root"
    assert s["ProtectSystem"] == "strict" and s["NoNewPrivileges"] == "yes"
    assert s["ReadWritePaths"].startswith("/var/lib/")
    assert "CapabilityBoundingSet" in s
    caps = s["CapabilityBoundingSet"].split()
    assert set(caps) <= {"CAP_NET_RAW"}
    assert s["ExecStart"].startswith("/opt/wardround/venv/bin/")
    assert int(s["LimitNOFILE"]) >= 4096  # a few hundred slow sockets must not exhaust it


def test_collector_unit_leaves_room_for_its_connection_cap_when_parsed():
    from collector.config import HttpLimits
    from collector.httpserver import connection_cap

    limit = int(_unit("wardround-collector.service")["Service"]["LimitNOFILE"])
    assert connection_cap(HttpLimits(), limit) == HttpLimits().max_connections  # the cap is not lowered


def test_units_pass_systemd_analyze_when_it_can_run(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        missing("systemd-analyze", "apt-get install systemd")
    # verify resolves ExecStart: point it at binaries that exist here, keep everything else.
    for name in ("wardround-agent.service", "wardround-collector.service", "wardround-relay.service",
                 "wardround-import.service"):
        text = (DEPLOY / "systemd" / name).read_text().replace("/opt/wardround/venv/bin/", "/bin/true ")
        (tmp_path / name).write_text(text)
    run = subprocess.run([analyze, "verify", *(str(p) for p in sorted(tmp_path.glob("*.service")))],
                         capture_output=True, text=True, timeout=60)
    problems = [line for line in (run.stdout + run.stderr).splitlines()
                if "wardround" in line and "Failed to" not in line and "not found" not in line.lower()]
    assert problems == [], run.stdout + run.stderr


def test_install_script_is_valid_bash_when_checked():
    script = DEPLOY / "install-linux.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True, timeout=30).returncode == 0
    shellcheck = _tool("shellcheck", "shellcheck")
    run = subprocess.run([shellcheck, str(script)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout


def test_install_script_refuses_without_a_role_when_run():
    run = subprocess.run(["bash", str(DEPLOY / "install-linux.sh")], capture_output=True, text=True,
                         timeout=30)
    assert run.returncode == 2 and "usage" in run.stderr


def test_install_script_help_exits_0_and_names_the_offline_option_when_asked():
    run = subprocess.run(["bash", str(DEPLOY / "install-linux.sh"), "--help"], capture_output=True, text=True,
                         timeout=30)
    assert run.returncode == 0 and run.stderr == ""
    assert "usage:" in run.stdout and "--wheels DIR" in run.stdout and "make wheelhouse" in run.stdout


@pytest.mark.parametrize("make", ["nothing", "empty"])
def test_install_script_refuses_a_wheelhouse_it_cannot_use_before_doing_anything(tmp_path, make):
    wheels = tmp_path / "wheels"
    if make == "empty":
        wheels.mkdir()
    run = subprocess.run(["bash", str(DEPLOY / "install-linux.sh"), "--agent", "--wheels", str(wheels)],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 2
    assert ("no such directory" if make == "nothing" else "no wardround-*.whl in it") in run.stderr


def test_the_token_file_rule_is_the_same_in_the_install_script_the_unit_and_the_agent():
    script = (DEPLOY / "install-linux.sh").read_text()
    assert "0640 root:wardround" not in script and "owner wardround, mode 0600" in script
    unit = _unit("wardround-agent.service")["Service"]
    assert "/etc/wardround/agent.token" in unit["ReadWritePaths"]  # rotation rewrites it
    docs = (DEPLOY.parent / "docs" / "agent.md").read_text()
    assert "owned by the agent's user, mode 0600" in docs


#: a Python process whose threads each allocate while all of them are alive, then counts glibc's
#: malloc arenas besides the main one: 64-MiB-aligned anonymous heaps (rw, the rest reserved ---p)
COUNT_ARENAS = r"""
import threading
n = 6
barrier = threading.Barrier(n + 1)
def work():
    keep = [bytearray(50_000) for _ in range(20)]  # below the mmap threshold: from the arena
    barrier.wait()
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(n)]
for t in threads:
    t.start()
barrier.wait()
regions = []
for line in open("/proc/self/maps"):
    f = line.split()
    lo, hi = (int(x, 16) for x in f[0].split("-"))
    regions.append((lo, hi, f[1], len(f) > 5))
arenas = 0
for (lo, hi, perm, named), nxt in zip(regions, regions[1:] + [(0, 0, "", True)]):
    size = hi - lo + (nxt[1] - nxt[0] if nxt[0] == hi and nxt[2] == "---p" and not nxt[3] else 0)
    arenas += perm == "rw-p" and not named and lo % (64 << 20) == 0 and size == 64 << 20
barrier.wait()
print(arenas)
"""


def _arenas(env: dict[str, str]) -> int:
    run = subprocess.run([sys.executable, "-c", COUNT_ARENAS], env=env, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    return int(run.stdout)


@pytest.mark.parametrize("unit", ["wardround-agent.service", "wardround-relay.service"])
def test_agent_unit_caps_the_malloc_arenas_of_a_real_process_when_its_environment_is_applied(unit: str):
    """The agent's threads (timer, sender, a run, its check, the check's time boxes) and the relay's
    (one per push served) each got an arena of their own, each keeping its freed memory
    (docs/benchmarks.md); both units cap them."""
    lines = [v for k, v in _unit_items(unit, "Service") if k == "Environment"]
    unit_env = dict(word.split("=", 1) for line in lines for word in shlex.split(line))
    assert unit_env.get("MALLOC_ARENA_MAX") == "1"
    plain = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    assert _arenas(plain) >= 4  # without it: one per thread that allocated while the others lived
    assert _arenas(dict(plain, **unit_env)) == 0  # with it: the main arena alone


def _unit_items(name: str, section: str) -> list[tuple[str, str]]:
    """Every ``key=value`` of one section, repeated keys kept (configparser keeps the last only)."""
    out, current = [], ""
    for line in (DEPLOY / "systemd" / name).read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            current = line.strip("[]")
        elif current == section and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out.append((key.strip(), value.strip()))
    return out


def test_collector_sample_config_is_accepted_by_the_collector_when_loaded():
    settings = load_settings(str(DEPLOY / "collector.example.yaml"))
    assert settings.port == 8480 and settings.host == "0.0.0.0"
    assert settings.db_url.startswith("sqlite:////var/lib/wardround-collector/")
    assert settings.key_file == "/etc/wardround/collector.key"


def test_windows_service_definition_names_the_programdata_paths_when_parsed():
    import xml.etree.ElementTree as ET

    svc = ET.parse(DEPLOY / "windows" / "wardround-agent.xml").getroot()
    assert svc.findtext("id") == "wardround-agent"
    assert "C:\\ProgramData\\Wardround\\agent.yaml" in svc.findtext("arguments", "")
    assert svc.find("serviceaccount/username").text == "NT SERVICE\\wardround-agent"
    assert (DEPLOY / "agent.windows-his.example.yaml").is_file()


# The official 2026 calendar: 国务院办公厅关于2026年部分节假日安排的通知, published 2025-11-04
# (Xinhua; reprinted by gmw.cn).  Holidays (放假) and make-up working days (调休上班), both ends included.
OFFICIAL_HOLIDAYS_2026 = {
    "元旦 New Year": ("2026-01-01", "2026-01-03"),
    "春节 Spring Festival": ("2026-02-15", "2026-02-23"),
    "清明节 Qingming": ("2026-04-04", "2026-04-06"),
    "劳动节 Labour Day": ("2026-05-01", "2026-05-05"),
    "端午节 Dragon Boat": ("2026-06-19", "2026-06-21"),
    "中秋节 Mid-Autumn": ("2026-09-25", "2026-09-27"),
    "国庆节 National Day": ("2026-10-01", "2026-10-07"),
}
OFFICIAL_WORKDAYS_2026 = ("2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10")


def test_example_holiday_calendar_matches_the_state_council_notice_when_loaded(tmp_path):
    from datetime import date, timedelta

    from collector.policy import load_policies

    policy = tmp_path / "policies.yaml"
    policy.write_text(f"default:\n  holidays: {DEPLOY / 'holidays-cn.example.yaml'}\n", encoding="utf-8")
    calendar = load_policies(policy).default.calendar
    official: set[date] = set()
    for first, last in OFFICIAL_HOLIDAYS_2026.values():
        day, end = date.fromisoformat(first), date.fromisoformat(last)
        while day <= end:
            official.add(day)
            day += timedelta(days=1)
    in_2026 = {d for d in calendar.holidays if d.year == 2026}
    assert sorted(official - in_2026) == [], "official holidays missing from the example"
    assert sorted(in_2026 - official) == [], "the example lists days the notice does not"
    assert {d for d in calendar.workdays if d.year == 2026} == {date.fromisoformat(d)
                                                               for d in OFFICIAL_WORKDAYS_2026}


def test_relay_service_and_example_config_name_what_the_relay_reads_when_parsed(tmp_path):
    import xml.etree.ElementTree as ET

    from agent.relay_config import load_relay_config

    svc = ET.parse(DEPLOY / "windows" / "wardround-relay.xml").getroot()
    assert svc.findtext("id") == "wardround-relay"
    assert svc.findtext("arguments", "").startswith("relay --config \"C:\\ProgramData\\Wardround\\relay.yaml\"")
    assert svc.find("serviceaccount/username").text == "NT SERVICE\\wardround-relay"
    assert "relay --config /etc/wardround/relay.yaml" in _unit("wardround-relay.service")["Service"]["ExecStart"]
    # the example loads once its files exist here (the token and CA paths of a real install)
    (tmp_path / "relay.token").write_text("wrr_x\n")
    (tmp_path / "relay.token").chmod(0o600)
    from tests.deploy.certs import make_certs

    ca = make_certs(tmp_path / "certs").ca
    text = (DEPLOY / "relay.example.yaml").read_text().replace("/etc/wardround/relay.token",
                                                               str(tmp_path / "relay.token"))
    (tmp_path / "relay.yaml").write_text(text.replace("/etc/wardround/ca.pem", str(ca)))
    config = load_relay_config(tmp_path / "relay.yaml")
    assert (config.site, config.listen_port, config.spool) == ("central-hospital", 8481, "/var/lib/wardround/relay.db")
