#!/usr/bin/env bash
# shellcheck disable=SC2016 # the single-quoted node code uses JavaScript's ${...}, not the shell's
# The compose stack end to end, as a user gets it (`npm run smoke:compose`; needs Docker with the
# compose v2 plugin, curl and node; CI: docs/compose.md):
#   1. docker compose up -d --wait --build: every service running and healthy
#   2. Prometheus: every active target up, every monitor succeeding from both checkpoints,
#      postgres-exporter logged in to PostgreSQL (pg_up 1); the checkpoints answer 401 without
#      their login (compose/checkpoint-web.yml), 200 with it
#   3. Grafana: the five dashboards load, and Grafana queries Prometheus
#   4. Mailpit: the Watchdog mail arrived (the alert path works before anything breaks)
#   5. docker compose stop postgres: the PostgresDown mail arrives
#   6. docker compose start postgres: the RESOLVED mail arrives
#   7. docker compose down -v, always (trap), also on failure or Ctrl-C; before it, on a failure,
#      every service's whole log into SMOKE_LOGS_DIR when that is set (CI keeps it as an artifact)
#
# It runs the shipped Prometheus rules and Alertmanager routes unchanged, so it takes as long as
# a real outage does: under a minute from the stop to the mail (a probe every 15 s, down at the
# second failed probe from both checkpoints, the critical route's `group_wait: 10s`) and about a
# minute and a half more for the resolved mail (a minute after the last failed probe, then the
# group's next `group_interval`, 30 s). Each wait is bounded; the limits below can be raised
# through the environment on slow runners.
set -euo pipefail
cd "$(dirname "$0")/.."

COMPOSE=(docker compose --project-directory . --file compose.yaml)
PROMETHEUS=http://127.0.0.1:9090
GRAFANA=http://127.0.0.1:3000
MAILPIT=http://127.0.0.1:8025
GRAFANA_USER='admin'
GRAFANA_PASSWORD_FILE=${GRAFANA_ADMIN_PASSWORD_FILE:-compose/demo-secrets/grafana_admin_password}
CHECKPOINTS=(http://127.0.0.1:9915 http://127.0.0.1:9916)
CHECKPOINT_USER='prometheus' # compose/checkpoint-web.yml
CHECKPOINT_PASSWORD_FILE=${CHECKPOINT_WEB_PASSWORD_FILE:-compose/demo-secrets/checkpoint_web_password}
DASHBOARDS=(checkpoint-overview checkpoint-browser checkpoint-databases-mail checkpoint-hosts checkpoint-containers)

UP_TIMEOUT=${SMOKE_UP_TIMEOUT:-600}           # docker compose up --wait, after the build
TARGETS_TIMEOUT=${SMOKE_TARGETS_TIMEOUT:-240} # discovery and a first scrape of every target
MONITORS_TIMEOUT=${SMOKE_MONITORS_TIMEOUT:-240}
GRAFANA_TIMEOUT=${SMOKE_GRAFANA_TIMEOUT:-120}
WATCHDOG_TIMEOUT=${SMOKE_WATCHDOG_TIMEOUT:-180}
FIRING_TIMEOUT=${SMOKE_FIRING_TIMEOUT:-300}   # expected after under 1 min
RESOLVED_TIMEOUT=${SMOKE_RESOLVED_TIMEOUT:-300} # expected after about 1.5 min
POLL_SECONDS=${SMOKE_POLL_SECONDS:-5}

log() { printf '%s smoke-compose: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
fail() {
  log "FAILED: $*"
  exit 1
}

# wait_for SECONDS WHAT COMMAND...: runs COMMAND every POLL_SECONDS until it succeeds; past
# SECONDS, fails with the last thing COMMAND said.
wait_for() {
  local timeout=$1 what=$2
  shift 2
  local started=$SECONDS output=""
  log "waiting up to ${timeout}s: $what"
  until output=$("$@" 2>&1); do
    if ((SECONDS - started >= timeout)); then
      fail "$what: not within ${timeout}s. Last check: $output"
    fi
    sleep "$POLL_SECONDS"
  done
  log "ok after $((SECONDS - started))s: $what${output:+ ($output)}"
}

# json_check CODE [ARGS...]: runs CODE with `d` = the JSON on stdin and `args` = ARGS. CODE
# prints a one-line summary and returns true when the check passes.
json_check() {
  local code=$1
  shift
  node -e '
    const d = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const args = process.argv.slice(1);
    const ok = (() => { '"$code"' })();
    process.exit(ok ? 0 : 1);
  ' "$@"
}

# Every active target is up: the checkpoints, every monitor through each of them (job probe),
# node-exporter, cAdvisor, postgres-exporter, Alertmanager and Prometheus itself.
targets_up() {
  curl -fsS --max-time 10 "$PROMETHEUS/api/v1/targets?state=active" | json_check '
    const targets = d.data.activeTargets;
    const jobs = new Set(targets.map((t) => t.labels.job));
    const missing = ["checkpoint", "probe", "node", "cadvisor", "postgres", "alertmanager", "prometheus"].filter((j) => !jobs.has(j));
    const checkpoints = new Set(targets.filter((t) => t.labels.job === "probe").map((t) => t.labels.checkpoint));
    const down = targets.filter((t) => t.health !== "up").map((t) => `${t.labels.job}/${t.labels.instance} ${t.health} ${t.lastError}`);
    console.log(`${targets.length} targets, jobs missing: [${missing}], probing checkpoints: [${[...checkpoints]}], not up: [${down.join("; ")}]`);
    return missing.length === 0 && checkpoints.size === 2 && down.length === 0;'
}

# Every monitor succeeds from both checkpoints (the stack works, not only answers).
monitors_succeed() {
  curl -fsS --max-time 10 --get "$PROMETHEUS/api/v1/query" --data-urlencode 'query=probe_success{job="probe"}' | json_check '
    const series = d.data.result;
    const checkpoints = new Set(series.map((s) => s.metric.checkpoint));
    const failing = series.filter((s) => s.value[1] !== "1").map((s) => s.metric.instance);
    console.log(`${series.length} monitor series from [${[...checkpoints]}], failing: [${failing}]`);
    return series.length > 0 && checkpoints.size === 2 && failing.length === 0;'
}

# postgres-exporter answering is not enough: it logged in as its role and queried (pg_up 1).
exporter_logged_in() {
  curl -fsS --max-time 10 --get "$PROMETHEUS/api/v1/query" --data-urlencode 'query=pg_up{job="postgres"}' | json_check '
    const series = d.data.result;
    console.log(`pg_up: [${series.map((s) => s.value[1])}]`);
    return series.length > 0 && series.every((s) => s.value[1] === "1");'
}

# The checkpoints ask for their login on every endpoint: 401 without it, 200 with it.
checkpoints_closed() {
  local checkpoint password without with
  password=$(cat "$CHECKPOINT_PASSWORD_FILE")
  for checkpoint in "${CHECKPOINTS[@]}"; do
    without=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "$checkpoint/metrics") || return 1
    with=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -u "$CHECKPOINT_USER:$password" "$checkpoint/metrics") || return 1
    echo "$checkpoint/metrics: $without without the login, $with with it"
    [ "$without" = 401 ] && [ "$with" = 200 ] || return 1
  done
}

grafana_ready() {
  local password uid
  password=$(cat "$GRAFANA_PASSWORD_FILE")
  for uid in "${DASHBOARDS[@]}"; do
    curl -fsS --max-time 10 -u "$GRAFANA_USER:$password" "$GRAFANA/api/dashboards/uid/$uid" |
      json_check 'console.log(`${args[0]}: ${d.dashboard.title}`); return d.dashboard.uid === args[0];' "$uid" ||
      return 1
  done
  # Grafana reaches Prometheus through the provisioned data source.
  curl -fsS --max-time 10 --get -u "$GRAFANA_USER:$password" \
    "$GRAFANA/api/datasources/proxy/uid/prometheus/api/v1/query" --data-urlencode 'query=up' |
    json_check 'console.log(`the prometheus data source answers ${d.data.result.length} series of up`); return d.status === "success" && d.data.result.length > 0;'
}

# mail_seen REGEX: a message in Mailpit whose subject matches REGEX.
mail_seen() {
  curl -fsS --max-time 10 "$MAILPIT/api/v1/messages?limit=500" | json_check '
    const subjects = d.messages.map((m) => m.Subject);
    const hit = subjects.find((s) => new RegExp(args[0]).test(s));
    console.log(hit ? `"${hit}"` : `${subjects.length} messages, newest: [${subjects.slice(0, 5).join(" | ")}]`);
    return hit !== undefined;' "$1"
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if ((status != 0)); then
    log "diagnostics: services, then the last log lines of each"
    "${COMPOSE[@]}" ps --all >&2 || true
    "${COMPOSE[@]}" logs --no-color --tail=40 >&2 || true
    if [ -n "${SMOKE_LOGS_DIR:-}" ]; then
      mkdir -p "$SMOKE_LOGS_DIR"
      "${COMPOSE[@]}" ps --all >"$SMOKE_LOGS_DIR/ps.txt" 2>&1 || true
      "${COMPOSE[@]}" logs --no-color --timestamps >"$SMOKE_LOGS_DIR/compose.log" 2>&1 || true
      log "the services' logs are in $SMOKE_LOGS_DIR"
    fi
  fi
  log "docker compose down -v"
  "${COMPOSE[@]}" down --volumes --remove-orphans --timeout 20 >&2 || true
  exit "$status"
}

command -v docker >/dev/null || fail "docker is not installed"
docker compose version >/dev/null 2>&1 || fail "the docker compose v2 plugin is missing (docker compose version)"
command -v curl >/dev/null || fail "curl is not installed"
command -v node >/dev/null || fail "node is not installed"
[ -r "$GRAFANA_PASSWORD_FILE" ] || fail "cannot read the Grafana admin password file $GRAFANA_PASSWORD_FILE"
[ -r "$CHECKPOINT_PASSWORD_FILE" ] || fail "cannot read the checkpoints' web password file $CHECKPOINT_PASSWORD_FILE"
# The test ends with `down -v`, which deletes the project's volumes: never on a stack in use.
if [ -n "$("${COMPOSE[@]}" ps --all --quiet)" ]; then
  fail "the compose project is already running; its data would be deleted. Stop it first: docker compose down"
fi

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "docker compose up -d --wait --build"
"${COMPOSE[@]}" up --detach --build --wait --wait-timeout "$UP_TIMEOUT"

wait_for "$TARGETS_TIMEOUT" "every Prometheus target up" targets_up
wait_for "$MONITORS_TIMEOUT" "every monitor succeeding from both checkpoints" monitors_succeed
wait_for "$TARGETS_TIMEOUT" "postgres-exporter logged in to PostgreSQL (pg_up 1)" exporter_logged_in
wait_for "$TARGETS_TIMEOUT" "the checkpoints refuse a request without their login" checkpoints_closed
wait_for "$GRAFANA_TIMEOUT" "the five dashboards in Grafana" grafana_ready
wait_for "$WATCHDOG_TIMEOUT" "the Watchdog mail in Mailpit" mail_seen '^\[FIRING:[0-9]+\] Watchdog'

log "docker compose stop postgres"
"${COMPOSE[@]}" stop postgres
wait_for "$FIRING_TIMEOUT" "the PostgresDown mail" mail_seen '^\[FIRING:[0-9]+\] PostgresDown postgres$'

log "docker compose start postgres"
"${COMPOSE[@]}" start postgres
wait_for "$RESOLVED_TIMEOUT" "the resolved PostgresDown mail" mail_seen '^\[RESOLVED\] PostgresDown postgres$'

log "passed"
