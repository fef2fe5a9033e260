"""The parameters of the ``db_accounts`` check (checks/db_accounts.py), a leaf module."""

from __future__ import annotations

from dataclasses import dataclass

from checks import _odbc
from checks.params import Duration, check_above_zero

ENGINES = ("sqlserver", "postgresql", "mysql")


@dataclass(frozen=True)
class DbAccountsParams:
    #: sqlserver, postgresql, mysql (or mariadb)
    engine: str = "sqlserver"
    #: ODBC connection string WITHOUT the password, e.g. ``DRIVER={ODBC Driver 18 for SQL Server};...``
    dsn: str = ""
    password_file: str = ""
    password_env: str = ""
    login_timeout: Duration = Duration(10)
    query_timeout: Duration = Duration(30)
    #: sqlserver: test for blank passwords (needs CONTROL SERVER to see the password hashes)
    blank_passwords: bool = True
    #: postgresql: login roles that may have no password (they log in by peer or certificate)
    no_password_ok: tuple[str, ...] = ("postgres",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "engine", _odbc.engine_name(self.engine, ENGINES))
        _odbc.check_connection_params(self.dsn, self.password_file, self.password_env)
        check_above_zero(self, "login_timeout", "query_timeout", expected="must be more than 0")
