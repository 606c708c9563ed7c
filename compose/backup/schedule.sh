#!/bin/sh
# The postgres-backup service's main process: runs backup.sh once a day at the time BACKUP_SCHEDULE
# says, in cron's syntax for a daily job, "MINUTE HOUR * * *" ("0 4 * * *", 04:00, by default), in
# the container's time zone (UTC unless TZ is set). Anything else cron can say is refused rather
# than half understood. BACKUP_ON_START=true also runs one backup at start (the demo: a fresh
# stack has a dump to check at once).
#
# A run that fails is logged and the schedule goes on: the checkpoints' sftp monitor notices the
# missing dump (BackupMissing), which is what pages. Like cron, a time missed while the container
# was stopped is not caught up. Every loop touches /tmp/schedule.alive (in $TMPDIR, if set): the
# health check reads it.
# `schedule.sh --check` says when the backups would run, or why BACKUP_SCHEDULE is refused, and exits.
set -eu

schedule=${BACKUP_SCHEDULE:-0 4 * * *}
check_only=false
[ "${1:-}" != --check ] || check_only=true
refuse() {
  printf 'schedule: BACKUP_SCHEDULE must be a daily time, "MINUTE HOUR * * *" (e.g. "0 4 * * *"): got "%s"\n' "$schedule" >&2
  exit 2
}
# Split on blanks without expanding the asterisks as file names.
set -f
# shellcheck disable=SC2086 # the split is the point
set -- $schedule
set +f
if [ $# -ne 5 ] || [ "$3" != '*' ] || [ "$4" != '*' ] || [ "$5" != '*' ]; then refuse; fi
case $1$2 in *[!0-9]* | '') refuse ;; esac
minute=$1 hour=$2
# Leading zeros would read as octal in $(( )).
minute=${minute#0} hour=${hour#0}
if [ "${#1}" -gt 2 ] || [ "${#2}" -gt 2 ] || [ "${minute:-0}" -gt 59 ] || [ "${hour:-0}" -gt 23 ]; then refuse; fi
at=$(printf '%02d%02d' "${hour:-0}" "${minute:-0}")

backup=$(dirname "$0")/backup.sh
run_backup() {
  if sh "$backup"; then :; else printf 'schedule: the backup run failed (exit %s); next run as scheduled\n' "$?" >&2; fi
}

# `sleep & wait`: a SIGTERM (docker stop) ends the wait at once, not after the sleep.
trap 'exit 0' TERM INT
printf 'schedule: a backup every day at %02d:%02d %s\n' "${hour:-0}" "${minute:-0}" "$(date +%Z)"
[ "$check_only" = false ] || exit 0
[ "${BACKUP_ON_START:-false}" != true ] || run_backup
last_day=
while :; do
  touch "${TMPDIR:-/tmp}/schedule.alive"
  # Checked every 20 s, so the scheduled minute is never stepped over; once a day at most.
  if [ "$(date +%H%M)" = "$at" ] && [ "$(date +%F)" != "$last_day" ]; then
    last_day=$(date +%F)
    run_backup
  fi
  sleep 20 &
  wait $!
done
