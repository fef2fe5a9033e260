-- Wardround: least privilege for the db_accounts check on PostgreSQL 10+ (tested on 15).
--
-- db_accounts asks two things that PostgreSQL shows to superusers only:
--   pg_hba_file_rules          the lines of pg_hba.conf (which ones say "trust")
--   pg_authid.rolpassword      whether a login role has a password at all
-- Instead of making the monitoring role a superuser, this script (run once, as a superuser, in the
-- database the check connects to) grants read access to pg_hba_file_rules and installs
-- wardround.login_roles_without_password(): a SECURITY DEFINER function that answers role names
-- and whether each is a superuser.  The monitoring role never sees a password hash.
--
--   psql -U postgres -d postgres -v monitor=wardround_monitor -f postgresql-least-privilege.sql
--
-- The monitoring role itself (LOGIN, a password, pg_monitor for db_backup) is created beforehand:
--   CREATE ROLE wardround_monitor LOGIN PASSWORD '<a long random password>' IN ROLE pg_monitor;
\set ON_ERROR_STOP on
\if :{?monitor}
\else
  \set monitor wardround_monitor
\endif

CREATE SCHEMA IF NOT EXISTS wardround;
REVOKE ALL ON SCHEMA wardround FROM PUBLIC;

CREATE OR REPLACE FUNCTION wardround.login_roles_without_password()
    RETURNS TABLE (rolname name, is_superuser integer)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT a.rolname, CASE WHEN a.rolsuper THEN 1 ELSE 0 END
    FROM pg_catalog.pg_authid AS a
    WHERE a.rolcanlogin AND a.rolpassword IS NULL
    ORDER BY a.rolname
$$;
REVOKE ALL ON FUNCTION wardround.login_roles_without_password() FROM PUBLIC;

GRANT USAGE ON SCHEMA wardround TO :"monitor";
GRANT EXECUTE ON FUNCTION wardround.login_roles_without_password() TO :"monitor";
-- a view calls its function with the caller's rights: both grants are needed
GRANT SELECT ON pg_catalog.pg_hba_file_rules TO :"monitor";
GRANT EXECUTE ON FUNCTION pg_catalog.pg_hba_file_rules() TO :"monitor";
