from __future__ import annotations

import dataclasses
import pathlib

import pytest

from checks import _docs
from checks.catalogue import CATALOGUE

PAGE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "checks.md"


def test_docs_checks_md_is_up_to_date_with_the_catalogue():
    expected = _docs.render()
    actual = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
    if actual != expected:
        pytest.fail(f"docs/checks.md is out of date with the check catalogue; regenerate it with\n"
                    f"    {_docs.COMMAND}", pytrace=False)


def test_docs_list_every_check_with_every_parameter_and_its_default():
    page = _docs.render()
    for name, spec in CATALOGUE.items():
        assert f"\n## {name}\n" in page
        for f in dataclasses.fields(spec.params):
            if f.init and not f.name.startswith("_"):
                assert f"| `{f.name}` |" in page, f"{name}.{f.name} missing"
    assert "| `days_warn` | number | `30` | forecast days until full at or below which" in page
    assert "| `forecast_window` | duration | `1w` |" in page
    assert "| `max` | integer or empty | — |" in page


def test_docs_show_each_checks_status_table():
    page = _docs.render()
    for name in ("disk", "uptime", "service", "process", "logscan"):
        section = page.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]
        for status in ("OK", "WARNING", "CRITICAL", "UNKNOWN"):
            assert status in section, f"{name} documents no {status}"


# -- the sample configs in deploy/ ------------------------------------------------------

REPO = pathlib.Path(__file__).resolve().parents[2]


def load_sample(tmp_path: pathlib.Path, name: str, prefix: str):
    """The sample with its file paths moved under tmp_path, through the agent's real loader."""
    from agent.config import load_config

    text = (REPO / "deploy" / name).read_text(encoding="utf-8").replace(prefix, f"{tmp_path}/")
    (tmp_path / "agent.token").write_text("x" * 40 + "\n")
    path = tmp_path / "agent.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, need_collector=True)


def test_windows_his_sample_config_loads_with_the_agents_loader(tmp_path):
    cfg = load_sample(tmp_path, "agent.windows-his.example.yaml", "C:\\ProgramData\\Wardround\\")
    by_name = {c.name: c for c in cfg.checks}
    assert by_name["service"].params.names == ("MSSQLSERVER", "SQLSERVERAGENT", "HisMiddleware")
    assert by_name["service-automatic"].params.automatic
    assert by_name["logscan"].params.channels == ("System",)
    assert by_name["logscan-his-middleware"].params.encoding == "gbk"
    assert by_name["backup_files"].params.path == "D:\\Backup"
    assert {c.check for c in cfg.checks} >= {"disk", "system", "uptime", "service", "process", "logscan",
                                             "db_backup", "backup_files", "port", "certificate", "patches",
                                             "antivirus", "accounts", "db_accounts", "restore_drill"}
    assert by_name["db_accounts"].params.engine == "sqlserver" and not by_name["db_accounts"].params.blank_passwords
    drill = by_name["restore-drill-his"]
    assert drill.params.engine == "sqlserver" and drill.timeout_s == 4 * 3600
    assert drill.params.server_path == "\\\\his-db-01\\Backup$" and "PWD" not in drill.params.target_dsn.upper()


def test_linux_sample_config_loads_with_the_agents_loader(tmp_path):
    cfg = load_sample(tmp_path, "agent.linux.example.yaml", "/etc/wardround/")
    by_name = {c.name: c for c in cfg.checks}
    assert by_name["disk"].params.inodes_warn == 20
    assert by_name["logscan"].params.path == "/var/log/syslog"
    assert by_name["process"].params.max == 1
    assert by_name["accounts"].params.never_expire_ok == ("backup-svc",)
    assert by_name["db_accounts"].params.engine == "postgresql"
    drill = by_name["restore-drill-his"]
    assert drill.params.max_duration == 3600 and drill.timeout_s == 7200 and drill.params.probe
