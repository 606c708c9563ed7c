/**
 * Two sites push to one central place (tests/sites/site-stack.ts); nothing connects into a site.
 *
 *   site-a  127.0.0.2: checkpoint-1 probes `intranet` and its own `branch-app`
 *   site-b  127.0.0.3: checkpoint-1 probes `intranet`
 *   central Prometheus (prometheus/central.yml, no checkpoint job) behind the remote-write
 *           gateway, Alertmanager, an SMTP sink, three admins
 *
 * In order: the central config scrapes no checkpoint and yet has every site's probes; the gateway
 * lets through only logged-in POSTs to the write endpoint; `intranet`
 * failing from both sites pages each admin once, naming both sites, and resolves; site-a's agent
 * killed raises SiteDown, and nothing about site-a's checkpoint, host or monitors pages while it
 * is silent. Waits are bounded polls; nothing is asserted about how fast, only printed.
 */
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { Agent, request } from 'undici';
import { parse } from 'yaml';
import { waitFor } from '../support/checkpoint-process';
import { makeTestPki, type TestPki } from '../support/certs';
import type { ReceivedMail } from '../support/mail-sink';
import { listenOnLoopback, LOOPBACK } from '../support/ports';
import { durationSeconds, PROMETHEUS_FILES, ROOT, scaledDuration, type Substitution } from '../support/stack-config';
import { SITE_CHECKPOINT, startCentral, startSite, type Central, type Site } from './site-stack';

const ADMINS = ['alice@example.test', 'bob@example.test', 'carol@example.test'];
const SITES = [
  { name: 'site-a', host: '127.0.0.2', monitors: ['intranet', 'branch-app'] },
  { name: 'site-b', host: '127.0.0.3', monitors: ['intranet'] },
];
/** Upper bound of every wait for something to happen; never a measure of speed. */
const WAIT_MS = 90_000;

jest.setTimeout(WAIT_MS * 3);

let work: string;
let pki: TestPki | undefined;
let central: Central | undefined;
const sites: Site[] = [];
let target: http.Server | undefined;
/** What the intranet answers: 200, or 503 during the outage. */
let intranetStatus = 200;
const suiteStart = Date.now();

const say = (line: string): void => {
  process.stdout.write(`[sites ${((Date.now() - suiteStart) / 1000).toFixed(1)}s] ${line}\n`);
};

beforeAll(async () => {
  work = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'checkpoint-sites-')));
  pki = await makeTestPki(work);
  target = http.createServer((request, response) => {
    const status = request.url === '/' ? intranetStatus : 200;
    response.writeHead(status, { 'content-type': 'text/plain' }).end(`${status}\n`);
  });
  const targetUrl = `http://${LOOPBACK}:${await listenOnLoopback(target)}`;
  central = await startCentral({ work, pki, sites: SITES.map((site) => site.name), admins: ADMINS });
  for (const site of SITES) {
    const monitors = site.monitors.map((name) => `  - name: ${name}\n    module: http_2xx\n    target: ${targetUrl}/${name === 'intranet' ? '' : name}\n`).join('');
    const checkpointConfig = `modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n    http:\n      preferred_ip_protocol: ip4\nmonitors:\n${monitors}`;
    sites.push(await startSite({ work, pki, central, name: site.name, host: site.host, checkpointConfig }));
  }
  const substitutions: Substitution[] = [...central.substitutions, ...sites.flatMap((site) => site.substitutions)];
  say(`central Prometheus ${central.prometheus.url}, gateway ${central.gateway.address}; ${sites.map((s) => `${s.name}: checkpoint ${s.checkpoint.address}, agent ${s.agent.url}`).join('; ')}`);
  say(`substitutions in the shipped files:\n${substitutions.map((s) => `    ${s.file}: ${s.where}: ${s.from} -> ${s.to}`).join('\n')}`);
}, 180_000);

afterAll(async () => {
  if (process.env.SITES_LOGS) {
    say(`--- central prometheus:\n${central?.prometheus.logs() ?? ''}`);
    say(`--- gateway:\n${central?.gateway.spawned.logs() ?? ''}`);
    for (const site of sites) say(`--- ${site.name} agent:\n${site.agent.logs()}`);
  }
  for (const site of sites) await site.stop();
  await central?.stop();
  await new Promise<void>((resolve) => (target ? target.close(() => resolve()) : resolve()));
  target?.closeAllConnections();
  await pki?.cleanup();
  if (work) await fs.rm(work, { recursive: true, force: true });
}, 60_000);

/** probe_success at the central place, as "site/checkpoint/monitor=value". */
async function probeStates(): Promise<string[]> {
  const samples = await central!.prometheus.query('probe_success{job="probe"}');
  return samples.map((s) => `${s.metric.site}/${s.metric.checkpoint}/${s.metric.monitor}=${s.value[1]}`).sort();
}

const expectedStates = (value: string, sitesUp = SITES): string[] => sitesUp.flatMap((site) => site.monitors.map((monitor) => `${site.name}/${SITE_CHECKPOINT.name}/${monitor}=${value}`)).sort();

function mailsSince(since: number, match: (mail: ReceivedMail) => boolean): ReceivedMail[] {
  return central!.mail!.received.slice(since).filter(match);
}
/** Each admin's mail matching `match` after `since`, waited for. */
async function mailToEachAdmin(since: number, what: string, match: (mail: ReceivedMail) => boolean): Promise<ReceivedMail[]> {
  return waitFor(
    `${what} to each admin (received so far: ${central!.mail!.received.map((m) => m.subject).join('; ')})`,
    async () => {
      const found = mailsSince(since, match);
      return ADMINS.every((admin) => found.some((mail) => mail.to.includes(admin))) ? found : undefined;
    },
    WAIT_MS,
  );
}

test('the central config has no scrape job for any checkpoint, and has every site probe anyway', async () => {
  const config = parse(await fs.readFile(path.join(ROOT, PROMETHEUS_FILES.central), 'utf8')) as {
    scrape_configs: { job_name: string; metrics_path?: string; http_sd_configs?: unknown[]; static_configs?: { targets: string[] }[] }[];
  };
  for (const job of config.scrape_configs) {
    expect([job.job_name, job.metrics_path ?? '/metrics', job.http_sd_configs ?? []]).toEqual([job.job_name, '/metrics', []]);
    expect(job.job_name).not.toMatch(/checkpoint|probe/);
    for (const target of (job.static_configs ?? []).flatMap((group) => group.targets)) expect([job.job_name, target]).toEqual([job.job_name, expect.not.stringMatching(/checkpoint|:9915$/)]);
  }
  // The running central Prometheus scrapes only its own jobs (once it has loaded them)...
  const pools = await waitFor('the central Prometheus scraping its jobs', async () => {
    const scraped = [...new Set((await central!.prometheus.targets()).map((t) => t.scrapePool))].sort();
    return scraped.length > 0 ? scraped : undefined;
  });
  expect(pools).toEqual(['alertmanager', 'prometheus']);
  // ...and has every site's checkpoint and probes, pushed by the agents with their site label.
  await waitFor(
    `every monitor up from every site (${expectedStates('1').join(', ')})`,
    async () => (JSON.stringify(await probeStates()) === JSON.stringify(expectedStates('1')) ? true : undefined),
    WAIT_MS,
  );
  // The agent names each probe's instance site/checkpoint/monitor: unique across sites.
  const instances = (await central!.prometheus.query('probe_success{job="probe"}')).map((s) => [s.metric.instance, `${s.metric.site}/${s.metric.checkpoint}/${s.metric.monitor}`]);
  for (const [instance, expected] of instances) expect(instance).toBe(expected);
  const checkpointsUp = await central!.prometheus.query('up{job="checkpoint"}');
  expect(checkpointsUp.map((s) => `${s.metric.site}/${s.metric.checkpoint}=${s.value[1]}`).sort()).toEqual(SITES.map((site) => `${site.name}/${SITE_CHECKPOINT.name}=1`));
  say(`probes at the central place: ${(await probeStates()).join(', ')}`);
});

test('the gateway lets through only logged-in POSTs to the write endpoint, over TLS', async () => {
  const dispatcher = new Agent({ connect: { ca: pki!.caCert } });
  const password = (await fs.readFile(central!.logins.get('site-a')!, 'utf8')).trim();
  const basic = (user: string, secret: string): string => `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;
  const ask = async (method: string, urlPath: string, authorization?: string): Promise<number> => {
    const response = await request(`https://${central!.gateway.address}${urlPath}`, {
      method: method as 'GET' | 'POST',
      dispatcher,
      headers: authorization ? { authorization } : {},
      body: method === 'POST' ? 'x' : undefined,
    });
    await response.body.dump();
    return response.statusCode;
  };
  expect(await ask('POST', '/api/v1/write')).toBe(401);
  expect(await ask('POST', '/api/v1/write', basic('site-a', 'wrong'))).toBe(401);
  expect(await ask('POST', '/api/v1/write', basic('site-c', password))).toBe(401);
  // With the right login: reading the endpoint, or anything else of Prometheus, is not let through.
  expect(await ask('GET', '/api/v1/write', basic('site-a', password))).toBe(403);
  expect(await ask('GET', `/api/v1/query?query=up`, basic('site-a', password))).toBe(404);
  expect(await ask('GET', '/-/healthy', basic('site-a', password))).toBe(404);
  // A logged-in POST reaches Prometheus, which refuses a body that is not a snappy-compressed write request.
  expect(await ask('POST', '/api/v1/write', basic('site-a', password))).toBe(400);
  expect(await ask('GET', '/healthz')).toBe(200);
  await dispatcher.close();
});

test('an outage seen from both sites pages each admin once, naming both sites, and resolves once', async () => {
  const since = central!.mail!.received.length;
  const failedAt = Date.now();
  intranetStatus = 503;
  const firing = (mail: ReceivedMail): boolean => mail.subject === '[FIRING:1] MonitorDown intranet';
  const pages = await mailToEachAdmin(since, 'the MonitorDown intranet page', firing);
  say(`MonitorDown intranet reached the admins ${((Date.now() - failedAt) / 1000).toFixed(1)}s after the target began to fail`);
  for (const body of [pages[0]!.text, pages[0]!.html]) expect(body).toMatch(/Checkpoints: (<b>)?site-a\/checkpoint-1 \([a-z_, ]+\), site-b\/checkpoint-1 \([a-z_, ]+\)/);

  intranetStatus = 200;
  const resolved = (mail: ReceivedMail): boolean => mail.subject === '[RESOLVED] MonitorDown intranet';
  await mailToEachAdmin(since, 'the RESOLVED mail of MonitorDown intranet', resolved);
  // Once each: neither a second page while it failed nor a second RESOLVED.
  for (const match of [firing, resolved])
    expect(
      mailsSince(since, match)
        .flatMap((mail) => mail.to)
        .sort(),
    ).toEqual([...ADMINS].sort());
  // No other page: branch-app never failed, and one site alone never paged.
  expect(mailsSince(since, (mail) => !firing(mail) && !resolved(mail) && !mail.subject.includes('Watchdog')).map((mail) => mail.subject)).toEqual([]);
});

test("a site's agent killed raises SiteDown, and nothing of that site pages while it is silent", async () => {
  const [siteA] = sites;
  const since = central!.mail!.received.length;
  const killedAt = Date.now();
  await siteA!.killAgent();
  const siteDown = (mail: ReceivedMail): boolean => mail.subject === '[FIRING:1] SiteDown site-a';
  const [page] = await mailToEachAdmin(since, 'the SiteDown site-a page', siteDown);
  say(`SiteDown site-a reached the admins ${((Date.now() - killedAt) / 1000).toFixed(1)}s after its agent was killed`);
  expect(page!.text).toContain('Site site-a sends nothing');

  // Prometheus forgets site-a's series one (scaled) lookback after its last sample: what would
  // page from their absence (CheckpointMissing, HostTargetMissing) would do so from then on, after
  // its `for:`. Wait until then, with room for Alertmanager's group_wait, and look at what fired.
  await waitFor("site-a's series gone from the central Prometheus", async () => ((await central!.prometheus.query('up{site="site-a"}')).length === 0 ? true : undefined), WAIT_MS);
  // Twice the scaled lookback and the longest `for:` of those alerts (5m), so that anything they
  // would raise has fired by then.
  const quietFor = 2 * (durationSeconds(scaledDuration('5m')) + durationSeconds(scaledDuration('5m')));
  await waitFor(
    `${quietFor}s of Prometheus's clock after site-a's series went`,
    async () => {
      const [sample] = await central!.prometheus.query('time() - max(site:last_sample:timestamp{site="site-a"})');
      return sample && Number(sample.value[1]) > quietFor ? true : undefined;
    },
    WAIT_MS,
  );
  const alerts = (await central!.prometheus.alerts()).map((alert) => `${alert.labels.alertname}{site=${alert.labels.site ?? ''}} ${alert.state}`).sort();
  expect(alerts.filter((alert) => !alert.startsWith('Watchdog'))).toEqual(['SiteDown{site=site-a} firing']);
  expect(mailsSince(since, (mail) => !siteDown(mail) && !mail.subject.includes('Watchdog')).map((mail) => mail.subject)).toEqual([]);
  // site-b still probes and reports.
  expect(await probeStates()).toEqual(expectedStates('1', [SITES[1]!]));
});
