/**
 * `checkpoint config keygen|sign|verify` as the central place's admin runs them, on the built
 * binary: a key pair that is never overwritten, a signature beside the file, and a verification
 * that refuses a tampered byte, an unknown key and a missing signature, with exit code 2.
 */
import { statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCheckpoint } from '../support/checkpoint-process';
import { stringContaining, stringMatching } from '../support/matchers';

let dir: string;
const file = (name: string): string => path.join(dir, name);
const SITE_CONFIG = 'serial: 4\nmodules:\n  web:\n    prober: http\n    timeout: 5s\nmonitors:\n  - name: intranet\n    module: web\n    target: https://intranet.example/\n';

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'checkpoint-signing-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('keygen writes a private key only its owner reads and a public key, and never overwrites them', async () => {
  const made = await runCheckpoint(['config', 'keygen', `--out=${file('keys')}`]);
  expect([made.code, made.stdout]).toEqual([0, stringMatching(/^key [0-9a-f]{16}: .*private\.pem \(signs; keep it off the sites\)/)]);
  expect(statSync(file('keys/private.pem')).mode & 0o777).toBe(0o600);
  expect(await readFile(file('keys/public.pem'), 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
  const before = await readFile(file('keys/private.pem'), 'utf8');
  const again = await runCheckpoint(['config', 'keygen', `--out=${file('keys')}`]);
  expect([again.code, again.stderr]).toEqual([2, stringContaining('exists: keygen never overwrites a key')]);
  expect(await readFile(file('keys/private.pem'), 'utf8')).toBe(before);
  expect((await runCheckpoint(['config', 'keygen', `--out=${file('other-keys')}`])).code).toBe(0);
});

test('sign writes FILE.sig; verify accepts it with the public key and refuses a changed byte, another key and no signature', async () => {
  await writeFile(file('site.yml'), SITE_CONFIG);
  const signed = await runCheckpoint(['config', 'sign', `--key=${file('keys/private.pem')}`, file('site.yml')]);
  expect([signed.code, signed.stdout]).toEqual([0, stringMatching(/site\.yml\.sig: serial 4 signed with key [0-9a-f]{16}\n$/)]);
  const verify = (config: string, key = 'keys/public.pem') => runCheckpoint(['config', 'verify', `--public-key=${file(key)}`, config]);
  expect(await verify(file('site.yml'))).toMatchObject({ code: 0, stdout: stringContaining('serial 4, signed with key') });

  await writeFile(file('tampered.yml'), SITE_CONFIG.replace('intranet.example', 'intranet.exampl3'));
  await writeFile(file('tampered.yml.sig'), await readFile(file('site.yml.sig')));
  expect(await verify(file('tampered.yml'))).toMatchObject({ code: 2, stderr: stringContaining('tampered.yml: refused, bad signature') });
  expect(await verify(file('site.yml'), 'other-keys/public.pem')).toMatchObject({ code: 2, stderr: stringContaining('site.yml: refused, unknown key') });
  await writeFile(file('unsigned.yml'), SITE_CONFIG);
  expect(await verify(file('unsigned.yml'))).toMatchObject({ code: 2, stderr: stringContaining('unsigned.yml: refused, signature missing') });
  // During a rotation a site trusts both keys.
  const both = await runCheckpoint(['config', 'verify', `--public-key=${file('other-keys/public.pem')}`, `--public-key=${file('keys/public.pem')}`, file('site.yml')]);
  expect(both.code).toBe(0);
});

test('sign refuses a config with a secret of its own or without a serial, names where, quotes no secret, and writes nothing', async () => {
  await writeFile(file('secret.yml'), 'serial: 5\nmodules:\n  web:\n    prober: http\n    http:\n      basic_auth:\n        username: u\n        password: hunter2\nmonitors: []\n');
  const refused = await runCheckpoint(['config', 'sign', `--key=${file('keys/private.pem')}`, file('secret.yml')]);
  expect([refused.code, refused.stderr]).toEqual([2, stringContaining('secret.yml:8:9: modules.web.http.basic_auth.password: a signed config carries no secret')]);
  expect(`${refused.stdout}${refused.stderr}`).not.toContain('hunter2');
  await writeFile(file('no-serial.yml'), 'modules:\n  web:\n    prober: http\nmonitors: []\n');
  const noSerial = await runCheckpoint(['config', 'sign', `--key=${file('keys/private.pem')}`, file('no-serial.yml')]);
  expect([noSerial.code, noSerial.stderr]).toEqual([2, stringContaining('no-serial.yml:1:1: serial: a signed config needs one')]);
  await expect(readFile(file('secret.yml.sig'))).rejects.toThrow('ENOENT');
  await expect(readFile(file('no-serial.yml.sig'))).rejects.toThrow('ENOENT');
});

test('bad usage exits 2 and says what was expected', async () => {
  expect(await runCheckpoint(['config', 'sign', file('site.yml')])).toMatchObject({ code: 2, stderr: stringContaining('--key is required') });
  expect(await runCheckpoint(['config', 'verify', file('site.yml')])).toMatchObject({ code: 2, stderr: stringContaining('verify needs at least one --public-key') });
  expect(await runCheckpoint(['config', 'rotate'])).toMatchObject({ code: 2, stderr: stringContaining('unknown config command "rotate"') });
  expect(await runCheckpoint(['config', '--help'])).toMatchObject({ code: 0, stdout: stringContaining('checkpoint config keygen --out=DIR') });
});
