"""db_backup's parameters: thresholds, database filters and per-item overrides."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from checks import _odbc
from checks._units import DAY, HOUR
from checks.params import Duration, check_above_zero, parse_duration

NAME = "db_backup"
ENGINES = ("sqlserver", "oracle", "postgresql", "mysql")
ENGINE_ALIASES = _odbc.ENGINE_ALIASES
OVERRIDE_KEYS = ("full_max_age", "diff_max_age", "log_max_age", "archive_max_age", "job_max_age")
Query = _odbc.Query  # q(sql, *args, what=...) on one connection


@dataclass(frozen=True)
class DbBackupParams:
    engine: str = "sqlserver"
    #: ODBC connection string WITHOUT the password, e.g. ``DRIVER={ODBC Driver 18 for SQL Server};...``
    dsn: str = ""
    password_file: str = ""
    password_env: str = ""
    full_max_age: Duration = Duration(26 * HOUR)
    #: a full or a differential backup within this age
    diff_max_age: Duration = Duration(26 * HOUR)
    #: log backups of FULL / BULK_LOGGED recovery databases (RMAN: ARCHIVELOG backups)
    log_max_age: Duration = Duration(HOUR)
    #: postgresql: newest archived WAL file, judged only while WAL files wait
    archive_max_age: Duration = Duration(HOUR)
    login_timeout: Duration = Duration(10)
    query_timeout: Duration = Duration(30)
    #: glob patterns of database names to judge (default all); ``exclude`` wins
    databases: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    #: ``"<name>:<key>=<duration>"``: name is a database, or an item such as ``rman/ARCHIVELOG``,
    #: ``pgbackrest/main``, ``job/<job name>`` (globs allowed); key one of OVERRIDE_KEYS
    override: tuple[str, ...] = ()
    #: sqlserver: copy-only backups count too (copy-only fulls of Availability Group databases
    #: always count: a secondary replica can take no other full)
    copy_only: bool = False
    min_size_ratio: float = 0.5
    #: sqlserver: a full/diff backup without CHECKSUM is "unverified" (WARNING)
    require_checksum: bool = False
    #: postgresql: WAL archiving, oracle: ARCHIVELOG mode is expected (off → CRITICAL); false leaves
    #: the archive item out
    archiving: bool = True
    pgbackrest_stanza: str = ""
    pgbackrest_command: str = "pgbackrest"
    #: sqlserver: also judge SQL Server Agent jobs (items ``job/<name>``)
    jobs: bool = False
    #: a scheduled, enabled Agent job must have run within this age
    job_max_age: Duration = Duration(26 * HOUR)
    #: oracle: how far back V$RMAN_BACKUP_JOB_DETAILS is read
    rman_lookback: Duration = Duration(8 * DAY)

    def __post_init__(self) -> None:
        object.__setattr__(self, "engine", _odbc.engine_name(self.engine, ENGINES))
        _odbc.check_connection_params(self.dsn, self.password_file, self.password_env)
        if not 0 <= self.min_size_ratio <= 1:
            raise ValueError(f"min_size_ratio: expected a ratio between 0 and 1 "
                             f"(got {self.min_size_ratio:g})")
        check_above_zero(self, "full_max_age", "diff_max_age", "log_max_age", "archive_max_age", "job_max_age",
                         "login_timeout", "query_timeout", "rman_lookback", expected="must be more than 0")
        for text in self.override:
            _parse_override(text)

    def max_age(self, key: str, *names: str) -> float:
        """The threshold ``key`` for an item, after the first matching override."""
        for text in self.override:
            pattern, okey, seconds = _parse_override(text)
            if okey == key and any(fnmatch.fnmatchcase(n.lower(), pattern.lower()) for n in names):
                return seconds
        return float(getattr(self, key))

    def wanted(self, name: str) -> bool:
        low = name.lower()
        if any(fnmatch.fnmatchcase(low, p.lower()) for p in self.exclude):
            return False
        return not self.databases or any(fnmatch.fnmatchcase(low, p.lower()) for p in self.databases)


def _parse_override(text: str) -> tuple[str, str, float]:
    name, sep, rest = text.rpartition(":")
    key, eq, value = rest.partition("=")
    key = key.strip()
    if not sep or not name.strip() or not eq or key not in OVERRIDE_KEYS:
        raise ValueError(f"override: expected '<name>:<key>=<duration>' with key one of "
                         f"{', '.join(OVERRIDE_KEYS)} (got {text!r})")
    try:
        seconds = parse_duration(value.strip())
    except ValueError as exc:
        raise ValueError(f"override: {exc} in {text!r}") from None
    if seconds <= 0:
        raise ValueError(f"override: the duration must be more than 0 in {text!r}")
    return name.strip(), key, seconds

