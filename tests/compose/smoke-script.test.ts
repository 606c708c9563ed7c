/**
 * scripts/smoke-compose.sh's own logic, run here against stand-ins for `docker` and `curl` (this
 * machine cannot run the stack): the order of the compose commands, that it waits for each
 * condition (polling until the stand-ins report it), that it fails with the last check's message
 * when a wait runs out, that `docker compose down -v` runs whatever happened, and that it refuses
 * to touch a compose project that is already running.
 *
 * The stand-ins answer like Prometheus, Grafana and Mailpit: all targets up, both checkpoints'
 * monitors succeeding, the five dashboards, and mail that arrives some polls after `stop` and
 * `start postgres`. What Docker, the images and the real services do is the real smoke test's job.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const SCRIPT = path.join(ROOT, 'scripts', 'smoke-compose.sh');
const GRAFANA_PASSWORD = readFileSync(path.join(ROOT, 'compose', 'demo-secrets', 'grafana_admin_password'), 'utf8').trim();
const CHECKPOINT_PASSWORD = readFileSync(path.join(ROOT, 'compose', 'demo-secrets', 'checkpoint_web_password'), 'utf8').trim();

const FAKE_DOCKER = `#!/usr/bin/env bash
# Logs each call; "compose" subcommands change the stand-in state the fake curl reads.
echo "docker $*" >>"$FAKE_DIR/calls"
args=" $* "
case "$args" in
  *" compose version "*) echo "Docker Compose version v2.29.0" ;;
  *" ps --all --quiet "*) [ -n "\${FAKE_ALREADY_RUNNING:-}" ] && echo 3f2a1b ;;
  *" stop postgres "*) : >"$FAKE_DIR/stopped" ;;
  *" start postgres "*) : >"$FAKE_DIR/started" ;;
  *" up "*) [ -z "\${FAKE_UP_FAILS:-}" ] || { echo "container private-checkpoint-postgres-1 is unhealthy" >&2; exit 1; } ;;
esac
exit 0
`;

const FAKE_CURL = `#!/usr/bin/env bash
echo "curl $*" >>"$FAKE_DIR/calls"
url=""
for arg in "$@"; do case "$arg" in http://*) url=$arg ;; esac; done
# Mail arrives on the second poll after the event, so the script has to wait for it.
arrived() { # arrived EVENT
  [ -e "$FAKE_DIR/$1" ] || return 1
  local count; count=$(( $(cat "$FAKE_DIR/$1.polls" 2>/dev/null || echo 0) + 1 ))
  echo "$count" >"$FAKE_DIR/$1.polls"
  [ "$count" -ge 2 ]
}
case "$url" in
  http://127.0.0.1:9090/api/v1/targets*)
    echo '{"status":"success","data":{"activeTargets":['
    for job in checkpoint node cadvisor postgres alertmanager prometheus; do echo "{\\"labels\\":{\\"job\\":\\"$job\\",\\"instance\\":\\"x\\"},\\"health\\":\\"up\\",\\"lastError\\":\\"\\"},"; done
    echo '{"labels":{"job":"probe","instance":"checkpoint-a/postgres","checkpoint":"checkpoint-a"},"health":"up","lastError":""},'
    echo '{"labels":{"job":"probe","instance":"checkpoint-b/postgres","checkpoint":"checkpoint-b"},"health":"up","lastError":""}]}}' ;;
  http://127.0.0.1:9090/api/v1/query*)
    echo '{"status":"success","data":{"result":[{"metric":{"checkpoint":"checkpoint-a","instance":"checkpoint-a/postgres"},"value":[1,"1"]},{"metric":{"checkpoint":"checkpoint-b","instance":"checkpoint-b/postgres"},"value":[1,"1"]}]}}' ;;
  http://127.0.0.1:3000/api/dashboards/uid/*)
    uid=\${url##*/}
    echo "{\\"dashboard\\":{\\"uid\\":\\"$uid\\",\\"title\\":\\"Dashboard $uid\\"}}" ;;
  http://127.0.0.1:3000/api/datasources/proxy/uid/prometheus/api/v1/query*)
    echo '{"status":"success","data":{"result":[{"metric":{},"value":[1,"1"]}]}}' ;;
  http://127.0.0.1:9915/metrics|http://127.0.0.1:9916/metrics)
    # The checkpoints' web config: 401 without the login.
    case " $* " in *" -u "*) printf 200 ;; *) printf 401 ;; esac ;;
  http://127.0.0.1:8025/api/v1/messages*)
    subjects='"[FIRING:1] Watchdog"'
    if arrived stopped; then subjects="\\"[FIRING:1] PostgresDown postgres\\", $subjects"; fi
    if [ -z "\${FAKE_NO_RESOLVED:-}" ] && arrived started; then subjects="\\"[RESOLVED] PostgresDown postgres\\", $subjects"; fi
    node -e 'console.log(JSON.stringify({ messages: JSON.parse("[" + process.argv[1] + "]").map((s) => ({ Subject: s })) }))' "$subjects" ;;
  *) echo "fake curl: unexpected URL $url" >&2; exit 22 ;;
esac
`;

type Run = { status: number | null; stderr: string; calls: string[] };

function runSmoke(env: Record<string, string> = {}): Run {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smoke-compose-test-'));
  try {
    const bin = path.join(dir, 'bin');
    spawnSync('mkdir', ['-p', bin]);
    writeFileSync(path.join(bin, 'docker'), FAKE_DOCKER);
    writeFileSync(path.join(bin, 'curl'), FAKE_CURL);
    chmodSync(path.join(bin, 'docker'), 0o755);
    chmodSync(path.join(bin, 'curl'), 0o755);
    const result = spawnSync('bash', [SCRIPT], {
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        PATH: `${bin}:${path.dirname(process.execPath)}:/usr/bin:/bin`,
        FAKE_DIR: dir,
        SMOKE_POLL_SECONDS: '0.1',
        ...env,
      },
    });
    const callsFile = path.join(dir, 'calls');
    const calls = existsSync(callsFile) ? readFileSync(callsFile, 'utf8').trim().split('\n') : [];
    return { status: result.status, stderr: result.stderr, calls };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const compose = (calls: string[]) => calls.filter((call) => call.startsWith('docker ')).map((call) => call.replace('docker compose --project-directory . --file compose.yaml ', ''));

test('a passing run: up, checks, stop and start postgres, each mail awaited, down -v', () => {
  const run = runSmoke();
  expect(run.stderr).toMatch(/smoke-compose: passed$/m);
  expect(run.status).toBe(0);
  expect(compose(run.calls)).toEqual([
    'docker compose version',
    'ps --all --quiet',
    'up --detach --build --wait --wait-timeout 600',
    'stop postgres',
    'start postgres',
    'down --volumes --remove-orphans --timeout 20',
  ]);
  // Each mail was polled for until it arrived, not found by chance.
  const mailPolls = run.calls.filter((call) => call.includes('127.0.0.1:8025/api/v1/messages'));
  expect(mailPolls.length).toBeGreaterThanOrEqual(5);
  expect(run.stderr).toMatch(/ok after \d+s: the PostgresDown mail \("\[FIRING:1\] PostgresDown postgres"\)/);
  expect(run.stderr).toMatch(/ok after \d+s: the resolved PostgresDown mail \("\[RESOLVED\] PostgresDown postgres"\)/);
  // Grafana is asked with the admin password compose gives it, for each of the five dashboards.
  const grafana = run.calls.filter((call) => call.includes('127.0.0.1:3000/api/dashboards/uid/'));
  expect(grafana.map((call) => call.split('/').pop())).toEqual(['checkpoint-overview', 'checkpoint-browser', 'checkpoint-databases-mail', 'checkpoint-hosts', 'checkpoint-containers']);
  for (const call of grafana) expect(call).toContain(`-u admin:${GRAFANA_PASSWORD}`);
  // Both checkpoints are asked without and with the login compose gives Prometheus.
  const checkpoints = run.calls.filter((call) => /127\.0\.0\.1:991[56]\/metrics/.test(call));
  expect(checkpoints).toHaveLength(4);
  expect(checkpoints.filter((call) => call.includes(`-u prometheus:${CHECKPOINT_PASSWORD}`))).toHaveLength(2);
  expect(run.stderr).toMatch(/ok after \d+s: the checkpoints refuse a request without their login/);
  expect(run.calls.some((call) => call.includes('127.0.0.1:9090/api/v1/query') && call.includes('pg_up{job="postgres"}'))).toBe(true);
  expect(run.stderr).toMatch(/ok after \d+s: postgres-exporter logged in to PostgreSQL \(pg_up 1\)/);
});

test('a wait that runs out fails with the last check, prints diagnostics, and still runs down -v', () => {
  const run = runSmoke({ FAKE_NO_RESOLVED: '1', SMOKE_RESOLVED_TIMEOUT: '1' });
  expect(run.status).toBe(1);
  expect(run.stderr).toMatch(/FAILED: the resolved PostgresDown mail: not within 1s\. Last check: 2 messages, newest: \[\[FIRING:1\] PostgresDown postgres \| \[FIRING:1\] Watchdog\]/);
  expect(compose(run.calls).slice(-3)).toEqual(['ps --all', 'logs --no-color --tail=40', 'down --volumes --remove-orphans --timeout 20']);
});

test('on a failure with SMOKE_LOGS_DIR set, every log goes there before down -v', () => {
  const logs = mkdtempSync(path.join(os.tmpdir(), 'smoke-logs-'));
  try {
    const run = runSmoke({ FAKE_UP_FAILS: '1', SMOKE_LOGS_DIR: logs });
    expect(run.status).toBe(1);
    expect(compose(run.calls).slice(-5)).toEqual(['ps --all', 'logs --no-color --tail=40', 'ps --all', 'logs --no-color --timestamps', 'down --volumes --remove-orphans --timeout 20']);
    expect(existsSync(path.join(logs, 'ps.txt')) && existsSync(path.join(logs, 'compose.log'))).toBe(true);
    expect(run.stderr).toContain(`the services' logs are in ${logs}`);
  } finally {
    rmSync(logs, { recursive: true, force: true });
  }
});

test('a failed `up` still runs down -v', () => {
  const run = runSmoke({ FAKE_UP_FAILS: '1' });
  expect(run.status).toBe(1);
  expect(run.stderr).toContain('container private-checkpoint-postgres-1 is unhealthy');
  expect(compose(run.calls).pop()).toBe('down --volumes --remove-orphans --timeout 20');
});

test('refuses a compose project that is already running, and leaves it alone', () => {
  const run = runSmoke({ FAKE_ALREADY_RUNNING: '1' });
  expect(run.status).toBe(1);
  expect(run.stderr).toMatch(/FAILED: the compose project is already running/);
  expect(compose(run.calls)).toEqual(['docker compose version', 'ps --all --quiet']);
});
