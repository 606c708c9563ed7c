#!/bin/sh
# Run once by the postgres image, when it initialises an empty data directory: the role the
# postgres-backup service dumps as (compose/backup/backup.sh). pg_read_all_data lets it read every
# table, view and sequence for pg_dump, and nothing more: it cannot write, create or drop, and is
# no superuser. Two connections are plenty for one pg_dump at a time.
# As in 10-checkpoint-role.sh: psql reads the secret itself and sends it as a quoted literal, so it
# is on no command line and in no environment; ON_ERROR_STOP makes any error the script's status.
# POSTGRES_BACKUP_PASSWORD_FILE is for the native tests, which run this script outside the image.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v password_file="${POSTGRES_BACKUP_PASSWORD_FILE:-/run/secrets/postgres_backup_password}" <<'SQL'
\set password `cat :'password_file'`
CREATE ROLE backup LOGIN PASSWORD :'password' CONNECTION LIMIT 2;
GRANT pg_read_all_data TO backup;
SQL
