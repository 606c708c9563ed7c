/**
 * The sftp prober's pure rules: targets, the module's validation, globs. No server: the probes
 * themselves are in sftp.test.ts, against a real sshd.
 */
import { builtInProbers } from '../../src/cli/probers';
import { parseConfig } from '../../src/config/load';
import { ConfigError } from '../../src/config/problems';
import { globMatches, globProblem } from './glob';
import { parseSftpTarget } from './target';

function problems(sftpSection: string, monitorTarget = '127.0.0.1:22'): string[] {
  const yaml = `modules:\n  backup:\n    prober: sftp\n    sftp:\n${sftpSection.replace(/^/gm, '      ')}\nmonitors:\n  - name: backup\n    module: backup\n    target: "${monitorTarget}"\n`;
  try {
    // The sftp rules only: whether the secret files exist is tests/config's concern.
    parseConfig(yaml, 'sftp.yml', builtInProbers, { checkSecretSources: false });
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

describe('targets', () => {
  test('port 22 is the default; an IPv6 literal loses its brackets', () => {
    expect(parseSftpTarget('sftp://backup.example')).toEqual({ target: { host: 'backup.example', port: 22 } });
    expect(parseSftpTarget('[2001:db8::1]:2222')).toEqual({ target: { host: '2001:db8::1', port: 2222 } });
  });

  test('port 0 is refused: nothing can be connected to there', () => {
    expect(parseSftpTarget('backup.example:0')).toEqual({ problem: 'target "backup.example:0" has port 0, which cannot be connected to' });
    expect(problems('username: backup\nprivate_key_file: /k\ninsecure_skip_host_key_check: true', 'sftp://backup.example:0')).toEqual([
      'sftp.yml:11:13: monitors.0.target: target "sftp://backup.example:0" has port 0, which cannot be connected to',
    ]);
  });
});

describe('configuration', () => {
  test('a module needs credentials and a host key policy, and each secret one source', () => {
    expect(problems('username: backup')).toEqual([
      'sftp.yml:5:7: modules.backup.sftp: no credentials: set password_file, password_env or private_key_file',
      "sftp.yml:5:7: modules.backup.sftp: no host key pinned: set host_key_fingerprints (ssh-keygen -lf on the server's host key), or insecure_skip_host_key_check: true",
    ]);
    expect(
      problems(`username: backup\npassword_file: /run/secrets/pw\npassword_env: PW\npassphrase_env: PP\nhost_key_fingerprints: ["${'SHA256:' + 'A'.repeat(43)}"]\ninsecure_skip_host_key_check: true`),
    ).toEqual([
      'sftp.yml:7:21: modules.backup.sftp.password_env: password_file and password_env are mutually exclusive',
      'sftp.yml:8:23: modules.backup.sftp.passphrase_env: a passphrase needs private_key_file',
      'sftp.yml:10:37: modules.backup.sftp.insecure_skip_host_key_check: host_key_fingerprints and insecure_skip_host_key_check are mutually exclusive',
    ]);
  });

  test('fingerprints, globs and targets are checked', () => {
    expect(problems('username: backup\nprivate_key_file: /k\nhost_key_fingerprints: ["MD5:aa:bb"]\nfreshness:\n  directory: /b\n  pattern: "db-[0-9.sql"')).toEqual([
      'sftp.yml:7:31: modules.backup.sftp.host_key_fingerprints.0: must be a fingerprint as `ssh-keygen -lf` prints it: SHA256: and 43 base64 characters',
    ]);
    expect(problems('username: backup\nprivate_key_file: /k\ninsecure_skip_host_key_check: true\nfreshness:\n  directory: /b\n  pattern: "db-[0-9.sql"')).toEqual([
      'sftp.yml:10:18: modules.backup.sftp.freshness.pattern: invalid glob "db-[0-9.sql": [ without its closing ]',
    ]);
    const valid = 'username: backup\nprivate_key_file: /k\ninsecure_skip_host_key_check: true';
    expect(problems(valid, 'sftp://backup:hunter2@files.example')).toEqual([
      'sftp.yml:11:13: monitors.0.target: credentials do not belong in a target, which becomes a label: set username and password_file or private_key_file in the module',
    ]);
    expect(problems(valid, 'https://files.example')).toEqual(['sftp.yml:11:13: monitors.0.target: target scheme "https" is not supported by the sftp prober (use host:port or sftp://host:port)']);
    expect(problems(valid, 'sftp://files.example/backups')).toEqual([
      'sftp.yml:11:13: monitors.0.target: an sftp target is only host and port: directories to list and check belong in the module (directory, round_trip, freshness)',
    ]);
  });
});

describe('globs', () => {
  test('globs follow the shell', () => {
    expect(globMatches('*.sql.gz', 'db-1.sql.gz')).toBe(true);
    expect(globMatches('*.sql.gz', 'db-1.sql.gz.part')).toBe(false);
    expect(globMatches('*', '.hidden')).toBe(false);
    expect(globMatches('.*', '.hidden')).toBe(true);
    expect(globMatches('db-202?-[0-9][0-9].tar', 'db-2024-07.tar')).toBe(true);
    expect(globMatches('db-[!0-9]*', 'db-x')).toBe(true);
    expect(globMatches('db-[!0-9]*', 'db-1')).toBe(false);
    expect(globMatches('a+(b)', 'a+(b)')).toBe(true);
    expect(globMatches('\\*', '*')).toBe(true);
    expect(globMatches('[]]', ']')).toBe(true);
    expect(globProblem('backups/*.gz')).toBe('glob "backups/*.gz" matches file names only: put the path in directory');
    expect(globProblem('[z-a]')).toBe('invalid glob "[z-a]": Range out of order in character class');
    expect(globProblem('db\\')).toBe('invalid glob "db\\\\": ends with a lone \\');
  });
});
