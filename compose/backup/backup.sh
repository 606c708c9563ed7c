#!/bin/sh
# One backup run: dumps a PostgreSQL database (pg_dump, custom format), uploads the dump to an
# SFTP server, then deletes the dumps there that are older than the retention. The compose demo's
# postgres-backup service runs it on a schedule (schedule.sh); it can also be run by hand:
#   docker compose exec postgres-backup backup.sh
# `backup.sh --prune-only` only deletes what is past the retention (schedule.sh does it every
# hour, so that a dump made off the schedule, at start or by hand, goes on time too).
#
# Settings, from the environment:
#   PGHOST, PGPORT, PGUSER, PGDATABASE  libpq's own: the server, the role and the database to dump.
#                               pg_read_all_data is enough for the role, except for rows that
#                               row-level security hides (give it BYPASSRLS if you use that)
#   BACKUP_PGPASSWORD_FILE      the role's password (a compose secret)
#   BACKUP_SFTP_HOST            the SFTP server
#   BACKUP_SFTP_PORT            its port (22)
#   BACKUP_SFTP_USER            the login there, by key only
#   BACKUP_SFTP_KEY_FILE        that login's private key (a compose secret)
#   BACKUP_SFTP_HOST_KEY_FILE   the server's public host key (`ssh-ed25519 AAAA...`): the only key
#                               accepted, so the dump never goes to a server that is not that one
#   BACKUP_SFTP_DIR             the directory the dumps go to, on the server
#   BACKUP_NAME                 the dumps' name: <name>-<UTC time>.dump (postgres)
#   BACKUP_RETENTION_HOURS      dumps older than this are deleted (48; at least 1)
#   BACKUP_WORK_DIR             where the dump is written before the upload ($TMPDIR, /tmp): it
#                               needs room for one dump
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

mode=${1:-}
case $mode in '' | --prune-only) ;; *) fail "usage: backup.sh [--prune-only]" ;; esac
settings="BACKUP_SFTP_HOST BACKUP_SFTP_USER BACKUP_SFTP_KEY_FILE BACKUP_SFTP_HOST_KEY_FILE BACKUP_SFTP_DIR"
[ "$mode" = --prune-only ] || settings="PGHOST PGUSER PGDATABASE BACKUP_PGPASSWORD_FILE $settings"
for variable in $settings; do
  need "$variable"
done
name=${BACKUP_NAME:-postgres}
retention_hours=${BACKUP_RETENTION_HOURS:-48}
case $name in *[!A-Za-z0-9._-]* | '') fail "BACKUP_NAME must be letters, digits, '.', '_' or '-': got '$name'" ;; esac
case $retention_hours in *[!0-9]* | '' | 0 | 00*) fail "BACKUP_RETENTION_HOURS must be a whole number of hours, at least 1: got '$retention_hours'" ;; esac
case $BACKUP_SFTP_DIR in *[!A-Za-z0-9/._-]*) fail "BACKUP_SFTP_DIR must be a plain path (letters, digits, '/', '.', '_', '-'): got '$BACKUP_SFTP_DIR'" ;; esac
for file in "$BACKUP_SFTP_KEY_FILE" "$BACKUP_SFTP_HOST_KEY_FILE" ${BACKUP_PGPASSWORD_FILE:+"$BACKUP_PGPASSWORD_FILE"}; do
  [ -r "$file" ] || fail "cannot read $file"
done

work=$(mktemp -d -p "${BACKUP_WORK_DIR:-${TMPDIR:-/tmp}}")
trap 'rm -rf "$work"' EXIT
umask 077

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
where="$BACKUP_SFTP_HOST:$BACKUP_SFTP_DIR"
started=$(date -u +%s)
dump=

if [ "$mode" != --prune-only ]; then
  # libpq reads the password from a passfile, so that it is in no command line and no environment
  # value; in that file ':' and '\' are escaped.
  password=$(cat "$BACKUP_PGPASSWORD_FILE")
  printf '*:*:*:*:%s\n' "$(printf '%s' "$password" | sed 's/[\\:]/\\&/g')" >"$work/pgpass"
  unset password
  export PGPASSFILE="$work/pgpass" PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-10}"

  dump="$name-$(date -u -d "@$started" +%Y%m%dT%H%M%SZ).dump"
  pg_dump --format=custom --no-password --file="$work/$dump" ||
    fail "pg_dump of database $PGDATABASE on $PGHOST as $PGUSER failed (above); nothing uploaded, nothing pruned"
  size=$(wc -c <"$work/$dump")
  [ "$size" -gt 0 ] || fail "pg_dump wrote an empty dump; nothing uploaded, nothing pruned"
  say "dumped database $PGDATABASE on $PGHOST to $dump ($size bytes)"

  # Uploaded under a name the checks do not match, then renamed: a dump cut short by a dropped
  # connection never looks like a finished one. A failed upload removes what it left, if it can
  # (the prune removes it otherwise, once it is past the retention).
  partial="$BACKUP_SFTP_DIR/.$dump.partial"
  if ! printf 'put "%s" "%s"\nrename "%s" "%s"\n' "$work/$dump" "$partial" "$partial" "$BACKUP_SFTP_DIR/$dump" | sftp_batch; then
    printf 'rm "%s"\n' "$partial" | sftp_batch >/dev/null 2>&1 || true
    fail "upload of $dump to $where failed (above); nothing pruned"
  fi
  say "uploaded $dump to $where"
fi

# Pruned by the time in the name, not the file's mtime (a copy or restore changes that); the
# uploads a failed run left (.<dump>.partial) alike. The cutoff has 30 minutes' slack: the dump
# made this many hours ago, at about this time of day, goes even when that run started a little
# later than this one.
cutoff=$(date -u -d "@$((started - retention_hours * 3600 + 1800))" +%Y%m%dT%H%M%SZ)
listing=$(printf 'ls -1a %s\n' "$BACKUP_SFTP_DIR" | sftp_batch) || fail "cannot list $where to prune it (above)"
old=$(printf '%s\n' "$listing" | sed 's|.*/||' | awk -v prefix="$name-" -v cutoff="$cutoff" -v keep="$dump" '
  {
    file = $0
    if (file == keep) next
    if (substr(file, 1, 1) == "." && substr(file, length(file) - 7) == ".partial") file = substr(file, 2, length(file) - 9)
    if (substr(file, 1, length(prefix)) != prefix || length(file) != length(prefix) + 21 || substr(file, length(prefix) + 17) != ".dump") next
    stamp = substr(file, length(prefix) + 1, 16)
    if (stamp ~ /^[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z$/ && stamp < cutoff) print
  }')
if [ -z "$old" ]; then
  say "nothing older than $retention_hours hours to prune"
  exit 0
fi
printf '%s\n' "$old" | sed "s|^\(.*\)$|rm \"$BACKUP_SFTP_DIR/\1\"|" | sftp_batch ||
  fail "pruning dumps older than $retention_hours hours in $where failed (above): $(printf '%s' "$old" | tr '\n' ' ')"
say "pruned $(printf '%s\n' "$old" | wc -l) file(s) older than $retention_hours hours: $(printf '%s' "$old" | tr '\n' ' ')"
