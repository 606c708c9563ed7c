/**
 * The smtp prober's pure rules: targets, the IMAP URL of the delivery check, the module's
 * validation, the test message. No server: the probes themselves are in smtp.test.ts.
 */
import { builtInProbers } from '../../src/cli/probers';
import { parseConfig } from '../../src/config/load';
import { ConfigError } from '../../src/config/problems';
import { parseImapUrl } from './imap-url';
import { smtpProber } from './index';
import { dotStuff } from './message';

/** The problems of a module whose smtp section is `section` (YAML), without their file positions. */
function problems(section: string): string[] {
  const yaml = `modules:\n  mail:\n    prober: smtp\n    smtp:\n${section.replace(/^/gm, '      ')}\n`;
  try {
    // The smtp rules only: whether the secret files exist is tests/config's concern.
    parseConfig(yaml, 'smtp.yml', builtInProbers, { checkSecretSources: false });
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((problem) => problem.replace(/^smtp\.yml:\d+:\d+: /, ''));
    throw error;
  }
}

describe('targets', () => {
  test.each([
    ['mail.example.test:25', undefined],
    ['smtp://mail.example.test', undefined],
    ['smtps://mail.example.test:465', undefined],
    ['[::1]:25', undefined],
    ['smtp://user:pw@mail.example.test:25', /credentials do not belong in a target/],
    ['http://mail.example.test', /scheme "http" is not supported/],
    ['smtp://mail.example.test:25/path', /only a host and a port/],
    ['smtp://mail.example.test:25?x=1', /only a host and a port/],
    ['mail.example.test:0', /has port 0/],
  ])('%s', (target, problem) => {
    const parsed = smtpProber.parseTarget(target);
    const message = 'problem' in parsed ? parsed.problem : undefined;
    if (problem) expect(message).toMatch(problem);
    else expect(message).toBeUndefined();
  });

  test('each scheme has its default port; smtps:// is implicit TLS', () => {
    expect(smtpProber.parseTarget('mail.example.test')).toEqual({ target: { host: 'mail.example.test', port: 25, implicitTls: false } });
    expect(smtpProber.parseTarget('smtps://[2001:db8::1]')).toEqual({ target: { host: '2001:db8::1', port: 465, implicitTls: true } });
    expect(smtpProber.parseTarget('smtp://mail.example.test:587')).toEqual({ target: { host: 'mail.example.test', port: 587, implicitTls: false } });
  });
});

describe('the IMAP URL of the delivery check', () => {
  test('imap:// is port 143, imaps:// port 993 and implicit TLS', () => {
    expect(parseImapUrl('imap://mail.example.test')).toEqual({ target: { host: 'mail.example.test', port: 143, implicitTls: false } });
    expect(parseImapUrl('imaps://[::1]')).toEqual({ target: { host: '::1', port: 993, implicitTls: true } });
    expect(parseImapUrl('imaps://mail.example.test:10993/')).toEqual({ target: { host: 'mail.example.test', port: 10993, implicitTls: true } });
  });

  test.each([
    ['imap://user:pw@mail.example.test', 'credentials do not belong in the URL: use password_file or password_env'],
    ['imaps://mail.example.test/INBOX', 'URL "imaps://mail.example.test/INBOX" has a path or parameters; the mailbox is set with mailbox:'],
    ['imaps://mail.example.test?x=1', 'URL "imaps://mail.example.test?x=1" has a path or parameters; the mailbox is set with mailbox:'],
    ['imaps://mail.example.test:99999', 'URL "imaps://mail.example.test:99999" is not a URL'],
    ['imaps://', 'URL "imaps://" has no host'],
    ['imaps://mail.example.test:0', 'URL "imaps://mail.example.test:0" has port 0, which cannot be connected to'],
  ])('%s is refused', (url, problem) => {
    expect(parseImapUrl(url)).toEqual({ problem });
  });
});

describe('configuration', () => {
  test('auth needs one password source; a clash is reported at auth', () => {
    expect(problems('auth: {username: u}')).toEqual(['modules.mail.smtp.auth: needs password_file or password_env']);
    expect(problems('auth: {username: u, password_file: /pw, password_env: PW}')).toEqual(['modules.mail.smtp.auth: password_file and password_env are mutually exclusive']);
    expect(problems('auth: {username: u, password_env: PW}')).toEqual([]);
  });

  test('delivery needs mail, a password, an IMAP URL it can use and a poll_interval longer than 0s', () => {
    expect(problems('delivery: {imap: "imaps://u:p@mail.example.test", username: u, poll_interval: 0s}')).toEqual([
      'modules.mail.smtp.delivery: delivery needs mail: there is no message to look for without it',
      'modules.mail.smtp.delivery: needs password_file or password_env',
      'modules.mail.smtp.delivery.imap: credentials do not belong in the URL: use password_file or password_env',
      'modules.mail.smtp.delivery.poll_interval: must be longer than 0s',
    ]);
    expect(problems('mail: {to: [a@example.test]}\ndelivery: {imap: "imap://mail.example.test", username: u, password_file: /pw, password_env: PW}')).toEqual([
      'modules.mail.smtp.delivery: password_file and password_env are mutually exclusive',
    ]);
    expect(problems('mail: {to: [a@example.test]}\ndelivery: {imap: "imaps://mail.example.test:993", username: u, password_env: PW}')).toEqual([]);
  });

  test('require_starttls needs starttls', () => {
    expect(problems('starttls: false\nrequire_starttls: true')).toEqual(['modules.mail.smtp.require_starttls: require_starttls needs starttls: true']);
  });
});

describe('the test message', () => {
  test('a line starting with a dot gets one more', () => {
    expect(dotStuff('.x')).toBe('..x');
    expect(dotStuff('x.')).toBe('x.');
  });
});
