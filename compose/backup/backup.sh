#!/bin/sh
# One backup run: dumps a PostgreSQL database (pg_dump, custom format), uploads the dump to an
# SFTP server, then deletes the dumps there that are older than the retention. The compose demo's
# postgres-backup service runs it on a schedule (schedule.sh); it can also be run by hand:
#   docker compose exec postgres-backup backup.sh
#
# Settings, from the environment:
#   PGHOST, PGPORT, PGUSER, PGDATABASE  libpq's own: the server, the role (pg_read_all_data is enough)
#                                       and the database to dump
#   BACKUP_PGPASSWORD_FILE      the role's password (a compose secret)
#   BACKUP_SFTP_HOST            the SFTP server
#   BACKUP_SFTP_PORT            its port (22)
#   BACKUP_SFTP_USER            the login there, by key only
#   BACKUP_SFTP_KEY_FILE        that login's private key (a compose secret)
#   BACKUP_SFTP_HOST_KEY_FILE   the server's public host key (`ssh-ed25519 AAAA...`): the only key
#                               accepted, so the dump never goes to a server that is not that one
#   BACKUP_SFTP_DIR             the directory the dumps go to, on the server
#   BACKUP_NAME                 the dumps' name: <name>-<UTC time>.dump (postgres)
#   BACKUP_RETENTION_HOURS      dumps older than this are deleted after a good upload (48)
#
# What the checkpoints check (compose/checkpoint.yml, module sftp_postgres_backups) follows from
# this: one `<name>-*.dump` a day, none empty, none older than the retention. A run that fails
# says why on stderr and exits non-zero; it never prunes after a failed dump or upload, so a
# broken job keeps the dumps it has until BackupMissing says so. No password or key is printed.
set -eu

say() { printf 'backup: %s\n' "$*"; }
fail() {
  printf 'backup: FAILED: %s\n' "$*" >&2
  exit 1
}
need() {
  eval "value=\${$1:-}"
  [ -n "$value" ] || fail "$1 is not set"
}
for variable in PGHOST PGUSER PGDATABASE BACKUP_PGPASSWORD_FILE BACKUP_SFTP_HOST BACKUP_SFTP_USER BACKUP_SFTP_KEY_FILE BACKUP_SFTP_HOST_KEY_FILE BACKUP_SFTP_DIR; do
  need "$variable"
done
name=${BACKUP_NAME:-postgres}
retention_hours=${BACKUP_RETENTION_HOURS:-48}
case $name in *[!A-Za-z0-9._-]* | '') fail "BACKUP_NAME must be letters, digits, '.', '_' or '-': got '$name'" ;; esac
case $retention_hours in *[!0-9]* | '') fail "BACKUP_RETENTION_HOURS must be a whole number of hours: got '$retention_hours'" ;; esac
case $BACKUP_SFTP_DIR in *[!A-Za-z0-9/._-]*) fail "BACKUP_SFTP_DIR must be a plain path (letters, digits, '/', '.', '_', '-'): got '$BACKUP_SFTP_DIR'" ;; esac
for file in "$BACKUP_PGPASSWORD_FILE" "$BACKUP_SFTP_KEY_FILE" "$BACKUP_SFTP_HOST_KEY_FILE"; do
  [ -r "$file" ] || fail "cannot read $file"
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077

# libpq reads the password from a passfile, so that it is in no command line and no environment
# value; in that file ':' and '\' are escaped.
password=$(cat "$BACKUP_PGPASSWORD_FILE")
printf '*:*:*:*:%s\n' "$(printf '%s' "$password" | sed 's/[\\:]/\\&/g')" >"$work/pgpass"
unset password
export PGPASSFILE="$work/pgpass" PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-10}"

# ssh refuses a key file others can read, and a bind-mounted secret keeps the host's mode: a copy.
cp "$BACKUP_SFTP_KEY_FILE" "$work/key"
# The server's key under a fixed alias: whatever the host and port, no other key is accepted.
printf 'backup-target %s\n' "$(cat "$BACKUP_SFTP_HOST_KEY_FILE")" >"$work/known_hosts"
sftp_batch() {
  sftp -b - -P "${BACKUP_SFTP_PORT:-22}" -i "$work/key" \
    -o IdentitiesOnly=yes -o BatchMode=yes -o PasswordAuthentication=no \
    -o HostKeyAlias=backup-target -o UserKnownHostsFile="$work/known_hosts" -o StrictHostKeyChecking=yes \
    -o ConnectTimeout=10 -o ServerAliveInterval=15 -o ServerAliveCountMax=4 \
    "$BACKUP_SFTP_USER@$BACKUP_SFTP_HOST"
}

started=$(date -u +%s)
dump="$name-$(date -u -d "@$started" +%Y%m%dT%H%M%SZ).dump"

pg_dump --format=custom --no-password --file="$work/$dump" ||
  fail "pg_dump of database $PGDATABASE on $PGHOST as $PGUSER failed (above); nothing uploaded, nothing pruned"
size=$(wc -c <"$work/$dump")
[ "$size" -gt 0 ] || fail "pg_dump wrote an empty dump; nothing uploaded, nothing pruned"
say "dumped database $PGDATABASE on $PGHOST to $dump ($size bytes)"

# Uploaded under a name the checks do not match, then renamed: a dump cut short by a dropped
# connection never looks like a finished one.
sftp_batch <<SFTP || fail "upload of $dump to $BACKUP_SFTP_HOST:$BACKUP_SFTP_DIR failed (above); nothing pruned"
put "$work/$dump" "$BACKUP_SFTP_DIR/.$dump.partial"
rename "$BACKUP_SFTP_DIR/.$dump.partial" "$BACKUP_SFTP_DIR/$dump"
SFTP
say "uploaded $dump to $BACKUP_SFTP_HOST:$BACKUP_SFTP_DIR"

# Pruned by the time in the name, not the file's mtime (a copy or restore changes that). The
# cutoff has 30 minutes' slack: the dump made this many hours ago, at about this time of day, goes
# even when that run started a little later than this one.
cutoff=$(date -u -d "@$((started - retention_hours * 3600 + 1800))" +%Y%m%dT%H%M%SZ)
listing=$(printf 'ls -1 %s\n' "$BACKUP_SFTP_DIR" | sftp_batch) || fail "cannot list $BACKUP_SFTP_HOST:$BACKUP_SFTP_DIR to prune it (above)"
old=$(printf '%s\n' "$listing" | sed 's|.*/||' | awk -v prefix="$name-" -v cutoff="$cutoff" '
  substr($0, 1, length(prefix)) == prefix && length($0) == length(prefix) + 21 && substr($0, length(prefix) + 17) == ".dump" {
    stamp = substr($0, length(prefix) + 1, 16)
    if (stamp ~ /^[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z$/ && stamp < cutoff) print
  }')
if [ -z "$old" ]; then
  say "nothing older than $retention_hours hours to prune"
  exit 0
fi
printf '%s\n' "$old" | sed "s|^|rm $BACKUP_SFTP_DIR/|" | sftp_batch ||
  fail "pruning dumps older than $retention_hours hours in $BACKUP_SFTP_HOST:$BACKUP_SFTP_DIR failed (above): $(printf '%s' "$old" | tr '\n' ' ')"
say "pruned $(printf '%s\n' "$old" | wc -l) dump(s) older than $retention_hours hours: $(printf '%s' "$old" | tr '\n' ' ')"
