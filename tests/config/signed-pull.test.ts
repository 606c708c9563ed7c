/**
 * A checkpoint that pulls its config from the central place (`--config.url`), as a site runs it:
 * the built binary, a real HTTPS server on loopback (the test PKI's certificate, a bearer token),
 * configs signed with Ed25519 keys made here. It runs a signed update and probes its new monitors;
 * it refuses, keeping the running config and counting the reason, a changed byte, a missing
 * signature, an unknown key, a replayed older serial and an invalid config; it accepts the new key
 * of a rotation; it starts from its cache while the central place is down, and refuses to start
 * with neither.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile, mkdtemp, rm } from 'node:fs/promises';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { generateKeyPair, signContent } from '../../src/config/signature';
import { makeTestPki, type TestPki } from '../support/certs';
import { runCheckpoint, startCheckpointProcess, waitFor, type CheckpointProcess } from '../support/checkpoint-process';
import { startTargets, type Targets } from '../support/http-targets';
import { stringContaining } from '../support/matchers';
import { refusedPort } from '../support/ports';

const TOKEN = 'central-token-of-this-run';
const CONFIG_PATH = '/sites/berlin/checkpoint.yml';
const WAIT_MS = 30_000;

let dir: string;
let pki: TestPki;
let targets: Targets;
let central: https.Server;
let centralUrl: string;
/** What the central place serves, by path; a path missing is a 404. */
const served = new Map<string, Buffer>();
const seenAuthorizations = new Set<string>();
const current = generateKeyPair();
const next = generateKeyPair();
const stranger = generateKeyPair();
let checkpoint: CheckpointProcess | undefined;

/** A site config at `serial` with the monitors named (each an http monitor of the test's target). */
function siteConfig(serial: number, monitors: string[], extra = ''): string {
  const list = monitors.map((name) => `  - name: ${name}\n    module: web_${name.replace(/-/g, '_')}\n    target: ${targets.http}/\n`).join('');
  const modules = monitors.map((name) => `  web_${name.replace(/-/g, '_')}:\n    prober: http\n    timeout: 5s\n`).join('');
  return `serial: ${serial}\nmodules:\n${modules}${extra}monitors:\n${list}`;
}

/** Serves `text` as the site's config, with a signature by `signer` (none: no .sig). */
function publish(text: string | Buffer, signer?: { privatePem: string }, signedText: string | Buffer = text): void {
  const content = Buffer.from(text);
  served.set(CONFIG_PATH, content);
  if (signer) served.set(`${CONFIG_PATH}.sig`, Buffer.from(signContent(Buffer.from(signedText), signer.privatePem, 'test key')));
  else served.delete(`${CONFIG_PATH}.sig`);
}

const file = (name: string): string => path.join(dir, name);
const flags = (url = `${centralUrl}${CONFIG_PATH}`, keys = ['current.pem', 'next.pem'], cache = 'cache'): string[] => [
  `--config.url=${url}`,
  ...keys.map((key) => `--config.public-key=${file(key)}`),
  `--config.url.ca-file=${pki.caCertPath}`,
  `--config.url.bearer-token-file=${file('token')}`,
  '--config.poll-interval=1s',
  `--config.cache-dir=${file(cache)}`,
];

async function metric(name: string): Promise<number | undefined> {
  const text = (await checkpoint!.get('/metrics')).body;
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}
async function monitorsServed(): Promise<string[]> {
  const groups = JSON.parse((await checkpoint!.get('/sd')).body) as { labels: Record<string, string> }[];
  return groups.map((group) => group.labels.monitor ?? '').sort();
}
/** Waits until the checkpoint counted one more refusal for `reason`, and checks that the running config stayed. */
async function expectRefused(reason: string, before: number, still: string[]): Promise<void> {
  await waitFor(
    `checkpoint_config_rejected_total{reason="${reason}"} to reach ${before + 1}`,
    async () => ((await metric(`checkpoint_config_rejected_total{reason="${reason}"}`)) === before + 1 ? true : undefined),
    WAIT_MS,
  );
  expect(await metric('checkpoint_config_last_reload_successful')).toBe(0);
  expect(await monitorsServed()).toEqual(still);
  expect(checkpoint!.output()).toContain(`${centralUrl}${CONFIG_PATH}`);
}
const rejected = async (reason: string): Promise<number> => (await metric(`checkpoint_config_rejected_total{reason="${reason}"}`)) ?? 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'checkpoint-signed-pull-'));
  pki = await makeTestPki(dir);
  targets = await startTargets(pki);
  await writeFile(file('current.pem'), current.publicPem);
  await writeFile(file('next.pem'), next.publicPem);
  await writeFile(file('token'), `${TOKEN}\n`);
  central = https.createServer({ key: pki.server.key, cert: pki.server.cert }, (request, response) => {
    seenAuthorizations.add(request.headers.authorization ?? '');
    const body = served.get(request.url ?? '');
    if (!body) {
      response.writeHead(404).end();
      return;
    }
    const etag = `"${createHash('sha256').update(body).digest('hex')}"`;
    if (request.headers['if-none-match'] === etag) response.writeHead(304, { etag }).end();
    else response.writeHead(200, { etag, 'content-type': 'application/yaml' }).end(body);
  });
  await new Promise<void>((resolve) => central.listen(0, '127.0.0.1', resolve));
  centralUrl = `https://127.0.0.1:${(central.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  await checkpoint?.stop();
  await new Promise<void>((resolve) => central?.close(() => resolve()));
  central?.closeAllConnections();
  await targets?.close();
  await pki?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

test('runs the signed config it pulls (sending the bearer token), then a signed update, whose new monitor it probes', async () => {
  publish(siteConfig(1, ['intranet']), current);
  checkpoint = await startCheckpointProcess('unused: true\n', { configFlags: flags() });
  expect(await monitorsServed()).toEqual(['intranet']);
  expect(seenAuthorizations).toEqual(new Set([`Bearer ${TOKEN}`]));
  expect(await metric('checkpoint_config_last_reload_successful')).toBe(1);

  publish(siteConfig(2, ['intranet', 'intranet-2']), current);
  await waitFor('the update on /sd', async () => ((await monitorsServed()).includes('intranet-2') ? true : undefined), WAIT_MS);
  const probe = await checkpoint.get(`/probe?module=web_intranet_2&target=${encodeURIComponent(`${targets.http}/`)}`);
  expect(probe.body).toMatch(/^probe_success 1$/m);
  // The cache holds what runs, and its signature.
  expect(await readFile(file('cache/checkpoint.yml'), 'utf8')).toBe(siteConfig(2, ['intranet', 'intranet-2']));
  expect(checkpoint.output()).toMatch(/Loaded config.*serial.*2/);
});

test('refuses a changed byte, a missing signature, an unknown key, a replayed serial and an invalid config, keeping what runs', async () => {
  const running = ['intranet', 'intranet-2'];
  const good = siteConfig(3, ['intranet', 'intranet-3']);
  publish(good.replace('intranet-3', 'intranet-4'), current, good);
  await expectRefused('bad_signature', await rejected('bad_signature'), running);

  publish(siteConfig(4, ['intranet']));
  await expectRefused('signature_missing', await rejected('signature_missing'), running);

  publish(siteConfig(5, ['intranet']), stranger);
  await expectRefused('unknown_key', await rejected('unknown_key'), running);

  publish(siteConfig(1, ['intranet', 'old']), current);
  await expectRefused('replay', await rejected('replay'), running);

  // Signed, but carrying a secret of its own: a signed config may not.
  publish(siteConfig(6, ['intranet'], '  with_password:\n    prober: http\n    http:\n      basic_auth:\n        username: u\n        password: hunter2\n'), current);
  await expectRefused('invalid_config', await rejected('invalid_config'), running);
  expect(checkpoint!.output()).not.toContain('hunter2');
});

test('accepts the new key of a rotation', async () => {
  publish(siteConfig(7, ['intranet', 'rotated']), next);
  await waitFor('the config signed with the new key on /sd', async () => ((await monitorsServed()).includes('rotated') ? true : undefined), WAIT_MS);
  expect(await metric('checkpoint_config_last_reload_successful')).toBe(1);
  await checkpoint!.stop();
  checkpoint = undefined;
});

test('starts from its cache while the central place is down; with no cache it refuses to start, saying why', async () => {
  const down = `https://127.0.0.1:${await refusedPort()}${CONFIG_PATH}`;
  checkpoint = await startCheckpointProcess('unused: true\n', { configFlags: flags(down) });
  expect(await monitorsServed()).toEqual(['intranet', 'rotated']);
  expect(checkpoint.output()).toContain('running the cached signed config');
  await checkpoint.stop();
  checkpoint = undefined;

  const withLogin = await runCheckpoint([...flags(`https://user:pw@127.0.0.1:1${CONFIG_PATH}`), '--web.listen-address=127.0.0.1:0']);
  expect([withLogin.code, withLogin.stderr]).toEqual([2, stringContaining('--config.url holds a login')]);
  expect(withLogin.stderr).not.toContain('pw@');
  const plain = await runCheckpoint([...flags(`http://127.0.0.1:1${CONFIG_PATH}`), '--web.listen-address=127.0.0.1:0']);
  expect([plain.code, plain.stderr]).toEqual([2, stringContaining('--config.url must be an https:// URL')]);
  const noKey = await runCheckpoint([...flags(down, []), '--web.listen-address=127.0.0.1:0']);
  expect([noKey.code, noKey.stderr]).toEqual([2, stringContaining('needs at least one --config.public-key')]);
  const noCache = await runCheckpoint([...flags(down, ['current.pem'], 'empty-cache'), '--web.listen-address=127.0.0.1:0']);
  expect([noCache.code, noCache.stderr]).toEqual([2, stringContaining('cannot start:')]);
  expect(noCache.stderr).toContain('holds no config signed before');

  // A cache changed on disk is refused like a changed download.
  const cached = await readFile(file('cache/checkpoint.yml'), 'utf8');
  await writeFile(file('cache/checkpoint.yml'), cached.replace('rotated', 'rotatex'));
  const tampered = await runCheckpoint([...flags(down), '--web.listen-address=127.0.0.1:0']);
  expect([tampered.code, tampered.stderr]).toEqual([2, stringContaining('bad signature')]);
});
