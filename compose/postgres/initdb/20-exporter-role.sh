#!/bin/sh
# Run once by the postgres image, when it initialises an empty data directory: the role
# postgres_exporter logs in as (compose.yaml, service postgres-exporter). A member of pg_monitor
# and nothing else: it reads the statistics views and settings, and no table's data. Three
# connections at most: the exporter keeps one open.
# As in 10-checkpoint-role.sh, psql reads the password from the compose secret itself (a
# backquoted command in \set, its trailing newline removed) and sends it as a quoted literal: it
# is on no command line and in no environment. The secret's path is EXPORTER_PASSWORD_FILE when
# set (tests/databases/postgres-exporter.test.ts runs this file against its own server), and
# reaches the backquoted command as a psql variable, quoted for the shell (:'password_file').
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v password_file="${EXPORTER_PASSWORD_FILE:-/run/secrets/postgres_exporter_password}" <<'SQL'
\set password `cat :'password_file'`
CREATE ROLE postgres_exporter LOGIN PASSWORD :'password' CONNECTION LIMIT 3 IN ROLE pg_monitor;
SQL
