-- Wardround: a least-privilege SQL Server login for the db_backup check (SQL Server 2008 R2 and later).
--
-- What db_backup reads, and nothing else:
--   sys.databases, sys.database_mirroring, SERVERPROPERTY      -> VIEW ANY DATABASE (public has it)
--   2012+ with Availability Groups: sys.availability_groups, sys.availability_replicas,
--   sys.dm_hadr_availability_replica_states, sys.fn_hadr_backup_is_preferred_replica
--                                                              -> VIEW SERVER STATE
--   msdb.dbo.backupset, msdb.dbo.backupmediafamily             -> backup history (finish time, size, file)
--   msdb.dbo.sysjobs, sysjobhistory, sysjobservers, sysjobschedules, sysschedules
--                                                              -> SQL Agent jobs (with jobs: true)
-- No sysadmin, no db_owner, no user in any HIS database: patient data stays unreadable.
-- Run as a sysadmin once; put the password in the agent's password_file, not in agent.yaml.

USE [master];
GO
CREATE LOGIN [wardround_monitor]
    WITH PASSWORD = N'<a long random password>',
         DEFAULT_DATABASE = [master],
         CHECK_POLICY = ON, CHECK_EXPIRATION = OFF;
GO
GRANT VIEW SERVER STATE TO [wardround_monitor];
GRANT VIEW ANY DATABASE TO [wardround_monitor];   -- normally granted to public already
GO

USE [msdb];
GO
CREATE USER [wardround_monitor] FOR LOGIN [wardround_monitor];
GO
-- Explicit grants on the history tables only (instead of db_datareader on all of msdb).
GRANT SELECT ON dbo.backupset          TO [wardround_monitor];
GRANT SELECT ON dbo.backupmediafamily  TO [wardround_monitor];
GRANT SELECT ON dbo.sysjobs            TO [wardround_monitor];
GRANT SELECT ON dbo.sysjobhistory      TO [wardround_monitor];
GRANT SELECT ON dbo.sysjobservers      TO [wardround_monitor];
GRANT SELECT ON dbo.sysjobschedules    TO [wardround_monitor];
GRANT SELECT ON dbo.sysschedules       TO [wardround_monitor];
GO

-- Check (as the new login): both must return rows, and the HIS database must stay closed.
--   EXECUTE AS LOGIN = N'wardround_monitor';
--   SELECT TOP (1) database_name, backup_finish_date FROM msdb.dbo.backupset ORDER BY backup_finish_date DESC;
--   SELECT TOP (1) name FROM msdb.dbo.sysjobs;
--   SELECT TOP (1) * FROM [HISDB].sys.tables;   -- expected: error 916, no access
--   REVERT;

-- db_accounts (sa enabled, CHECK_POLICY off, blank passwords) reads sys.sql_logins.  Without this grant a
-- login sees only itself and sa, and the check says so (UNKNOWN) instead of guessing:
USE [master];
GO
GRANT VIEW ANY DEFINITION TO [wardround_monitor];
GO
-- The blank-password test (PWDCOMPARE) needs the password hashes, which SQL Server shows only to logins
-- with CONTROL SERVER: nearly sysadmin.  Rather than grant it, set `blank_passwords: false` on this
-- login's db_accounts check, or run that one check under a separate, audited sysadmin login.

-- restore_drill on a SCRATCH server (never the HIS server itself): a separate login there that may create,
-- restore and drop its own throwaway databases, and read the backup files (RESTORE HEADERONLY/VERIFYONLY):
--   CREATE LOGIN [wardround_drill] WITH PASSWORD = N'<another long random password>', CHECK_POLICY = ON;
--   ALTER SERVER ROLE [dbcreator] ADD MEMBER [wardround_drill];
-- The SQL Server service account of the scratch server needs read access to the backup share.
