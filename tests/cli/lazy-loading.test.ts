/**
 * A checkpoint loads a library only when it needs it: loading a config that names every prober
 * loads no protocol library, a prober's first probe loads its own and no other, and express
 * loads with the first page a person opens, not for what Prometheus calls. Checked in a fresh
 * process of the BUILT checkpoint (npm test builds first), whose module cache says exactly what
 * was loaded.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { startCheckpointProcess } from '../support/checkpoint-process';

const DIST = path.join(__dirname, '..', '..', 'dist', 'src');
const HEAVY = ['playwright-core', 'dockerode', 'ssh2', 'pg', 'imapflow', 'undici'];
/** Lists the packages in the module cache; `-e` scripts below end with it. */
const PACKAGES_LOADED = `Object.keys(require.cache).map((file) => /node_modules\\/((@[^/]+\\/)?[^/]+)/.exec(file)?.[1]).filter(Boolean)`;

function runScript(script: string): unknown {
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 }));
}

const EVERY_PROBER = `
modules:
  web: {prober: http}
  journey: {prober: browser}
  containers: {prober: docker}
  database: {prober: postgres, postgres: {user: probe}}
  files: {prober: sftp, sftp: {username: probe, password_env: SFTP_PASSWORD, insecure_skip_host_key_check: true}}
  mail: {prober: smtp}
`;

/** The packages loaded after parsing EVERY_PROBER and then loading the named probers' implementations. */
function loadedPackages(probersToLoad: string[]): string[] {
  const script = `
    const { builtInProbers } = require(${JSON.stringify(path.join(DIST, 'cli', 'probers'))});
    const { fileSource } = require(${JSON.stringify(path.join(DIST, 'config', 'source'))});
    const { parseConfig } = require(${JSON.stringify(path.join(DIST, 'config', 'load'))});
    parseConfig(${JSON.stringify(EVERY_PROBER)}, 'every.yml', builtInProbers, { checkSecretSources: false });
    Promise.all(${JSON.stringify(probersToLoad)}.map((name) => builtInProbers.prober(name))).then(() => {
      process.stdout.write(JSON.stringify([...new Set(${PACKAGES_LOADED})]));
    });
  `;
  return runScript(script) as string[];
}

test('loading a config that names every prober loads no protocol library', () => {
  const loaded = loadedPackages([]);
  expect(loaded).toContain('ajv');
  expect(loaded.filter((name) => HEAVY.includes(name))).toEqual([]);
});

test.each([
  ['browser', ['playwright-core']],
  // dockerode's own dependency for ssh:// engines.
  ['docker', ['dockerode', 'ssh2']],
  ['postgres', ['pg']],
  ['sftp', ['ssh2']],
  // imapflow loads with the first delivery check, not with the prober; undici with the first h2 target.
  ['smtp', []],
  ['http', []],
])('the first %s probe loads %p and no other protocol library', (prober, expected) => {
  expect(
    loadedPackages([prober])
      .filter((name) => HEAVY.includes(name))
      .sort(),
  ).toEqual(expected);
});

test('express loads with the first page a person opens, not for /probe, /metrics, /sd or the health checks', () => {
  const script = `
    const fs = require('node:fs');
    const os = require('node:os');
    const path = require('node:path');
    const { Checkpoint } = require(${JSON.stringify(path.join(DIST, 'checkpoint'))});
    const { builtInProbers } = require(${JSON.stringify(path.join(DIST, 'cli', 'probers'))});
    const { fileSource } = require(${JSON.stringify(path.join(DIST, 'config', 'source'))});
    const { createApp } = require(${JSON.stringify(path.join(DIST, 'server', 'app'))});
    const { listen } = require(${JSON.stringify(path.join(DIST, 'server', 'listen'))});
    const { createLogger } = require(${JSON.stringify(path.join(DIST, 'observability', 'logger'))});
    (async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'checkpoint-lazy-'));
      const configFile = path.join(dir, 'checkpoint.yml');
      fs.writeFileSync(configFile, 'modules:\\n  http_2xx: {prober: http}\\n');
      const logger = createLogger('error', 'logfmt');
      const checkpoint = await Checkpoint.start({ source: fileSource(configFile, builtInProbers), probers: builtInProbers, timeoutOffsetSeconds: 0.5, maxTimeoutSeconds: 5, maxConcurrentProbes: 4, historyLimit: 4, logger });
      const server = await listen(createApp(checkpoint), { host: '127.0.0.1', port: 0, logger });
      const base = 'http://127.0.0.1:' + server.address().port;
      const statuses = [];
      const expressLoaded = () => ${PACKAGES_LOADED}.includes('express');
      for (const page of ['/probe?target=' + encodeURIComponent(base + '/-/healthy'), '/metrics', '/sd', '/-/healthy', '/-/ready']) statuses.push((await fetch(base + page)).status);
      const before = expressLoaded();
      statuses.push((await fetch(base + '/')).status);
      server.close();
      fs.rmSync(dir, { recursive: true });
      process.stdout.write(JSON.stringify({ statuses, before, after: expressLoaded() }));
    })();
  `;
  expect(runScript(script)).toEqual({ statuses: [200, 200, 200, 200, 200, 200], before: false, after: true });
});

test('the checkpoint users run (bin/checkpoint, the bundle) loads only what it uses too', async () => {
  // Node names every module it loads from disk under NODE_DEBUG=module; inside the bundle nothing is loaded.
  const checkpoint = await startCheckpointProcess(EVERY_PROBER, { env: { NODE_DEBUG: 'module', SFTP_PASSWORD: 'unused' } });
  try {
    const loadedFromDisk = () => new Set([...checkpoint.output().matchAll(/node_modules\/((?:@[^/]+\/)?[^/"]+)/g)].flatMap((m) => m[1] ?? []));
    expect((await checkpoint.get('/-/healthy')).status).toBe(200);
    expect((await checkpoint.get('/metrics')).status).toBe(200);
    const probed = await checkpoint.get(`/probe?module=web&target=${encodeURIComponent(`${checkpoint.url}/-/healthy`)}`);
    expect(probed.body).toContain('probe_success 1');
    expect([...loadedFromDisk()].filter((name) => [...HEAVY, 'express'].includes(name))).toEqual([]);
    expect((await checkpoint.get('/')).status).toBe(200);
    expect(loadedFromDisk().has('express')).toBe(true);
  } finally {
    await checkpoint.stop();
  }
});
