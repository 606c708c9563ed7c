#!/bin/sh
# The postgres-backup service's main process: runs backup.sh once a day at the time BACKUP_SCHEDULE
# says, in cron's syntax for a daily job, "MINUTE HOUR * * *" ("0 4 * * *", 04:00, by default), in
# the container's time zone (UTC unless TZ is set). Anything else cron can say is refused rather
# than half understood. At the same minute of every other hour it runs `backup.sh --prune-only`,
# so that a dump made off the schedule is deleted once past the retention, not up to a day later.
# BACKUP_ON_START=true also runs one backup at start (the demo: a fresh stack has a dump to check
# at once).
#
# A run that fails is logged and the schedule goes on: the checkpoints' sftp monitor notices the
# missing dump (BackupMissing), which is what pages. Like cron, a time missed while the container
# was stopped is not caught up. The loop touches /tmp/schedule.alive (in $TMPDIR, if set) every
# 20 s, during a run too: the health check reads it, and a long dump is not an unhealthy container.
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
alive="${TMPDIR:-/tmp}/schedule.alive"
job='' sleeper=''
# `sleep & wait`: a SIGTERM (docker stop) ends the wait at once, not after the sleep; the trap
# stops the sleep too, so that nothing of this script outlives it.
pause() {
  sleep "$1" &
  sleeper=$!
  wait "$sleeper" || true
  sleeper=''
}
# In the background, so that the health file stays fresh and a SIGTERM is heard at once: it stops
# the run too, whose own trap removes its work files.
run_backup() {
  sh "$backup" "$@" &
  job=$!
  while kill -0 "$job" 2>/dev/null; do
    touch "$alive"
    pause 5
  done
  if wait "$job"; then :; else printf 'schedule: backup.sh %s failed (exit %s); next run as scheduled\n' "$*" "$?" >&2; fi
  job=
}

stop() {
  for pid in $job $sleeper; do kill "$pid" 2>/dev/null || true; done
  exit 0
}
trap stop TERM INT
printf 'schedule: a backup every day at %02d:%02d %s\n' "${hour:-0}" "${minute:-0}" "$(date +%Z)"
[ "$check_only" = false ] || exit 0
[ "${BACKUP_ON_START:-false}" != true ] || run_backup
last_backup='' last_prune=''
while :; do
  touch "$alive"
  # Checked every 20 s, so the scheduled minute is never stepped over; each at most once.
  now=$(date +%F-%H%M)
  if [ "${now##*-}" = "$at" ] && [ "${now%-*}" != "$last_backup" ]; then
    last_backup=${now%-*} last_prune=${now%??}
    run_backup
  elif [ "$(date +%M)" = "$(printf %02d "${minute:-0}")" ] && [ "${now%??}" != "$last_prune" ]; then
    last_prune=${now%??}
    run_backup --prune-only
  fi
  pause 20
done
