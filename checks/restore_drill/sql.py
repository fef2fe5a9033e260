"""The SQL a drill sends: create, probe, size, drop and find leftovers, per engine."""

from __future__ import annotations

from checks import _logs

log = _logs.get(__name__)  # logging itself only if a record needs it (checks/_logs.py)


#: the default probes: a user table exists
PG_PROBE = """
SELECT 1 AS found FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%'
LIMIT 1
"""
MYSQL_PROBE = "SELECT 1 AS found FROM information_schema.tables WHERE table_schema = DATABASE() LIMIT 1"
SQLSERVER_PROBE = "SELECT TOP (1) 1 AS found FROM sys.tables WHERE is_ms_shipped = 0"

PG_CREATE = 'CREATE DATABASE "{name}" TEMPLATE template0'
PG_DROP = 'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
PG_DROP_OLD = 'DROP DATABASE IF EXISTS "{name}"'  # PostgreSQL before 13: no FORCE
PG_SIZE = "SELECT pg_database_size(datname) AS bytes FROM pg_database WHERE datname = ?"
PG_LEFTOVERS = "SELECT datname AS name FROM pg_database WHERE datname LIKE ?"

MYSQL_CREATE = "CREATE DATABASE `{name}`"
MYSQL_DROP = "DROP DATABASE IF EXISTS `{name}`"
MYSQL_SIZE = ("SELECT COALESCE(SUM(data_length + index_length), 0) AS bytes FROM information_schema.tables "
              "WHERE table_schema = ?")
MYSQL_LEFTOVERS = "SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name LIKE ?"
#: a killed client's statement may still run in the server and hold the database: its threads go first
MYSQL_THREADS = "SELECT id FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()"
MYSQL_KILL = "KILL {id}"

#: SQL Server.  Sources: learn.microsoft.com RESTORE HEADERONLY / FILELISTONLY / VERIFYONLY / DATABASE
#: (variables allowed for the device and the MOVE names), SERVERPROPERTY('InstanceDefaultDataPath').
SQLSERVER_HEADERONLY = "RESTORE HEADERONLY FROM DISK = ?"
SQLSERVER_FILELISTONLY = "RESTORE FILELISTONLY FROM DISK = ? WITH FILE = ?"
SQLSERVER_VERIFYONLY = "RESTORE VERIFYONLY FROM DISK = ? WITH FILE = ?"
SQLSERVER_VERIFYONLY_CHECKSUM = "RESTORE VERIFYONLY FROM DISK = ? WITH FILE = ?, CHECKSUM"
SQLSERVER_SERVER = """
SELECT @@SERVERNAME AS server_name, DB_NAME() AS database_name,
       CAST(SERVERPROPERTY('InstanceDefaultDataPath') AS nvarchar(260)) AS data_path,
       CAST(SERVERPROPERTY('InstanceDefaultLogPath') AS nvarchar(260)) AS log_path
"""
SQLSERVER_RESTORE = "RESTORE DATABASE [{name}] FROM DISK = ? WITH FILE = ?, {moves}, RECOVERY"
SQLSERVER_DROP = ("IF DB_ID(N'{name}') IS NOT NULL BEGIN ALTER DATABASE [{name}] SET SINGLE_USER WITH ROLLBACK "
                  "IMMEDIATE; DROP DATABASE [{name}]; END")
SQLSERVER_SIZE = ("SELECT SUM(CAST(size AS bigint)) * 8192 AS bytes FROM sys.master_files "
                  "WHERE database_id = DB_ID(?)")
SQLSERVER_LEFTOVERS = "SELECT name FROM sys.databases WHERE name LIKE ?"

SQL_DIALECTS = {  # for the test that parses every statement (with {name} filled in)
    "PG_PROBE": "postgres", "MYSQL_PROBE": "mysql", "SQLSERVER_PROBE": "tsql",
    "PG_CREATE": "postgres", "PG_DROP_OLD": "postgres", "PG_SIZE": "postgres", "PG_LEFTOVERS": "postgres",
    "MYSQL_CREATE": "mysql", "MYSQL_DROP": "mysql", "MYSQL_SIZE": "mysql", "MYSQL_LEFTOVERS": "mysql",
    "MYSQL_THREADS": "mysql", "MYSQL_KILL": "mysql",
    "SQLSERVER_SERVER": "tsql", "SQLSERVER_SIZE": "tsql", "SQLSERVER_LEFTOVERS": "tsql",
}
DEFAULT_PROBES = {"postgresql": PG_PROBE, "mysql": MYSQL_PROBE, "sqlserver": SQLSERVER_PROBE}

