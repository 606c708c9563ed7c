/**
 * A site cut off from the central place for five minutes loses nothing: its agent keeps what it
 * scrapes in its WAL while its remote writes go unanswered (a relay in front of the central
 * gateway drops them, as a firewall would), and sends it all once the way out reopens.
 *
 *   site-a  127.0.0.2: checkpoint-1 probes `intranet` every 2s (the test's probe interval)
 *   central Prometheus (prometheus/central.yml) behind the remote-write gateway; no Alertmanager:
 *           the alerts are read from Prometheus
 *
 * The five minutes are real: they are the agent's and the WAL's behaviour, not a timing of ours
 * to scale. The proof is a count: the central Prometheus has every probe of the cut window, no
 * two samples further apart than the probes are, and it had none of them while the cut lasted.
 */
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { waitFor } from '../support/checkpoint-process';
import { makeTestPki, type TestPki } from '../support/certs';
import { listenOnLoopback, LOOPBACK } from '../support/ports';
import { sleep } from '../support/processes';
import { durationSeconds, INTERVALS } from '../support/stack-config';
import { startCentral, startSite, type Central, type Site } from './site-stack';

const PARTITION_MS = 5 * 60_000;
const SITE = { name: 'site-a', host: '127.0.0.2' };
const SERIES = `probe_success{job="probe", site="${SITE.name}", monitor="intranet"}`;
const PROBE_INTERVAL_S = durationSeconds(INTERVALS.probe.scrape_interval);
/** Upper bound of every wait for something to happen; never a measure of speed. */
const WAIT_MS = 120_000;

jest.setTimeout(PARTITION_MS + 4 * WAIT_MS);

let work: string;
let pki: TestPki | undefined;
let central: Central | undefined;
let site: Site | undefined;
let target: http.Server | undefined;
const suiteStart = Date.now();

const say = (line: string): void => {
  process.stdout.write(`[partition ${((Date.now() - suiteStart) / 1000).toFixed(1)}s] ${line}\n`);
};

beforeAll(async () => {
  work = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'checkpoint-partition-')));
  pki = await makeTestPki(work);
  target = http.createServer((_request, response) => response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n'));
  const targetUrl = `http://${LOOPBACK}:${await listenOnLoopback(target)}/`;
  central = await startCentral({ work, pki, sites: [SITE.name] });
  const checkpointConfig = `modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\nmonitors:\n  - name: intranet\n    module: http_2xx\n    target: ${targetUrl}\n`;
  site = await startSite({ work, pki, central, ...SITE, checkpointConfig, cuttable: true });
}, 120_000);

afterAll(async () => {
  if (process.env.SITES_LOGS) say(`--- ${SITE.name} agent:\n${site?.agent.logs() ?? ''}`);
  await site?.stop();
  await central?.stop();
  await new Promise<void>((resolve) => (target ? target.close(() => resolve()) : resolve()));
  target?.closeAllConnections();
  await pki?.cleanup();
  if (work) await fs.rm(work, { recursive: true, force: true });
}, 60_000);

/** The time of the newest sample of the series the central Prometheus has, in ms (0 for none). */
async function newestSampleMs(): Promise<number> {
  const [sample] = await central!.prometheus.query(`timestamp(${SERIES})`);
  return sample ? Number(sample.value[1]) * 1000 : 0;
}

test('five minutes without the central store: SiteDown while cut, then every probe of the window arrives', async () => {
  const prometheus = central!.prometheus;
  const relay = site!.wayOut!;
  // Probes reaching the central place, with a history longer than the margin the count below
  // starts from (10s before the cut).
  await waitFor(
    "20s of the site's probes at the central place",
    async () => {
      const [history] = await prometheus.query(`count_over_time(${SERIES}[20s])`);
      return Number(history?.value[1] ?? 0) >= 20 / PROBE_INTERVAL_S - 1 && (await newestSampleMs()) > Date.now() - 10_000 ? true : undefined;
    },
    WAIT_MS,
  );

  const cutAt = Date.now();
  relay.cut();
  say(`way out cut; the partition lasts ${PARTITION_MS / 1000}s`);
  // While it lasts: nothing newer than the cut arrives, and SiteDown fires (the central
  // Prometheus cannot tell a cut site from a dead one).
  const siteDown = await waitFor(
    'SiteDown site-a firing while the site is cut off',
    async () => (await prometheus.alerts()).find((alert) => alert.labels.alertname === 'SiteDown' && alert.labels.site === SITE.name && alert.state === 'firing'),
    WAIT_MS,
  ).catch(async (error: Error) => {
    const state = await Promise.all(['site:sending:bool', 'site:silent:timestamp', `timestamp(${SERIES})`, 'time()'].map(async (expr) => `${expr} = ${JSON.stringify(await prometheus.query(expr))}`));
    throw new Error(`${error.message}; cut at ${cutAt / 1000}; ${state.join('; ')}; alerts ${JSON.stringify(await prometheus.alerts())}`);
  });
  say(`SiteDown firing ${((Date.now() - cutAt) / 1000).toFixed(1)}s after the cut`);
  expect(siteDown.labels.site).toBe(SITE.name);
  // The rest of the five minutes, looking every few seconds that nothing gets through.
  let newestDuringCut = 0;
  while (Date.now() < cutAt + PARTITION_MS) {
    newestDuringCut = Math.max(newestDuringCut, await newestSampleMs());
    await sleep(5_000);
  }
  // A batch already on its way when the cut came may land; nothing scraped after it can.
  expect(newestDuringCut).toBeLessThan(cutAt + 10_000);
  const heldRequests = relay.held();
  const healAt = Date.now();
  relay.heal();
  say(`way out reopened after ${((healAt - cutAt) / 1000).toFixed(1)}s; ${heldRequests} connection(s) had been held unanswered`);
  expect(heldRequests).toBeGreaterThan(0);

  await waitFor('the site caught up: samples newer than the reopening', async () => ((await newestSampleMs()) > healAt ? true : undefined), WAIT_MS);
  say(`caught up ${((Date.now() - healAt) / 1000).toFixed(1)}s after the reopening`);
  await waitFor('SiteDown resolved', async () => ((await prometheus.alerts()).some((alert) => alert.labels.alertname === 'SiteDown') ? undefined : true), WAIT_MS);

  // Every probe of the window, as stored: from a little before the cut to the reopening (the site
  // has sent samples newer than that, above, and sends them oldest first).
  const [series, ...others] = await prometheus.samples(SERIES, new Date(cutAt - 10_000), new Date(healAt));
  expect(others).toEqual([]);
  const times = (series?.values ?? []).map(([time]) => time);
  const spanS = (healAt - cutAt + 10_000) / 1000;
  const gaps = times.slice(1).map((time, i) => time - times[i]!);
  const widest = Math.max(...gaps);
  say(`${times.length} samples over ${spanS.toFixed(0)}s at ${PROBE_INTERVAL_S}s probes; the widest gap ${widest.toFixed(1)}s`);
  expect(times[0]).toBeLessThanOrEqual((cutAt - 10_000) / 1000 + PROBE_INTERVAL_S);
  expect(times.length).toBeGreaterThanOrEqual(Math.floor(spanS / PROBE_INTERVAL_S) - 2);
  expect(widest).toBeLessThan(2 * PROBE_INTERVAL_S);
  expect(series?.values.every(([, value]) => value === '1')).toBe(true);
});
