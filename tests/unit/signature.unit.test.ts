/**
 * Signed configs, the pure part: Ed25519 signatures of a config's bytes (src/config/signature.ts)
 * and the rules a signed config obeys (parseConfig with `signed`: a serial, no secret of its own).
 */
import { generateKeyPairSync } from 'node:crypto';
import { builtInProbers } from '../../src/cli/probers';
import { parseConfig } from '../../src/config/load';
import { ConfigError } from '../../src/config/problems';
import { generateKeyPair, parsePublicKey, signContent, verifyContent } from '../../src/config/signature';

const CONFIG = Buffer.from('serial: 7\nmodules:\n  web:\n    prober: http\nmonitors:\n  - name: intranet\n    module: web\n    target: https://intranet.example/\n');
const current = generateKeyPair();
const next = generateKeyPair();
const trustedCurrent = [parsePublicKey(current.publicPem, 'current.pem')];

describe('signatures', () => {
  test('a file signed with the private key verifies against its public key, naming the key', () => {
    const line = signContent(CONFIG, current.privatePem, 'private.pem');
    expect(line).toMatch(new RegExp(`^ed25519 ${current.id} [A-Za-z0-9+/]{86}==\\n$`));
    expect(verifyContent(CONFIG, line, trustedCurrent)).toEqual({ ok: true, keyId: current.id });
  });

  test.each([0, 20, CONFIG.length - 1])('one byte changed at %i: bad signature', (index) => {
    const line = signContent(CONFIG, current.privatePem, 'private.pem');
    const tampered = Buffer.from(CONFIG);
    tampered[index] = tampered[index]! ^ 1;
    expect(verifyContent(tampered, line, trustedCurrent)).toEqual({ ok: false, problem: 'bad_signature', keyId: current.id });
  });

  test('signed by a key the site does not trust: unknown key, naming it', () => {
    const line = signContent(CONFIG, next.privatePem, 'next.pem');
    expect(verifyContent(CONFIG, line, trustedCurrent)).toEqual({ ok: false, problem: 'unknown_key', keyId: next.id });
  });

  test("another key's signature under a trusted key's id: bad signature", () => {
    const line = signContent(CONFIG, next.privatePem, 'next.pem').replace(next.id, current.id);
    expect(verifyContent(CONFIG, line, trustedCurrent)).toEqual({ ok: false, problem: 'bad_signature', keyId: current.id });
  });

  test('no signature, or one that is not a signature line: refused as such', () => {
    expect(verifyContent(CONFIG, undefined, trustedCurrent)).toEqual({ ok: false, problem: 'signature_missing' });
    for (const line of ['', 'ed25519', `rsa ${current.id} AAAA`, `ed25519 ${current.id} not-base64`, signContent(CONFIG, current.privatePem, 'p').slice(0, 40)]) {
      expect(verifyContent(CONFIG, line, trustedCurrent)).toEqual({ ok: false, problem: 'signature_malformed' });
    }
  });

  test('during a rotation both keys are trusted: either signature verifies, each under its own id', () => {
    const both = [parsePublicKey(current.publicPem, 'current.pem'), parsePublicKey(next.publicPem, 'next.pem')];
    expect(verifyContent(CONFIG, signContent(CONFIG, current.privatePem, 'a'), both)).toEqual({ ok: true, keyId: current.id });
    expect(verifyContent(CONFIG, signContent(CONFIG, next.privatePem, 'b'), both)).toEqual({ ok: true, keyId: next.id });
  });

  test('keys that are not Ed25519, or not keys, are refused with the file named', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(() => parsePublicKey(rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'rsa.pem')).toThrow('rsa.pem: an rsa key, not ed25519');
    expect(() => parsePublicKey('not a key', 'junk.pem')).toThrow('junk.pem: not a PEM public key');
    expect(() => signContent(CONFIG, rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'rsa-private.pem')).toThrow('rsa-private.pem: an rsa key, not ed25519');
    expect(() => signContent(CONFIG, current.publicPem, 'public.pem')).toThrow('public.pem: not a PEM private key');
  });
});

describe('a signed config', () => {
  const parseSigned = (text: string) => parseConfig(text, 'site.yml', builtInProbers, { signed: true, checkSecretSources: false });
  const problems = (text: string): string[] => {
    try {
      parseSigned(text);
      return [];
    } catch (error) {
      if (error instanceof ConfigError) return error.message.split('\n');
      throw error;
    }
  };

  test('has a serial, and names the files and variables of its secrets', () => {
    const text = 'serial: 12\nmodules:\n  web:\n    prober: http\n    http:\n      basic_auth:\n        username: u\n        password_file: /run/secrets/web\nmonitors: []\n';
    expect(parseSigned(text).serial).toBe(12);
  });

  test('without a serial, or with one that is not a whole number above 0, is refused', () => {
    expect(problems('modules:\n  web:\n    prober: http\n')).toEqual([expect.stringMatching(/^site\.yml:1:1: serial: a signed config needs one/)]);
    expect(problems('serial: 0\nmodules:\n  web:\n    prober: http\n')).toEqual([expect.stringMatching(/^site\.yml:1:9: serial: /)]);
    expect(problems('serial: 1.5\nmodules:\n  web:\n    prober: http\n')).toEqual([expect.stringMatching(/^site\.yml:1:9: serial: /)]);
  });

  test('carrying a secret of its own is refused at the key, without quoting the secret', () => {
    const found = problems('serial: 2\nmodules:\n  web:\n    prober: http\n    http:\n      basic_auth:\n        username: u\n        password: hunter2\nmonitors: []\n');
    expect(found).toEqual([
      'site.yml:8:9: modules.web.http.basic_auth.password: a signed config carries no secret: name a file or an environment variable on the site instead (the _file or _env key)',
    ]);
    expect(found.join('\n')).not.toContain('hunter2');
  });

  test("a proxy URL's password is a secret of its own too; a proxy URL without one is none", () => {
    const found = problems('serial: 2\nmodules:\n  web:\n    prober: http\n    http:\n      proxy_url: http://u:hunter2@proxy:3128\nmonitors: []\n');
    expect(found).toEqual([expect.stringMatching(/^site\.yml:6:7: modules\.web\.http\.proxy_url: a signed config carries no secret/)]);
    expect(found.join('\n')).not.toContain('hunter2');
    expect(problems('serial: 2\nmodules:\n  web:\n    prober: http\n    http:\n      proxy_url: http://proxy:3128\nmonitors: []\n')).toEqual([]);
  });

  test('an unsigned config keeps its inline secrets and needs no serial, as before', () => {
    const config = parseConfig('modules:\n  web:\n    prober: http\n    http:\n      basic_auth:\n        username: u\n        password: hunter2\nmonitors: []\n', 'local.yml', builtInProbers);
    expect(config.serial).toBeUndefined();
  });
});
