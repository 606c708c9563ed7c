/**
 * A checkpoint loads a protocol library only when it probes with it: loading a config that names
 * every prober loads none of them, and a prober's first probe loads its own library and no other.
 * Checked in a fresh process of the BUILT checkpoint (npm test builds first), whose module cache
 * says exactly what was loaded.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const DIST = path.join(__dirname, '..', '..', 'dist', 'src');
const HEAVY = ['playwright-core', 'dockerode', 'ssh2', 'pg', 'imapflow', 'undici'];

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
    const { parseConfig } = require(${JSON.stringify(path.join(DIST, 'config', 'load'))});
    parseConfig(${JSON.stringify(EVERY_PROBER)}, 'every.yml', builtInProbers, { checkSecretSources: false });
    Promise.all(${JSON.stringify(probersToLoad)}.map((name) => builtInProbers.prober(name))).then(() => {
      const packages = Object.keys(require.cache).map((file) => /node_modules\\/((@[^/]+\\/)?[^/]+)/.exec(file)?.[1]).filter(Boolean);
      process.stdout.write(JSON.stringify([...new Set(packages)]));
    });
  `;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 })) as string[];
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
  // imapflow loads with the first delivery check, not with the prober.
  ['smtp', []],
  ['http', ['undici']],
])('the first %s probe loads %p and no other protocol library', (prober, expected) => {
  expect(loadedPackages([prober]).filter((name) => HEAVY.includes(name)).sort()).toEqual(expected);
});
