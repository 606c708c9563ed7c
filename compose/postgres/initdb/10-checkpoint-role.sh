#!/bin/sh
# Run once by the postgres image, when it initialises an empty data directory: the role the
# checkpoints log in as. No grant beyond PUBLIC's is needed (exporters/postgres/README.md).
# psql reads the password from the compose secret itself (a backquoted command in \set, its
# trailing newline removed) and sends it as a quoted literal (:'password'): it is on no
# command line and in no environment. No `set -eu`: the image sources this file instead of
# running it when it is not executable, and the options would leak into its entrypoint; the
# script's status is psql's, which ON_ERROR_STOP makes fail on any error.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
\set password `cat /run/secrets/postgres_checkpoint_password`
CREATE ROLE checkpoint LOGIN PASSWORD :'password' CONNECTION LIMIT 5;
SQL
