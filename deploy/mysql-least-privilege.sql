-- Wardround: least privilege for the db_accounts check on MariaDB 10.4+ and MySQL 5.7/8.
--
-- db_accounts reads the account table and asks it yes/no questions only (empty password? locked?
-- a role?); the answers leave the server, the password hashes do not.  The account table is all it
-- needs.  SELECT on it does let the login read hashes, so: a password of its own, and only from the
-- agent's host.  Run once as root; put the password in the agent's password_file.

CREATE USER 'wardround_monitor'@'10.0.0.15' IDENTIFIED BY '<a long random password>';

-- MariaDB 10.4 and later (accounts live in mysql.global_priv):
GRANT SELECT ON mysql.global_priv TO 'wardround_monitor'@'10.0.0.15';

-- MySQL 5.7 / 8.0 instead (accounts live in mysql.user; only the columns the check reads):
-- GRANT SELECT (User, Host, plugin, authentication_string, account_locked)
--     ON mysql.user TO 'wardround_monitor'@'10.0.0.15';
