/**
 * A monitor's own `interval:` and `timeout:` reach Prometheus through /sd: Debian's Prometheus,
 * discovering a real checkpoint's monitors in one probe job, scrapes each at its own interval and
 * timeout, and the others at the job's.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { startCheckpointProcess, type CheckpointProcess } from '../support/checkpoint-process';
import { eventually } from '../support/probe-harness';
import { startPrometheus, type Prometheus } from '../support/prometheus';

let checkpoint: CheckpointProcess;
let prometheus: Prometheus;
let dir: string;

const CONFIG = `modules:
  http_ok:
    prober: http
    http:
      preferred_ip_protocol: ip4
monitors:
  - {name: slow, module: http_ok, target: "http://127.0.0.1:9/", interval: 1m, timeout: 30s}
  - {name: quick, module: http_ok, target: "http://127.0.0.1:9/", interval: 5s}
  - {name: usual, module: http_ok, target: "http://127.0.0.1:9/"}
`;

beforeAll(async () => {
  checkpoint = await startCheckpointProcess(CONFIG);
  dir = await mkdtemp(path.join(os.tmpdir(), 'prometheus-schedule-'));
  const sd = new URL('/sd', checkpoint.url).href;
  prometheus = await startPrometheus({
    dir,
    config: () => `scrape_configs:
  - job_name: probe
    metrics_path: /probe
    scrape_interval: 30s
    scrape_timeout: 5s
    http_sd_configs:
      - url: ${sd}
        refresh_interval: 5s
    relabel_configs:
      - {source_labels: [__address__], target_label: __param_target}
      - {target_label: __address__, replacement: ${new URL(checkpoint.url).host}}
`,
  });
}, 60_000);

afterAll(async () => {
  await prometheus?.stop();
  await checkpoint?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("each monitor is scraped at its own interval and timeout, the others at the job's", async () => {
  const schedules = async () => {
    const targets = await prometheus.targets();
    return Object.fromEntries(targets.map((target) => [target.labels.monitor ?? '', `${target.scrapeInterval}/${target.scrapeTimeout}`]));
  };
  const expected = { slow: '1m/30s', quick: '5s/5s', usual: '30s/5s' };
  // Discovery refreshes every 5 s; wait for the three targets, then compare.
  await eventually(async () => Object.keys(await schedules()).length === 3, 30_000);
  expect(await schedules()).toEqual(expected);
});
