/**
 * The stack `npm run bench:detection` measures: the shipped prometheus/ and alertmanager/ files,
 * Debian's Prometheus and Alertmanager, two checkpoints (bin/checkpoint, as users start it) and an
 * SMTP sink, all on loopback, put together as tests/smoke/native-stack.test.ts does it and with its
 * helpers (tests/support/stack-config.ts renders the shipped files for loopback).
 *
 * One difference: the smoke test divides every timing by a fixed 30; here the scale is the bench's
 * --time-scale, 1 by default (production timings: the shipped intervals, `for:` and route timings
 * as they are). At another scale, every interval, timeout, `for:` and route timing is divided by it
 * and rounded up to whole seconds (at least 1s), as the smoke test does, and the rules' range
 * windows by as much as the probe interval shrank, so that each still holds as many probes.
 *
 * The target is a small HTTP server in this process (200, 503, or not listening), behind the
 * smoke test's ClientFirewall, a relay that can refuse one checkpoint's connections.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import bcrypt from 'bcryptjs';
import { isMap, isSeq, parseDocument, stringify } from 'yaml';
import { startClientFirewall, startNameProxy, type ClientFirewall, type NameProxy } from '../tests/smoke/loopback-network';
import { startAlertmanager, type Alertmanager } from '../tests/support/alertmanager';
import { makeTestPki, type TestPki } from '../tests/support/certs';
import { startMailSink, type MailSink } from '../tests/support/mail-sink';
import { LOOPBACK } from '../tests/support/ports';
import { hasExited, killAndWait, onFreePort, sleep, spawnLogged, startFailure, track } from '../tests/support/processes';
import { startPrometheus, type Prometheus } from '../tests/support/prometheus';
import {
  durationSeconds,
  PROMETHEUS_DIR,
  renderAlertmanagerConfig,
  renderPrometheusConfig,
  renderRules,
  scaleAlertmanagerConfig,
  scaledDuration,
  shippedCheckpointLogin,
  shippedCheckpoints,
  shippedProbeInterval,
  type Substitution,
  CHECKPOINT_BIN,
  CHECKPOINT_BUNDLE,
} from '../tests/support/stack-config';
import { ROOT } from './harness';

export const ADMINS = ['alice@example.test', 'bob@example.test', 'carol@example.test'];
const SMTP_USER = 'checkpoint-alerts';
const SMTP_PASSWORD = randomBytes(8).toString('hex');
export const MONITOR = 'bench-target';
const MODULE = 'http_2xx';

export const scaledSeconds = (text: string, scale: number): number => durationSeconds(scaledDuration(text, scale));

export type TargetMode = 'up' | 'down' | 'closed';

/** The HTTP server the checkpoints probe: 200, 503, or not listening at all. */
export interface Target {
  /** The URL the monitors probe (the relay in front of the server). */
  url: string;
  mode(): TargetMode;
  set(mode: TargetMode): Promise<void>;
  /** Arrival time (ms since the epoch) and answer of every request, in order. */
  requests: { at: number; status: number }[];
}

export interface Stack {
  scale: number;
  /** The shipped timings the bench reasons with, already scaled (seconds). */
  timings: { probeInterval: number; evaluationInterval: number; monitorDownFor: number; criticalGroupWait: number; groupInterval: number; warningFor: number; warningGroupWait: number };
  substitutions: Substitution[];
  target: Target;
  firewall: ClientFirewall;
  mail: MailSink;
  prometheus: Prometheus;
  alertmanager: Alertmanager;
  checkpoints: Map<string, { name: string; address: string; child: ChildProcess; logs: () => string }>;
  /** Every process started, for stopping (and for the SIGINT handler's last resort). */
  children(): ChildProcess[];
  stop(): Promise<void>;
}

/** Builds the stack piece by piece; whatever started before a failure is stopped by `stop()` of the partial stack, which `onPartial` gets at once. */
export async function startStack(scale: number, say: (line: string) => void, onPartial: (stop: () => Promise<void>, children: () => ChildProcess[]) => void): Promise<Stack> {
  if (!existsSync(CHECKPOINT_BUNDLE)) throw new Error(`${CHECKPOINT_BUNDLE} is missing: run \`npm run build\` first`);
  const processes: ChildProcess[] = [];
  const closers: (() => Promise<void>)[] = [];
  const stop = async (): Promise<void> => {
    for (const close of closers.splice(0).reverse()) {
      await close().catch((error: unknown) => say(`stopping: ${String(error)}`));
    }
  };
  onPartial(stop, () => [...processes]);

  const work = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'checkpoint-bench-detection-')));
  closers.push(() => fs.rm(work, { recursive: true, force: true }));
  const pki: TestPki = await makeTestPki(work);

  // The target, behind the relay that can refuse one checkpoint.
  const target = await startTarget();
  closers.push(target.close);
  const firewall = await startClientFirewall({ host: LOOPBACK, port: target.port });
  closers.push(() => firewall.close());
  const targetUrl = `http://${firewall.address}/`;

  // The checkpoints: the shipped http_2xx module (config/checkpoint.yml), one monitor on the target.
  const shippedConfig = parseDocument(await fs.readFile(path.join(ROOT, 'config', 'checkpoint.yml'), 'utf8')).toJS() as { modules?: Record<string, unknown> };
  const module = shippedConfig.modules?.[MODULE];
  if (!module) throw new Error(`config/checkpoint.yml has no module ${MODULE}`);
  const checkpointConfig = stringify({ modules: { [MODULE]: module }, monitors: [{ name: MONITOR, module: MODULE, target: targetUrl, labels: { team: 'bench' } }] });
  const login = await shippedCheckpointLogin();
  const webPassword = randomBytes(12).toString('hex');
  const webPasswordFile = path.join(work, 'checkpoint-web.password');
  await fs.writeFile(webPasswordFile, webPassword, { mode: 0o600 });
  const webConfigFile = path.join(work, 'checkpoint-web.yml');
  await fs.writeFile(webConfigFile, `basic_auth_users:\n  ${login.username}: ${JSON.stringify(bcrypt.hashSync(webPassword, 10))}\n`);
  const authorization = `Basic ${Buffer.from(`${login.username}:${webPassword}`).toString('base64')}`;
  const checkpoints: Stack['checkpoints'] = new Map();
  const nameMap = new Map<string, string>();
  for (const [name, address] of await shippedCheckpoints()) {
    const configFile = path.join(work, `${name}.yml`);
    await fs.writeFile(configFile, checkpointConfig);
    const server = await startCheckpoint(name, configFile, webConfigFile, authorization, processes, closers);
    checkpoints.set(name, server);
    nameMap.set(address, server.address);
  }
  if (checkpoints.size !== 2) throw new Error(`prometheus/prometheus.yml names ${checkpoints.size} checkpoints; the bench expects two`);
  const names: NameProxy = await startNameProxy(nameMap);
  closers.push(() => names.close());

  // The SMTP sink and Alertmanager, configured by alertmanager/render-config.sh, route timings scaled.
  const mail = await startMailSink({ pki, user: SMTP_USER, password: SMTP_PASSWORD });
  closers.push(() => mail.close());
  const amDir = path.join(work, 'alertmanager');
  const smtpPasswordFile = path.join(work, 'smtp.password');
  await fs.writeFile(smtpPasswordFile, SMTP_PASSWORD);
  const amConfig = await renderAlertmanagerConfig({ dir: amDir, admins: ADMINS, smarthost: mail.smarthost, user: SMTP_USER, passwordFile: smtpPasswordFile });
  const substitutions: Substitution[] = [
    {
      file: 'alertmanager/alertmanager.yml',
      where: 'render-config.sh',
      from: 'placeholders',
      to: `ADMIN_EMAILS (3), SMTP_SMARTHOST ${mail.smarthost}, SMTP_FROM, SMTP_AUTH_USERNAME, SMTP_AUTH_PASSWORD_FILE`,
    },
  ];
  const routes = scaleAlertmanagerConfig(await fs.readFile(amConfig, 'utf8'), scale);
  substitutions.push(...routes.substitutions);
  await fs.writeFile(amConfig, routes.yaml);
  const alertmanager = await startAlertmanager({ configFile: amConfig, storageDir: path.join(amDir, 'data'), caFile: pki.caCertPath });
  processes.push(alertmanager.child);
  closers.push(() => alertmanager.stop());

  // Prometheus: the shipped prometheus.yml for loopback (no node-exporter: the bench is not about
  // the host), its intervals and the rules' `for:` scaled.
  const promDir = path.join(work, 'prometheus');
  const addresses = { checkpointProxy: names.address, alertmanagers: [new URL(alertmanager.url).host], checkpointPasswordFile: webPasswordFile };
  const rendered = await renderPrometheusConfig({ ...addresses, prometheus: `${LOOPBACK}:0` });
  const config = scaleIntervals(rendered.yaml, await fs.readFile(path.join(PROMETHEUS_DIR, 'prometheus.yml'), 'utf8'), scale, substitutions);
  substitutions.push(...rendered.substitutions.filter((s) => !/interval|timeout/.test(s.where)));
  // The rules' windows shrink with the probe interval (rounded to whole seconds), so each still
  // holds as many probes as at scale 1.
  const rules = await renderRules(path.join(promDir, 'rules'), scale, (await shippedProbeInterval()) / config.probeInterval);
  substitutions.push(...rules.substitutions);
  const resendDelay = `--rules.alert.resend-delay=${scaledDuration('1m', scale)}`;
  const prometheus = await startPrometheus({ dir: promDir, flags: [resendDelay], config: (port) => config.yaml.replace(`${LOOPBACK}:0`, `${LOOPBACK}:${port}`) });
  processes.push(prometheus.child);
  closers.push(() => prometheus.stop());
  for (const s of substitutions) if (s.to.includes(`${LOOPBACK}:0`)) s.to = s.to.replace(`${LOOPBACK}:0`, `${LOOPBACK}:${prometheus.port}`);
  substitutions.push({ file: 'prometheus command line', where: 'flag', from: '--rules.alert.resend-delay=1m (default)', to: resendDelay });

  return {
    scale,
    timings: {
      probeInterval: config.probeInterval,
      evaluationInterval: config.evaluationInterval,
      monitorDownFor: rules.fors.get('MonitorDown') ?? NaN,
      warningFor: rules.fors.get('MonitorFailingFromOneCheckpoint') ?? NaN,
      criticalGroupWait: routes.critical.groupWait,
      warningGroupWait: routes.warning.groupWait,
      groupInterval: routes.critical.groupInterval,
    },
    // What was changed: at scale 1, only what loopback needs (addresses, files).
    substitutions: substitutions.filter((s) => s.from !== s.to),
    target: target.target,
    firewall,
    mail,
    prometheus,
    alertmanager,
    checkpoints,
    children: () => [...processes],
    stop,
  };
}

// ---------------------------------------------------------------------------------------------
// Scaling the shipped files

/** prometheus.yml as renderPrometheusConfig rendered it, with the shipped intervals (from `shippedYaml`) put back, scaled. */
function scaleIntervals(rendered: string, shippedYaml: string, scale: number, substitutions: Substitution[]): { yaml: string; probeInterval: number; evaluationInterval: number } {
  const shipped = parseDocument(shippedYaml);
  const doc = parseDocument(rendered);
  const file = 'prometheus/prometheus.yml';
  for (const key of ['scrape_interval', 'scrape_timeout', 'evaluation_interval']) {
    const from = String(shipped.getIn(['global', key]));
    doc.setIn(['global', key], scaledDuration(from, scale));
    substitutions.push({ file, where: `global.${key}`, from, to: scaledDuration(from, scale) });
  }
  const jobs = doc.get('scrape_configs');
  const shippedJobs = shipped.get('scrape_configs');
  if (!isSeq(jobs) || !isSeq(shippedJobs)) throw new Error(`${file}: scrape_configs is not a list`);
  const shippedProbe = shippedJobs.items.find((job) => isMap(job) && job.get('job_name') === 'probe');
  const probe = jobs.items.find((job) => isMap(job) && job.get('job_name') === 'probe');
  if (!isMap(shippedProbe) || !isMap(probe)) throw new Error(`${file}: no job probe`);
  for (const key of ['scrape_interval', 'scrape_timeout']) {
    const from = String(shippedProbe.get(key));
    probe.set(key, scaledDuration(from, scale));
    substitutions.push({ file, where: `job probe: ${key}`, from, to: scaledDuration(from, scale) });
  }
  return {
    yaml: doc.toString(),
    probeInterval: scaledSeconds(String(shippedProbe.get('scrape_interval')), scale),
    evaluationInterval: scaledSeconds(String(shipped.getIn(['global', 'evaluation_interval'])), scale),
  };
}

// ---------------------------------------------------------------------------------------------
// Processes and the target

async function startCheckpoint(
  name: string,
  configFile: string,
  webConfigFile: string,
  authorization: string,
  processes: ChildProcess[],
  closers: (() => Promise<void>)[],
): Promise<{ name: string; address: string; child: ChildProcess; logs: () => string }> {
  return onFreePort(async (port) => {
    const spawned = spawnLogged(CHECKPOINT_BIN, [`--config.file=${configFile}`, `--web.listen-address=${LOOPBACK}:${port}`, `--web.config.file=${webConfigFile}`]);
    const { child, logs } = spawned;
    track(child);
    processes.push(child);
    closers.push(() => killAndWait(child));
    const address = `${LOOPBACK}:${port}`;
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (hasExited(child) || spawned.spawnError()) {
        throw startFailure(`${name}: ${spawned.spawnError()?.message ?? `exited with ${child.exitCode ?? child.signalCode}`}:\n${logs()}`, /address already in use|EADDRINUSE/i.test(logs()));
      }
      try {
        const response = await fetch(`http://${address}/-/ready`, { headers: { authorization }, signal: AbortSignal.timeout(1000) });
        await response.arrayBuffer();
        if (response.ok) break;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) throw new Error(`${name} not ready after 30s:\n${logs()}`);
      await sleep(100);
    }
    return { name, address, child, logs };
  });
}

async function startTarget(): Promise<{ target: Target; port: number; close: () => Promise<void> }> {
  let mode: TargetMode = 'up';
  const requests: Target['requests'] = [];
  const server = http.createServer((_request, response) => {
    const status = mode === 'up' ? 200 : 503;
    requests.push({ at: Date.now(), status });
    response.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'bench target up\n' : 'bench target down\n');
  });
  const listen = (port: number): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, LOOPBACK, () => {
        server.off('error', reject);
        resolve();
      });
    });
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      server.closeAllConnections();
    });
  await listen(0);
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('target: no port');
  const port = address.port;
  return {
    port,
    close,
    target: {
      url: `http://${LOOPBACK}:${port}/`,
      mode: () => mode,
      requests,
      async set(next) {
        if (next === mode) return;
        if (next === 'closed') await close();
        else if (mode === 'closed') await listen(port);
        // Keep-alive connections would go on being answered by the old mode's handler: the same
        // handler reads `mode` at each request, so only closing matters.
        mode = next;
      },
    },
  };
}
