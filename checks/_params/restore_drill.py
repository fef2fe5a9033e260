"""restore_drill's parameters: the backup to restore, the scratch server, the probe, the limits."""

from __future__ import annotations

from dataclasses import dataclass

from checks import _odbc
from checks.params import Duration, check_above_zero

NAME = "restore_drill"
ENGINES = ("postgresql", "mysql", "sqlserver")
PREFIX = "wardround_drill_"
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "sqlserver": 1433}



@dataclass(frozen=True)
class RestoreDrillParams:
    #: postgresql, mysql (or mariadb), sqlserver
    engine: str = "postgresql"
    #: the backup directory (as for backup_files)
    path: str = ""
    pattern: str = "*"
    #: ODBC connection string of the SCRATCH server without the password; its DATABASE is where the drill
    #: connects to create and drop the throwaway database (postgres, mysql, master)
    target_dsn: str = ""
    password_file: str = ""
    password_env: str = ""
    #: SQL that must return at least one row in the restored database (default: a user table exists)
    probe: str = ""
    #: a drill taking longer than this is WARNING; empty: not judged
    max_duration: Duration | None = None
    #: the production server's ODBC connection string (optional): a target on the same server and
    #: database is refused
    source_dsn: str = ""
    #: sqlserver: the backup directory as the scratch SQL Server sees it (default: path)
    server_path: str = ""
    #: sqlserver: restore the database; false stops after RESTORE VERIFYONLY
    restore: bool = True
    #: directory of pg_restore, psql or mysql (default: PATH, then /usr/lib/postgresql/*/bin)
    client_bin: str = ""
    #: a file modified more recently than this is still being written
    settle: Duration = Duration(120.0)
    #: seconds before a hung listing (dead network share) is given up
    list_timeout: Duration = Duration(15.0)
    login_timeout: Duration = Duration(10.0)
    #: seconds for each statement of the drill (create, probe, size, drop)
    query_timeout: Duration = Duration(120.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "engine", _odbc.engine_name(self.engine, ENGINES))
        _odbc.check_connection_params(self.target_dsn, self.password_file, self.password_env,
                                      dsn_key="target_dsn")
        _odbc.check_connection_params(self.source_dsn, "", "", dsn_key="source_dsn")
        check_above_zero(self, "list_timeout", "login_timeout", "query_timeout", expected="must be more than 0")
        if self.max_duration is not None and self.max_duration <= 0:
            raise ValueError("max_duration: must be more than 0")


