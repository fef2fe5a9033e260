"""accounts tests.

Linux for real: a throwaway user is created on this machine with ``useradd`` (its password
emptied with ``passwd -d``, then set and made never-expiring with ``usermod``/``chage``) and
removed with ``userdel`` even when the test fails.  An extra UID 0 account is made by the real
``useradd --prefix`` in a copy of /etc (never in the real one).  "Permission denied" is what the
check sees as ``nobody``.  Windows from a fixture (``fixtures/accounts_fixtures.source``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from checks import _windows, accounts
from checks.catalogue import get_check
from checks.context import CheckContext
from checks.messages import render
from checks.params import parse_params
from checks.result import Result, Status
from tests.checks.unprivileged import run_check_as
from tests.conftest import missing

FIXTURES = Path(__file__).parent / "fixtures"
# a SHA-512 crypt hash (of a random text; no one logs in with it)
HASH = "$6$wardround$" + "Ab3" * 28 + "x"


def params(**raw: Any) -> accounts.AccountsParams:
    return parse_params(accounts.AccountsParams, raw)


def by_item(results: list[Result]) -> dict[str, Result]:
    return {r.item: r for r in results}


def no_hash_in(results: list[Result]) -> None:
    wire = json.dumps([r.to_wire() for r in results], ensure_ascii=False)
    assert "$6$" not in wire and "$y$" not in wire and HASH not in wire


def tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if path is None:
        missing("shadow utilities", f"{name} not found (apt-get install passwd)")
    return str(path)


@pytest.fixture
def throwaway_user() -> Iterator[str]:
    """A real local user on this machine, removed afterwards whatever happens."""
    if os.geteuid() != 0:
        missing("root", "creating a local user needs root")
    useradd, userdel = tool("useradd"), tool("userdel")
    name = f"wrtest{secrets.token_hex(3)}"
    subprocess.run([useradd, "-M", "-N", "-s", "/bin/bash", "-c", "Wardround test", name],
                   check=True, capture_output=True, timeout=30)
    try:
        yield name
    finally:
        subprocess.run([userdel, name], capture_output=True, timeout=30)
        with open("/etc/passwd", encoding="utf-8") as fh:
            assert f"\n{name}:" not in "\n" + fh.read(), f"{name} was not removed"


# --------------------------------------------------------------------------- this machine (real)

def test_accounts_catalogue_and_defaults():
    assert get_check("accounts").params is accounts.AccountsParams
    assert accounts.AccountsParams().admins == ()


def test_accounts_judges_this_machine_without_showing_a_hash():
    results = accounts.run(params(), CheckContext())
    r = by_item(results)
    assert set(r) == {"empty_password", "password_never_expires", "administrators"}
    for item, result in r.items():
        assert result.status in (Status.OK, Status.WARNING, Status.CRITICAL), (item, result.summary)
        assert result.standard == accounts.STANDARDS[item]
    no_hash_in(results)


def test_empty_password_of_a_real_user_is_critical_and_named(throwaway_user):
    subprocess.run([tool("passwd"), "-d", throwaway_user], check=True, capture_output=True, timeout=30)
    r = by_item(accounts.run(params(), CheckContext()))
    empty = r["empty_password"]
    assert empty.status is Status.CRITICAL
    assert throwaway_user in empty.details["accounts"] and throwaway_user in empty.summary
    assert "no password needed to log in" in empty.summary
    assert empty.details["shells"][throwaway_user] == "/bin/bash"


def test_password_that_never_expires_is_a_warning_then_ok_with_a_maximum_age(throwaway_user):
    subprocess.run([tool("usermod"), "-p", HASH, throwaway_user], check=True, capture_output=True, timeout=30)
    subprocess.run([tool("chage"), "-M", "99999", throwaway_user], check=True, capture_output=True, timeout=30)
    results = accounts.run(params(), CheckContext())
    never = by_item(results)["password_never_expires"]
    assert never.status is Status.WARNING and throwaway_user in never.details["accounts"]
    assert "max days empty or 99999" in never.summary
    no_hash_in(results)
    assert by_item(accounts.run(params(never_expire_ok=["wrtest*"]), CheckContext()))[
        "password_never_expires"].details["accounts"].count(throwaway_user) == 0
    subprocess.run([tool("chage"), "-M", "90", throwaway_user], check=True, capture_output=True, timeout=30)
    never = by_item(accounts.run(params(), CheckContext()))["password_never_expires"]
    assert throwaway_user not in never.details["accounts"]


def test_extra_uid_0_account_is_critical(tmp_path):
    (tmp_path / "etc").mkdir()
    for name in ("passwd", "shadow", "group", "gshadow", "login.defs"):
        if os.path.exists(f"/etc/{name}"):
            shutil.copy(f"/etc/{name}", tmp_path / "etc" / name)
    # the real useradd, on a copy of /etc: never a second root on this machine
    subprocess.run([tool("useradd"), "--prefix", str(tmp_path), "-o", "-u", "0", "-g", "0", "-M", "-N",
                    "-s", "/bin/bash", "toor"], check=True, capture_output=True, timeout=30)
    admins = by_item(accounts.run(params(), CheckContext(), root=str(tmp_path)))["administrators"]
    assert admins.status is Status.CRITICAL
    assert admins.summary == "1 account(s) besides root with UID 0 (full root rights): toor"
    admins = by_item(accounts.run(params(admins=["toor"]), CheckContext(), root=str(tmp_path)))["administrators"]
    assert admins.status is Status.OK and admins.summary == "only root has UID 0 (and toor, allowed)"


def test_shadow_unreadable_is_unknown_with_the_reason():
    r = {x["item"]: x for x in run_check_as("nobody", "accounts")}
    for item in ("empty_password", "password_never_expires"):
        assert r[item]["status"] == 3
        assert r[item]["summary"].startswith("cannot read /etc/shadow: permission denied")
    assert r["administrators"]["status"] == 0  # /etc/passwd alone answers this one


# --------------------------------------------------------------------------- Windows (fixture)

def win(**changes: Any) -> list[Result]:
    data = json.loads((FIXTURES / "accounts_windows.json").read_text(encoding="utf-8"))
    data.update(changes)
    scripts = []

    def powershell(script: str, timeout: float) -> Any:
        scripts.append(script)
        return data
    results = accounts.run(params(), CheckContext(), powershell=powershell, platform="win32")
    assert "Get-LocalUser" in scripts[0] and "S-1-5-32-544" in scripts[0]
    return results


def test_windows_accounts_findings():
    r = by_item(win())
    assert r["empty_password"].status is Status.CRITICAL
    assert r["empty_password"].details["accounts"] == ["Guest", "张医生"]
    assert render(r["empty_password"].message, "zh_CN") == "2 个已启用账户不要求密码（密码可能为空）：Guest, 张医生"
    assert render(r["guest"].standard_message, "zh_CN") == "Guest 账户已禁用"
    assert r["guest"].status is Status.CRITICAL and r["guest"].summary == "the Guest account Guest is enabled"
    assert r["password_never_expires"].status is Status.WARNING
    assert r["password_never_expires"].details["accounts"] == ["Guest", "his_admin"]
    admins = r["administrators"]
    assert admins.status is Status.WARNING
    assert admins.details["accounts"] == ["HIS-DB-01\\his_admin", "HOSPITAL\\vendor-maint"]
    assert admins.details["accepted"] == ["HIS-DB-01\\Administrator", "HOSPITAL\\Domain Admins"]


def test_windows_guest_disabled_and_allowed_admins():
    data = json.loads((FIXTURES / "accounts_windows.json").read_text(encoding="utf-8"))
    for u in data["Users"]:
        if u["Name"] in ("Guest", "张医生"):
            u["Enabled"] = False
    results = accounts.run(params(admins=["his_admin", "HOSPITAL\\vendor-maint"]), CheckContext(),
                           powershell=lambda s, t: data, platform="win32")
    r = by_item(results)
    assert r["guest"].status is Status.OK and r["empty_password"].status is Status.OK
    assert r["administrators"].status is Status.OK


def test_windows_group_members_unknown_and_powershell_failing():
    r = by_item(win(Administrators=None, AdministratorsError="Failed to compare two elements in the array."))
    assert r["administrators"].status is Status.UNKNOWN
    assert "Failed to compare two elements" in r["administrators"].summary

    def broken(script: str, timeout: float) -> Any:
        raise _windows.WindowsError_("PowerShell failed (exit 1): The term 'Get-LocalUser' is not recognized")
    [r] = accounts.run(params(), CheckContext(), powershell=broken, platform="win32")
    assert r.status is Status.UNKNOWN and "Get-LocalUser" in r.summary


def test_accounts_on_an_unknown_system_is_unknown():
    [r] = accounts.run(params(), CheckContext(), platform="aix")
    assert r.status is Status.UNKNOWN and "aix" in r.summary
