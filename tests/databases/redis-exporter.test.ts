/**
 * Redis watched from the inside, with real servers on loopback: Debian's redis-server 7.0 from the
 * shipped compose/redis/redis.conf and demo ACL file, Debian's redis_exporter with compose.yaml's
 * flags and the demo password file, and Prometheus with the shipped rules and the shipped `redis`
 * job (tests/support/redis-server.ts and stack-config.ts render them: addresses, paths and timings
 * only, listed at the start of the output). The `for:` of the rules is divided by TIME_SCALE.
 *
 * In order: the exporter's series reach Prometheus; the exporter's ACL user can do what the exporter
 * does and nothing more; every query of the dashboard's Redis row returns data; a BGSAVE that really
 * fails (the data directory made read-only for Redis) raises RedisBackupFailed, which a good BGSAVE
 * resolves; the password is in no command line, environment, log or metric of the exporter;
 * redis-server stopped raises RedisDown with cause "redis", the exporter stopped with cause
 * "exporter". Waits are bounded polls; nothing is asserted about how fast, only printed.
 */
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { isMap, isSeq, parseDocument } from 'yaml';
import { waitFor } from '../support/checkpoint-process';
import { LOOPBACK } from '../support/ports';
import { startPrometheus, type Prometheus } from '../support/prometheus';
import { shippedExporterPassword, startRedis, startRedisExporter, type RedisExporter, type RedisServer, type RespValue } from '../support/redis-server';
import { durationSeconds, INTERVALS, PROMETHEUS_FLAGS, renderPrometheusConfig, renderRules, shippedProbeInterval, TIME_SCALE, type Substitution } from '../support/stack-config';
import { describePanel, panelQueries } from '../smoke/dashboard-panels';

/** Upper bound of every wait for something to happen; never a measure of speed. */
const WAIT_MS = 90_000;
jest.setTimeout(WAIT_MS * 2);

let work: string;
let redis: RedisServer | undefined;
let exporter: RedisExporter | undefined;
let prometheus: Prometheus | undefined;
const suiteStart = Date.now();

const say = (line: string): void => {
  process.stdout.write(`[redis ${((Date.now() - suiteStart) / 1000).toFixed(1)}s] ${line}\n`);
};

beforeAll(async () => {
  work = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'checkpoint-redis-test-')));
  redis = await startRedis();
  exporter = await startRedisExporter(redis, work);
  const substitutions: Substitution[] = [...redis.substitutions, ...exporter.substitutions];

  const promDir = path.join(work, 'prometheus');
  const windowScale = (await shippedProbeInterval()) / durationSeconds(INTERVALS.probe.scrape_interval);
  substitutions.push(...(await renderRules(path.join(promDir, 'rules'), TIME_SCALE, windowScale)).substitutions);
  // The shipped config, of which this test keeps the redis job: nothing else runs here. The
  // checkpoint jobs need a proxy and a password file to render; they are dropped just after.
  const rendered = await renderPrometheusConfig({
    alertmanagers: [],
    prometheus: `${LOOPBACK}:0`,
    redisExporter: exporter.address,
    checkpointProxy: `${LOOPBACK}:0`,
    checkpointPasswordFile: '/dev/null',
  });
  const doc = parseDocument(rendered.yaml);
  const jobs = doc.get('scrape_configs');
  if (!isSeq(jobs)) throw new Error('prometheus/prometheus.yml: no scrape_configs');
  const others = jobs.items.filter((job) => isMap(job) && job.get('job_name') !== 'redis');
  if (others.length === jobs.items.length) throw new Error('prometheus/prometheus.yml: no job redis');
  jobs.items = jobs.items.filter((job) => !others.includes(job));
  doc.delete('alerting');
  substitutions.push(...rendered.substitutions.filter((s) => s.where.startsWith('job redis') || s.where.startsWith('global')));
  substitutions.push({ file: 'prometheus/prometheus.yml', where: 'every job but redis, and alerting', from: 'present', to: 'dropped (only Redis runs here; the alerts are read from Prometheus)' });
  prometheus = await startPrometheus({ dir: promDir, flags: PROMETHEUS_FLAGS, config: () => doc.toString() });

  say(`redis-server ${redis.address} (pid ${redis.pid}), redis_exporter ${exporter.address}, Prometheus ${prometheus.url}`);
  say(`substitutions in the shipped files:\n${substitutions.map((s) => `    ${s.file}: ${s.where}: ${s.from} -> ${s.to}`).join('\n')}`);
}, 120_000);

afterAll(async () => {
  if (process.env.REDIS_LOGS) {
    say(`--- redis-server:\n${(await redis?.logs()) ?? ''}`);
    say(`--- redis_exporter:\n${exporter?.logs() ?? ''}`);
    say(`--- prometheus:\n${prometheus?.logs() ?? ''}`);
  }
  await prometheus?.stop();
  await exporter?.stop();
  await redis?.remove();
  if (work) await fs.rm(work, { recursive: true, force: true });
}, 60_000);

/** The value of `field` in Redis's INFO, as the test's admin reads it. */
async function info(field: string): Promise<string | undefined> {
  const text = String(await redis!.command('INFO', 'persistence'));
  return new RegExp(`^${field}:(.*)\\r?$`, 'm').exec(text)?.[1];
}

/** The alerts named `name` in Prometheus, as "state cause". */
async function alertStates(name: string): Promise<string[]> {
  return (await prometheus!.alerts()).filter((alert) => alert.labels.alertname === name).map((alert) => `${alert.state}${alert.labels.cause ? ` ${alert.labels.cause}` : ''}`);
}

/** Waits until the alert `name` is firing in Prometheus (with `cause` when given), for this exporter's instance. */
async function firing(name: string, cause?: string): Promise<void> {
  await waitFor(
    `${name}${cause ? ` (cause ${cause})` : ''} firing (alerts now: ${JSON.stringify((await prometheus!.alerts()).map((a) => a.labels.alertname))})`,
    async () => {
      const alerts = await prometheus!.alerts();
      const found = alerts.find(
        (alert) => alert.labels.alertname === name && alert.state === 'firing' && alert.labels.instance === exporter!.address && (cause === undefined || alert.labels.cause === cause),
      );
      return found ? true : undefined;
    },
    WAIT_MS,
  );
}

/** Sends a command before any login on a raw connection; the first line of the reply. */
function unauthenticated(command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: LOOPBACK, port: redis!.port });
    socket.setTimeout(10_000, () => socket.destroy(new Error('no reply in 10s')));
    let reply = '';
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8');
      if (!reply.includes('\r\n')) return;
      socket.end();
      resolve(reply.split('\r\n')[0] ?? '');
    });
    socket.on('error', reject);
    socket.write(`${command}\r\n`);
  });
}

test("the exporter's series reach Prometheus", async () => {
  const series = await waitFor(
    'redis_up 1 and the snapshot and memory series in Prometheus',
    async () => {
      const [up, redisUp, status, max] = await Promise.all(
        ['up{job="redis"}', 'redis_up{job="redis"}', 'redis_rdb_last_bgsave_status{job="redis"}', 'redis_memory_max_bytes{job="redis"}'].map((q) => prometheus!.query(q)),
      );
      return up?.[0]?.value[1] === '1' && redisUp?.[0]?.value[1] === '1' && status?.[0] && max?.[0] ? { status: status[0], max: max[0] } : undefined;
    },
    WAIT_MS,
  );
  expect(series.status.metric).toMatchObject({ job: 'redis', instance: exporter!.address });
  expect(series.status.value[1]).toBe('1');
  // The shipped maxmemory, 64 MB, as the exporter reports it.
  expect(Number(series.max.value[1])).toBe(64 * 1024 * 1024);
});

test("the exporter's ACL user runs what the exporter needs and nothing else; nothing runs without a login", async () => {
  // Several scrapes have run by now: Redis logged no command refused to the exporter's user.
  await waitFor('a few scrapes', async () => (Number((await prometheus!.query('redis_exporter_scrapes_total{job="redis"}'))[0]?.value[1]) >= 3 ? true : undefined), WAIT_MS);
  const refusedToExporter = (log: RespValue): RespValue[] => (Array.isArray(log) ? log : []).filter((entry) => Array.isArray(entry) && entry[entry.indexOf('username') + 1] === 'exporter');
  expect(refusedToExporter(await redis!.command('ACL', 'LOG'))).toEqual([]);
  const { user, password } = await shippedExporterPassword();
  expect(String(await redis!.commandAs(user, password, 'INFO', 'server'))).toContain('redis_version:7.0');
  await expect(redis!.commandAs(user, password, 'SET', 'x', '1')).rejects.toThrow(/^NOPERM/);
  await expect(redis!.commandAs(user, password, 'GET', 'x')).rejects.toThrow(/^NOPERM/);
  await expect(redis!.commandAs(user, password, 'CONFIG', 'SET', 'save', '')).rejects.toThrow(/^NOPERM/);
  // compose.yaml's health check counts on this answer.
  expect(await unauthenticated('PING')).toMatch(/^-NOAUTH/);
});

test("every query of the dashboard's Redis row returns data", async () => {
  const queries = panelQueries().filter((query) => query.expr.includes('job="redis"'));
  expect(new Set(queries.map((query) => query.panel)).size).toBeGreaterThanOrEqual(9);
  // Something to count: keys written, found and missed, and some that expire.
  for (let i = 0; i < 20; i++) await redis!.command('SET', `key:${i}`, 'value', ...(i % 2 ? ['PX', '200'] : []));
  for (let i = 0; i < 20; i++) await redis!.command('GET', `key:${i % 2 ? i + 100 : i}`);
  for (const query of queries) {
    // A number, not NaN: the hit ratio is 0/0 until a scrape has seen the lookups.
    const samples = await waitFor(
      `data for ${describePanel(query)}: ${query.expr}`,
      async () => {
        const result = await prometheus!.query(query.expr);
        return result.length > 0 && result.every((sample) => sample.value[1] !== 'NaN') ? result : undefined;
      },
      WAIT_MS,
    );
    say(`${describePanel(query)}: ${samples.map((s) => `${s.metric.instance ?? ''}=${s.value[1]}`).join(', ')}`);
  }
});

test('a BGSAVE that fails raises RedisBackupFailed, and stops writes; a good one resolves it', async () => {
  await redis!.command('SET', 'to-save', 'value');
  // Redis runs as another user than root: without write permission on its directory the
  // snapshot's temp file cannot be created, as on a volume gone read-only.
  await fs.chmod(redis!.dataDir, 0o555);
  const failedAt = Date.now();
  expect(await redis!.command('BGSAVE')).toBe('Background saving started');
  await waitFor('rdb_last_bgsave_status:err', async () => ((await info('rdb_last_bgsave_status')) === 'err' ? true : undefined), WAIT_MS);
  expect(await redis!.logs()).toMatch(/Failed opening the temp RDB file .*Permission denied/);
  // stop-writes-on-bgsave-error: the applications see it at once.
  await expect(redis!.command('SET', 'after-failure', 'value')).rejects.toThrow(/^MISCONF/);
  await firing('RedisBackupFailed');
  say(`RedisBackupFailed firing ${((Date.now() - failedAt) / 1000).toFixed(1)}s after the failed BGSAVE`);
  expect(await alertStates('RedisDown')).toEqual([]);

  await fs.chmod(redis!.dataDir, 0o755);
  expect(await redis!.command('BGSAVE')).toBe('Background saving started');
  await waitFor('rdb_last_bgsave_status:ok', async () => ((await info('rdb_last_bgsave_status')) === 'ok' ? true : undefined), WAIT_MS);
  expect((await fs.stat(path.join(redis!.dataDir, 'dump.rdb'))).size).toBeGreaterThan(0);
  expect(await redis!.command('SET', 'after-recovery', 'value')).toBe('OK');
  await waitFor('RedisBackupFailed gone', async () => ((await alertStates('RedisBackupFailed')).length === 0 ? true : undefined), WAIT_MS);
});

test("the exporter's password is in no command line, environment, log or metric of the exporter", async () => {
  const { password } = await shippedExporterPassword();
  expect(password.length).toBeGreaterThanOrEqual(20);
  const commandLine = await exporter!.commandLine();
  expect(commandLine).toContain(`--redis.password-file=${exporter!.passwordFile}`);
  const environment = await fs.readFile(`/proc/${exporter!.child.pid ?? 0}/environ`, 'utf8');
  const pages = await Promise.all(['/metrics', '/', '/health'].map(async (page) => (await fetch(`http://${exporter!.address}${page}`)).text()));
  expect(pages[0]).toMatch(/^redis_up 1$/m);
  for (const [where, text] of [
    ['command line', commandLine],
    ['environment', environment],
    ['log', exporter!.logs()],
    ...pages.map((text, i) => [`page ${['/metrics', '/', '/health'][i] ?? ''}`, text]),
  ] as [string, string][]) {
    expect([where, text.includes(password)]).toEqual([where, false]);
  }
});

test('redis-server stopped raises RedisDown (cause redis); the exporter stopped, RedisDown (cause exporter)', async () => {
  const stoppedAt = Date.now();
  await redis!.stop();
  await firing('RedisDown', 'redis');
  say(`RedisDown (cause redis) firing ${((Date.now() - stoppedAt) / 1000).toFixed(1)}s after redis-server stopped`);
  const [error] = await prometheus!.query('redis_exporter_last_scrape_error{job="redis"} == 1');
  // As docs/runbooks.md says: the exporter names no cause (the same for a refused login).
  expect(error?.metric.err).toBe('dial redis: unknown network redis');
  // The exporter reports nothing else of Redis meanwhile: no snapshot or memory alert can fire.
  expect(await prometheus!.query('redis_rdb_last_bgsave_status{job="redis"}')).toEqual([]);

  await exporter!.stop();
  await firing('RedisDown', 'exporter');
  expect((await alertStates('RedisDown')).filter((state) => state.startsWith('firing'))).toContain('firing exporter');
});
