/**
 * The multi-site topology on loopback, for tests/sites/: a central place and sites that push to it,
 * from Debian's packages and our own build, with the shipped files rendered by
 * tests/support/stack-config.ts (addresses, paths and timings only; each change is listed).
 *
 *   central   Prometheus with prometheus/central.yml and --web.enable-remote-write-receiver, the
 *             rules of prometheus/rules/ (timings scaled as in the native smoke test), behind
 *             nginx with compose/central/remote-write-gateway.conf (TLS from the test PKI, one
 *             htpasswd login per site); with admins, one Alertmanager (alertmanager/render-config.sh)
 *             and an SMTP sink.
 *   a site    on a loopback address of its own (127.0.0.2, 127.0.0.3...): a built checkpoint and a
 *             node-exporter listening there only, and a Prometheus agent with
 *             prometheus/agent/agent.yml as its render-config.sh writes it, which scrapes them and
 *             pushes over HTTPS with the site's login to the gateway (or to a relay in front of it
 *             that the test can cut). The agent reaches the checkpoint by the name the shipped
 *             file uses (checkpoint-1:9915) through a proxy mapping it to the site's address, so
 *             every site's checkpoint is `checkpoint-1`, as compose.site.yaml names it.
 *
 * Nothing here connects from the central place into a site: the central config has no job for a
 * checkpoint, and the test checks it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import bcrypt from 'bcryptjs';
import { startAlertmanager, type Alertmanager } from '../support/alertmanager';
import type { TestPki } from '../support/certs';
import { startMailSink, type MailSink } from '../support/mail-sink';
import { startNginx, type Nginx } from '../support/nginx';
import { NODE_EXPORTER_BIN } from '../support/node-exporter';
import { LOOPBACK } from '../support/ports';
import { killAndWait, run, startProcessServer, type ProcessServer } from '../support/processes';
import { startPrometheus, type Prometheus } from '../support/prometheus';
import {
  CHECKPOINT_BIN,
  CHECKPOINT_BUNDLE,
  durationSeconds,
  INTERVALS,
  PROMETHEUS_FILES,
  PROMETHEUS_FLAGS,
  renderAgentConfig,
  renderAlertmanagerConfig,
  renderGatewayConfig,
  renderPrometheusConfig,
  renderRules,
  scaleAlertmanagerConfig,
  scaledDuration,
  shippedCheckpointLogin,
  shippedProbeInterval,
  TIME_SCALE,
  type Substitution,
} from '../support/stack-config';
import { startNameProxy, type NameProxy } from '../smoke/loopback-network';
import { startCuttableRelay, type CuttableRelay } from './cuttable-relay';

/** The checkpoint every site runs, by the name and port prometheus/agent/agent.yml scrapes. */
export const SITE_CHECKPOINT = { name: 'checkpoint-1', address: 'checkpoint-1:9915' };
const SMTP_USER = 'checkpoint-alerts';
const SMTP_PASSWORD = 'sites-relay-pw';

/**
 * Prometheus answers an instant query with a series' last sample for --query.lookback-delta (5m)
 * after it stops: scaled like the rest, so that a silent site's series go the way they do in
 * production, 30 times sooner.
 */
const LOOKBACK_FLAG = `--query.lookback-delta=${scaledDuration('5m')}`;

export interface Central {
  prometheus: Prometheus;
  gateway: Nginx;
  /** The gateway's remote-write URL. */
  writeUrl: string;
  alertmanager?: Alertmanager;
  mail?: MailSink;
  /** Each site's login at the gateway: name -> password file. */
  logins: Map<string, string>;
  substitutions: Substitution[];
  stop(): Promise<void>;
}

/** Starts the central place for `sites` (each gets a login at the gateway); with `admins`, Alertmanager and an SMTP sink too. */
export async function startCentral(options: { work: string; pki: TestPki; sites: string[]; admins?: string[] }): Promise<Central> {
  const dir = path.join(options.work, 'central');
  await fs.mkdir(dir, { recursive: true });
  const substitutions: Substitution[] = [];
  const stoppers: (() => Promise<void>)[] = [];
  try {
    let mail: MailSink | undefined;
    let alertmanager: Alertmanager | undefined;
    if (options.admins) {
      mail = await startMailSink({ pki: options.pki, user: SMTP_USER, password: SMTP_PASSWORD });
      stoppers.push(() => mail!.close());
      const smtpPasswordFile = path.join(dir, 'smtp.password');
      await fs.writeFile(smtpPasswordFile, SMTP_PASSWORD, { mode: 0o600 });
      const amConfig = await renderAlertmanagerConfig({ dir: path.join(dir, 'alertmanager'), admins: options.admins, smarthost: mail.smarthost, user: SMTP_USER, passwordFile: smtpPasswordFile });
      const scaled = scaleAlertmanagerConfig(await fs.readFile(amConfig, 'utf8'));
      await fs.writeFile(amConfig, scaled.yaml);
      substitutions.push(...scaled.substitutions);
      alertmanager = await startAlertmanager({ configFile: amConfig, storageDir: path.join(dir, 'alertmanager', 'data'), caFile: options.pki.caCertPath });
      stoppers.push(() => alertmanager!.stop());
    }

    const windowScale = (await shippedProbeInterval()) / durationSeconds(INTERVALS.probe.scrape_interval);
    substitutions.push(...(await renderRules(path.join(dir, 'prometheus', 'rules'), TIME_SCALE, windowScale)).substitutions);
    const rendered = await renderPrometheusConfig({ alertmanagers: alertmanager ? [new URL(alertmanager.url).host] : [], prometheus: `${LOOPBACK}:0` }, PROMETHEUS_FILES.central);
    substitutions.push(...rendered.substitutions);
    const flags = [...PROMETHEUS_FLAGS, '--web.enable-remote-write-receiver', LOOKBACK_FLAG];
    substitutions.push({ file: 'central Prometheus command line', where: 'flag', from: '--query.lookback-delta=5m (default)', to: LOOKBACK_FLAG });
    const prometheus = await startPrometheus({ dir: path.join(dir, 'prometheus'), flags, config: (port) => rendered.yaml.replace(`${LOOPBACK}:0`, `${LOOPBACK}:${port}`) });
    stoppers.push(() => prometheus.stop());

    // One login per site, as an admin adds them: `openssl passwd -6` into the htpasswd file.
    const logins = new Map<string, string>();
    const htpasswd: string[] = [];
    for (const site of options.sites) {
      const password = randomBytes(12).toString('hex');
      const passwordFile = path.join(dir, `${site}.remote-write.password`);
      await fs.writeFile(passwordFile, password, { mode: 0o600 });
      logins.set(site, passwordFile);
      htpasswd.push(`${site}:${(await run('/usr/bin/openssl', ['passwd', '-6', '-stdin'], { input: password })).trim()}`);
    }
    const htpasswdFile = path.join(dir, 'remote_write_htpasswd');
    await fs.writeFile(htpasswdFile, `${htpasswd.join('\n')}\n`, { mode: 0o600 });
    let gatewaySubstitutions: Substitution[] = [];
    const gateway = await startNginx({
      dir: path.join(dir, 'gateway'),
      server: async (port) => {
        const gatewayConfig = await renderGatewayConfig({ port, upstream: new URL(prometheus.url).host, certFile: options.pki.server.certPath, keyFile: options.pki.server.keyPath, htpasswdFile });
        gatewaySubstitutions = gatewayConfig.substitutions;
        return gatewayConfig.text;
      },
    });
    substitutions.push(...gatewaySubstitutions);
    stoppers.push(() => gateway.stop());
    return {
      prometheus,
      gateway,
      writeUrl: `https://${gateway.address}/api/v1/write`,
      alertmanager,
      mail,
      logins,
      substitutions,
      stop: () => stopAll(stoppers),
    };
  } catch (error) {
    await stopAll(stoppers);
    throw error;
  }
}

export interface Site {
  name: string;
  /** The site's own loopback address: its checkpoint, node-exporter and agent listen there only. */
  host: string;
  checkpoint: ProcessServer;
  nodeExporter: ProcessServer;
  agent: Prometheus;
  /** The site's way out, when it was asked for: cut it to partition the site from the central place. */
  wayOut?: CuttableRelay;
  substitutions: Substitution[];
  /** The agent killed with SIGKILL, as a crash or a lost host would stop it. */
  killAgent(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts a site named `name` on `host` (127.0.0.2...): its checkpoint with `checkpointConfig`
 * behind a web login, a node-exporter, and its agent pushing to `central` with the site's login,
 * through a cuttable relay when `cuttable`.
 */
export async function startSite(options: { work: string; pki: TestPki; central: Central; name: string; host: string; checkpointConfig: string; cuttable?: boolean }): Promise<Site> {
  if (!existsSync(CHECKPOINT_BUNDLE)) throw new Error(`${CHECKPOINT_BUNDLE} is missing: run \`npm run build\` first (the sites test runs the built checkpoint)`);
  const { name, host } = options;
  const dir = path.join(options.work, name);
  await fs.mkdir(dir, { recursive: true });
  const loginFile = options.central.logins.get(name);
  if (!loginFile) throw new Error(`the central place has no login for site ${name}`);
  const stoppers: (() => Promise<void>)[] = [];
  try {
    // The checkpoint's web login, as compose/checkpoint-web.yml asks for it, and the password the agent sends.
    const login = await shippedCheckpointLogin();
    const webPassword = randomBytes(12).toString('hex');
    const webPasswordFile = path.join(dir, 'checkpoint-web.password');
    await fs.writeFile(webPasswordFile, webPassword, { mode: 0o600 });
    const webConfigFile = path.join(dir, 'checkpoint-web.yml');
    await fs.writeFile(webConfigFile, `basic_auth_users:\n  ${login.username}: ${JSON.stringify(bcrypt.hashSync(webPassword, 10))}\n`);
    const authorization = { authorization: `Basic ${Buffer.from(`${login.username}:${webPassword}`).toString('base64')}` };
    const configFile = path.join(dir, 'checkpoint.yml');
    await fs.writeFile(configFile, options.checkpointConfig);
    const checkpoint = await startProcessServer(
      `${name} checkpoint`,
      CHECKPOINT_BIN,
      (port) => [`--config.file=${configFile}`, `--web.listen-address=${host}:${port}`, `--web.config.file=${webConfigFile}`],
      '/-/ready',
      authorization,
      host,
    );
    stoppers.push(() => killAndWait(checkpoint.child));
    const nodeExporter = await startProcessServer(
      `${name} node-exporter`,
      NODE_EXPORTER_BIN,
      (port) => [`--web.listen-address=${host}:${port}`, '--collector.disable-defaults', '--collector.loadavg', '--collector.meminfo', '--collector.time'],
      '/metrics',
      {},
      host,
    );
    stoppers.push(() => killAndWait(nodeExporter.child));
    const names: NameProxy = await startNameProxy(new Map([[SITE_CHECKPOINT.address, checkpoint.address]]));
    stoppers.push(() => names.close());

    let wayOut: CuttableRelay | undefined;
    let writeUrl = options.central.writeUrl;
    if (options.cuttable) {
      const [gatewayHost = LOOPBACK, gatewayPort] = options.central.gateway.address.split(':');
      wayOut = await startCuttableRelay({ host: gatewayHost, port: Number(gatewayPort) });
      stoppers.push(() => wayOut!.close());
      writeUrl = `https://${wayOut.address}/api/v1/write`;
    }
    const rendered = await renderAgentConfig(
      { dir: path.join(dir, 'render'), site: name, remoteWriteUrl: writeUrl, username: name, passwordFile: loginFile, caFile: options.pki.caCertPath },
      { checkpointProxy: names.address, alertmanagers: [], prometheus: `${host}:0`, nodeExporter: nodeExporter.address, checkpointPasswordFile: webPasswordFile },
    );
    const agent = await startPrometheus({ dir: path.join(dir, 'agent'), agent: true, host, config: (port) => rendered.yaml.replace(`${host}:0`, `${host}:${port}`) });
    stoppers.push(() => agent.stop());
    return {
      name,
      host,
      checkpoint,
      nodeExporter,
      agent,
      wayOut,
      substitutions: rendered.substitutions.map((s) => ({ ...s, file: `${name}: ${s.file}` })),
      async killAgent() {
        agent.child.kill('SIGKILL');
        await agent.stop();
      },
      stop: () => stopAll(stoppers),
    };
  } catch (error) {
    await stopAll(stoppers);
    throw error;
  }
}

/** Stops what was started, last first, each whatever the others did. */
async function stopAll(stoppers: (() => Promise<void>)[]): Promise<void> {
  for (const stop of stoppers.reverse()) await stop().catch(() => undefined);
}
