/**
 * The smtp prober against real servers on 127.0.0.1: smtp-server (STARTTLS, implicit TLS, AUTH, a
 * refused recipient) delivering into a real Dovecot for the IMAP delivery check, and scripted
 * servers that stall or answer with garbage. Driven the way the checkpoint drives it (probeWith).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ImapFlow } from 'imapflow';
import { makeTestPki, type TestPki } from '../../tests/support/certs';
import { startDovecot, type Dovecot } from '../../tests/support/dovecot';
import { dedent, eventually, probeWith, recordProbeSignals, socketResources, type ProbeOptions, type Probed } from '../../tests/support/probe-harness';
import {
  DROPPED_RECIPIENT,
  REJECTED_RECIPIENT,
  SMTP_PASSWORD,
  SMTP_USER,
  startScriptedServer,
  startSmtpTargets,
  type Script,
  type ScriptedServer,
  type SmtpTargets,
} from '../../tests/support/smtp-targets';
import { startUnacceptingListener } from '../../tests/support/unaccepting-listener';
import { PROBE_ID_HEADER } from './message';

let pki: TestPki;
let dovecot: Dovecot;
let targets: SmtpTargets;
let files: { smtpPassword: string; wrongPassword: string; imapPassword: string; missing: string };
let baselineSockets: number;
let signals: ReturnType<typeof recordProbeSignals>;
/** Scripted servers of the running test, closed after it. */
const scripted: ScriptedServer[] = [];

beforeAll(async () => {
  pki = await makeTestPki();
  dovecot = await startDovecot(pki);
  targets = await startSmtpTargets(pki, dovecot);
  const file = (name: string) => path.join(pki.dir, name);
  files = { smtpPassword: file('smtp-password'), wrongPassword: file('wrong-password'), imapPassword: file('imap-password'), missing: file('no-such-file') };
  await fs.writeFile(files.smtpPassword, `${SMTP_PASSWORD}\n`);
  await fs.writeFile(files.wrongPassword, 'not-the-password');
  await fs.writeFile(files.imapPassword, dovecot.password);
  baselineSockets = socketResources();
  signals = recordProbeSignals();
});

afterAll(async () => {
  signals?.restore();
  await targets?.close();
  await dovecot?.stop();
  await pki?.cleanup();
});

// Nothing may outlive a probe: no listener on its deadline, no socket on either side (SMTP or IMAP).
afterEach(async () => {
  try {
    await expectNothingLeft();
  } finally {
    await Promise.all(scripted.splice(0).map((server) => server.close()));
  }
});

async function expectNothingLeft(): Promise<void> {
  const left = signals.listenersLeft();
  expect(left).toEqual(left.map(() => 0));
  const settled = () => targets.openConnections() === 0 && scripted.every((server) => server.openSockets() === 0) && socketResources() <= baselineSockets;
  await eventually(settled);
  expect({ serverSide: targets.openConnections(), scripted: scripted.map((server) => server.openSockets()), inProcess: socketResources() }).toEqual({
    serverSide: 0,
    scripted: scripted.map(() => 0),
    inProcess: baselineSockets,
  });
}

function probe(target: string, section = '', options: ProbeOptions = {}): Promise<Probed> {
  return probeWith('smtp', target, section, options);
}

async function script(behaviour: Script): Promise<string> {
  const server = await startScriptedServer(behaviour);
  scripted.push(server);
  return server.target;
}

/** The phase the probe was in when it ended: the last one it logged. */
function lastPhase(probed: Probed): string | undefined {
  return [...probed.logText.matchAll(/msg="Phase (\w+)"/g)].pop()?.[1];
}

/** A module section that trusts the test CA, plus `section`. */
function trusted(section = ''): string {
  return [`tls_config: {ca_file: ${pki.caCertPath}}`, ...(section.trim() ? [dedent(section)] : [])].join('\n');
}

describe('connection, banner and TLS', () => {
  test('STARTTLS is used when offered, and the answer describes the server and the TLS session', async () => {
    const probed = await probe(targets.starttls, trusted());
    expect(probed.reason).toBeUndefined();
    expect(probed.get('probe_smtp_starttls')).toBe(1);
    expect(probed.get('probe_smtp_status_code')).toBe(221);
    expect(probed.get('probe_tls_version_info', { version: 'TLS 1.3' })).toBe(1);
    expect(probed.get('probe_ssl_earliest_cert_expiry')).toBe(pki.server.notAfter.getTime() / 1000);
    // The EHLO after STARTTLS counts: AUTH shows up only once the session is encrypted.
    expect(probed.get('probe_smtp_extension_info', { extension: 'AUTH' })).toBe(1);
    expect(probed.get('probe_smtp_extension_info', { extension: 'STARTTLS' })).toBeUndefined();
    expect(probed.get('probe_smtp_max_message_size_bytes')).toBe(10 * 1024 * 1024);
    for (const phase of ['resolve', 'connect', 'banner', 'ehlo', 'starttls', 'quit']) expect(probed.get('probe_smtp_duration_seconds', { phase })).toBeGreaterThan(0);
    for (const phase of ['tls', 'auth', 'mail', 'rcpt', 'data', 'delivery']) expect(probed.get('probe_smtp_duration_seconds', { phase })).toBe(0);
    expect(probed.get('probe_ip_protocol')).toBe(4);
    expect(probed.logText).toMatch(/msg="Sending command" command=STARTTLS/);
    expect(probed.logText).toMatch(/msg="Received reply" code=220/);
  });

  test('starttls: false stays in clear text; the extensions are those offered before TLS', async () => {
    const probed = await probe(targets.starttls, 'starttls: false');
    expect(probed.result.success).toBe(true);
    expect(probed.get('probe_smtp_starttls')).toBe(0);
    expect(probed.get('probe_smtp_extension_info', { extension: 'STARTTLS' })).toBe(1);
    expect(probed.names.has('probe_ssl_earliest_cert_expiry')).toBe(false);
  });

  test('require_starttls fails with reason tls on a server without STARTTLS; without it the probe goes on in clear', async () => {
    const required = await probe(targets.plain, 'require_starttls: true');
    expect(required.reason).toBe('tls');
    expect(required.result.failure?.message).toContain('does not offer STARTTLS');
    const opportunistic = await probe(targets.plain);
    expect(opportunistic.result.success).toBe(true);
    expect(opportunistic.get('probe_smtp_starttls')).toBe(0);
  });

  test('an untrusted or expired certificate fails STARTTLS with reason tls; insecure_skip_verify accepts it', async () => {
    const untrusted = await probe(targets.starttls);
    expect(untrusted.reason).toBe('tls');
    const expired = await probe(targets.expired, trusted());
    expect(expired.reason).toBe('tls');
    expect(expired.result.failure?.message).toMatch(/expired/i);
    const skipped = await probe(targets.expired, 'tls_config: {insecure_skip_verify: true}');
    expect(skipped.result.success).toBe(true);
    expect(skipped.get('probe_ssl_earliest_cert_expiry')).toBe(pki.expired.notAfter.getTime() / 1000);
  });

  test('smtps:// speaks implicit TLS and does not send STARTTLS', async () => {
    const probed = await probe(targets.implicit, trusted());
    expect(probed.reason).toBeUndefined();
    expect(probed.get('probe_smtp_duration_seconds', { phase: 'tls' })).toBeGreaterThan(0);
    expect(probed.get('probe_smtp_duration_seconds', { phase: 'starttls' })).toBe(0);
    expect(probed.get('probe_smtp_starttls')).toBe(0);
    expect(probed.get('probe_tls_version_info', { version: 'TLS 1.3' })).toBe(1);
  });

  test('a refused connection fails with reason connect', async () => {
    const server = await startScriptedServer();
    const target = server.target;
    await server.close();
    const probed = await probe(target);
    expect(probed.reason).toBe('connect');
  });

  test('a 554 banner fails with reason status_code and ends with QUIT', async () => {
    const target = await script({ greeting: '554 no service for you\r\n' });
    const probed = await probe(target);
    expect(probed.reason).toBe('status_code');
    expect(probed.get('probe_smtp_status_code')).toBe(554);
    await eventually(() => scripted[0]?.verbs.includes('QUIT') ?? false);
    expect(scripted[0]?.verbs).toEqual(['QUIT']);
  });
});

describe('answers that are not SMTP', () => {
  test.each([
    ['an HTTP server', { greeting: 'HTTP/1.1 400 Bad Request\r\n\r\n' }, /not an SMTP reply: HTTP\/1.1 400/],
    ['an endless banner line', { greeting: `220 ${'x'.repeat(10_000)}` }, /longer than 4096 bytes/],
    ['an endless multi-line reply', { replies: { EHLO: '250-x\r\n'.repeat(500) } }, /more than 100/],
    ['a multi-line reply whose code changes', { replies: { EHLO: '250-x\r\n251 y\r\n' } }, /changed its code from 250 to 251/],
    ['a close in the middle of the banner', { greeting: '220-first line\r\n', closeAfterGreeting: true }, /closed the connection in the middle of a reply/],
    ['data injected after the STARTTLS reply', { replies: { STARTTLS: '220 go ahead\r\n250 injected\r\n' } }, /sent data before the TLS handshake after STARTTLS/],
  ] as [string, Script, RegExp][])('%s fails with reason protocol', async (_name, behaviour, message) => {
    const target = await script(behaviour);
    const probed = await probe(target, '', { deadlineSeconds: 5 });
    expect(probed.reason).toBe('protocol');
    expect(probed.result.failure?.message).toMatch(message);
    expect(probed.result.durationSeconds).toBeLessThan(4);
  });
});

describe('AUTH', () => {
  test('PLAIN and LOGIN with password_file succeed; the secret is never logged', async () => {
    for (const mechanism of ['PLAIN', 'LOGIN']) {
      const probed = await probe(
        targets.starttls,
        trusted(`
        auth:
          username: ${SMTP_USER}
          password_file: ${files.smtpPassword}
          mechanism: ${mechanism}
      `),
      );
      expect(probed.reason).toBeUndefined();
      expect(probed.get('probe_smtp_duration_seconds', { phase: 'auth' })).toBeGreaterThan(0);
      expect(probed.logText).toContain(`mechanism=${mechanism}`);
      expect(probed.logText).not.toContain(SMTP_PASSWORD);
      expect(probed.logText).not.toContain(Buffer.from(SMTP_PASSWORD).toString('base64'));
    }
  });

  test('password_env is read from the environment', async () => {
    process.env.CHECKPOINT_TEST_SMTP_PASSWORD = SMTP_PASSWORD;
    try {
      const probed = await probe(
        targets.starttls,
        trusted(`
        auth: {username: ${SMTP_USER}, password_env: CHECKPOINT_TEST_SMTP_PASSWORD}
      `),
      );
      expect(probed.reason).toBeUndefined();
    } finally {
      delete process.env.CHECKPOINT_TEST_SMTP_PASSWORD;
    }
  });

  test('a wrong password fails with reason auth and the 535', async () => {
    const probed = await probe(
      targets.starttls,
      trusted(`
      auth: {username: ${SMTP_USER}, password_file: ${files.wrongPassword}}
    `),
    );
    expect(probed.reason).toBe('auth');
    expect(probed.get('probe_smtp_status_code')).toBe(535);
    expect(probed.logText).not.toContain('not-the-password');
  });

  test('credentials are not sent in clear unless allow_unencrypted', async () => {
    const refused = await probe(targets.plain, `auth: {username: ${SMTP_USER}, password_file: ${files.smtpPassword}}`);
    expect(refused.reason).toBe('tls');
    expect(refused.get('probe_smtp_duration_seconds', { phase: 'auth' })).toBeGreaterThan(0);
    const allowed = await probe(targets.plain, `auth: {username: ${SMTP_USER}, password_file: ${files.smtpPassword}, allow_unencrypted: true}`);
    expect(allowed.reason).toBeUndefined();
  });

  test('a missing password_file fails with reason config before connecting', async () => {
    const target = await script({});
    const probed = await probe(target, `auth: {username: ${SMTP_USER}, password_file: ${files.missing}}`);
    expect(probed.reason).toBe('config');
    expect(probed.result.failure?.message).toContain('auth.password_file');
    expect(scripted[0]?.verbs).toEqual([]);
  });
});

describe('sending a test message', () => {
  const mail = (to: string[], extra = '') =>
    trusted(`
    auth: {username: ${SMTP_USER}, password_file: ${files.smtpPassword}}
    mail:
      from: checkpoint@example.test
      to: [${to.join(', ')}]
      ${extra}
  `);

  test('MAIL, RCPT and DATA deliver a message with a unique id, dot-stuffed', async () => {
    const body = 'first line\n.\n..two dots\nlast line';
    const probed = await probe(targets.starttls, mail([DROPPED_RECIPIENT], `body: ${JSON.stringify(body)}`));
    expect(probed.reason).toBeUndefined();
    for (const phase of ['mail', 'rcpt', 'data']) expect(probed.get('probe_smtp_duration_seconds', { phase })).toBeGreaterThan(0);
    const message = targets.accepted.at(-1)!;
    expect(message.to).toEqual([DROPPED_RECIPIENT]);
    const id = /X-Checkpoint-Probe-Id: ([0-9a-f]{32})/.exec(message.raw)?.[1];
    expect(id).toBeDefined();
    expect(message.raw).toContain(`[${id}]`);
    expect(message.raw).toMatch(new RegExp(`Message-ID: <${id}@`));
    // The server undoes the dot-stuffing: what arrives is the body as configured.
    expect(message.raw.split('\r\n\r\n').slice(1).join('\r\n\r\n')).toBe(`${body.replace(/\n/g, '\r\n')}\r\n`);
  });

  test('a refused recipient fails with reason status_code and the 550', async () => {
    const count = targets.accepted.length;
    const probed = await probe(targets.starttls, mail([DROPPED_RECIPIENT, REJECTED_RECIPIENT]));
    expect(probed.reason).toBe('status_code');
    expect(probed.get('probe_smtp_status_code')).toBe(550);
    expect(probed.result.failure?.message).toContain(REJECTED_RECIPIENT);
    expect(targets.accepted.length).toBe(count);
  });
});

describe('delivery check over IMAP', () => {
  const delivery = (to: string, passwordFile: string, extra = '') =>
    trusted(`
    auth: {username: ${SMTP_USER}, password_file: ${files.smtpPassword}}
    mail: {from: checkpoint@example.test, to: [${to}]}
    delivery:
      imap: ${dovecot.url}
      username: ${dovecot.username}
      password_file: ${passwordFile}
      poll_interval: 200ms
      tls_config: {ca_file: ${pki.caCertPath}}
      ${extra}
  `);

  test('the message is found in the mailbox, timed, and deleted', async () => {
    const probed = await probe(targets.starttls, delivery('probe@example.test', files.imapPassword));
    expect(probed.reason).toBeUndefined();
    expect(probed.get('probe_smtp_delivery_duration_seconds')).toBeGreaterThan(0);
    expect(probed.get('probe_smtp_duration_seconds', { phase: 'delivery' })).toBeGreaterThan(0);
    expect(probed.logText).toContain('Test message found in the mailbox');
    expect(probed.logText).not.toContain(dovecot.password);
    expect(await dovecot.messageCount()).toBe(0);
  });

  test('a deadline that strikes as the found message is being deleted still leaves the mailbox empty', async () => {
    // The deadline made to strike at the worst moment, deterministically: the probe's own
    // AbortController (the first one runProbe makes) is aborted as the delete command starts.
    // Dovecot does the delete for real.
    const controllers: AbortController[] = [];
    const Recording = globalThis.AbortController;
    globalThis.AbortController = class CapturingAbortController extends Recording {
      constructor() {
        super();
        controllers.push(this);
      }
    };
    const imap = ImapFlow.prototype as unknown as { messageDelete: (...args: unknown[]) => Promise<boolean> };
    const realDelete = imap.messageDelete;
    imap.messageDelete = function (this: unknown, ...args: unknown[]) {
      controllers[0]?.abort(new Error('probe deadline reached (made to strike as the delete starts)'));
      return realDelete.apply(this, args);
    };
    let probed: Probed;
    try {
      probed = await probe(targets.starttls, delivery('probe@example.test', files.imapPassword));
    } finally {
      imap.messageDelete = realDelete;
      globalThis.AbortController = Recording;
    }
    expect(probed.reason).toBe('timeout');
    expect(probed.logText).toContain('Test message found in the mailbox');
    expect(await eventually(async () => (await dovecot.messageCount()) === 0, 10_000)).toBe(true);
  });

  test('a message that never arrives ends the probe at the deadline with reason timeout', async () => {
    const probed = await probe(targets.starttls, delivery(DROPPED_RECIPIENT, files.imapPassword), { deadlineSeconds: 2 });
    expect(probed.reason).toBe('timeout');
    expect(lastPhase(probed)).toBe('delivery');
    expect(probed.names.has('probe_smtp_delivery_duration_seconds')).toBe(false);
    expect(probed.result.durationSeconds).toBeLessThan(5);
  });

  test('an IMAP answer over max_response_bytes fails with reason protocol, naming the limit', async () => {
    // 400 test messages of earlier probes, days old: the sweep's SEARCH answer lists them all, over 1 KiB.
    const stale = new Date(Date.now() - 5 * 24 * 3600 * 1000);
    for (let i = 0; i < 400; i++) await dovecot.deliver(`${PROBE_ID_HEADER}: stale-${i}\r\nSubject: stale\r\n\r\nold\r\n`, stale);
    try {
      const probed = await probe(targets.starttls, delivery('probe@example.test', files.imapPassword, 'max_response_bytes: 1024'));
      expect(probed.reason).toBe('protocol');
      expect(probed.result.failure?.message).toMatch(/^deleting the test message failed: the server's answer is larger than delivery\.max_response_bytes \(1024 bytes\)/);
    } finally {
      await dovecot.clear();
    }
    // With the default limit the same mailbox is swept clean.
    for (let i = 0; i < 400; i++) await dovecot.deliver(`${PROBE_ID_HEADER}: stale-${i}\r\nSubject: stale\r\n\r\nold\r\n`, stale);
    expect((await probe(targets.starttls, delivery('probe@example.test', files.imapPassword))).reason).toBeUndefined();
    expect(await dovecot.messageCount()).toBe(0);
  });

  /** delivery's own tls_config line (indented under delivery:, unlike the mail server's at the top). */
  const DELIVERY_CA = /\n {2}tls_config: \{ca_file: [^}]*\}/;

  test("without a tls_config of its own, the mailbox is trusted with the mail server's CA", async () => {
    const inherited = delivery('probe@example.test', files.imapPassword).replace(DELIVERY_CA, '');
    expect(inherited).not.toMatch(/delivery:[^]*tls_config/);
    const probed = await probe(targets.starttls, inherited);
    expect([probed.reason, probed.result.failure?.message]).toEqual([undefined, undefined]);
    expect(await dovecot.messageCount()).toBe(0);
  });

  test("a mailbox certificate its tls_config does not trust fails with reason tls, naming the certificate's problem", async () => {
    const probed = await probe(targets.starttls, delivery('probe@example.test', files.imapPassword).replace(DELIVERY_CA, '\n  tls_config: {min_version: TLS12}'));
    expect(probed.reason).toBe('tls');
    expect(probed.result.failure?.message).toMatch(/^IMAP login failed: .*(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT)/);
    // The message did arrive; clean it up for the next test.
    await eventually(async () => (await dovecot.messageCount()) === 1);
    await dovecot.clear();
  });

  test('a wrong IMAP password fails with reason auth', async () => {
    const probed = await probe(targets.starttls, delivery('probe@example.test', files.wrongPassword));
    expect(probed.reason).toBe('auth');
    expect(probed.logText).not.toContain('not-the-password');
    // The message did arrive; clean it up for the next test.
    await eventually(async () => (await dovecot.messageCount()) === 1);
    await dovecot.clear();
  });
});

describe('deadlines', () => {
  const auth = `auth: {username: u, password_file: PW, allow_unencrypted: true}`;
  const mail = 'mail: {from: a@example.test, to: [b@example.test]}';
  test.each([
    ['tls', 'smtps', { stallOn: 'BANNER' }, ''],
    ['banner', 'smtp', { stallOn: 'BANNER' }, ''],
    ['ehlo', 'smtp', { stallOn: 'EHLO' }, ''],
    ['starttls', 'smtp', {}, 'tls_config: {insecure_skip_verify: true}'],
    ['auth', 'smtp', { stallOn: 'AUTH' }, `starttls: false\n${auth}`],
    ['mail', 'smtp', { stallOn: 'MAIL' }, `starttls: false\n${mail}`],
    ['rcpt', 'smtp', { stallOn: 'RCPT' }, `starttls: false\n${mail}`],
    ['data', 'smtp', { stallOn: 'DATA' }, `starttls: false\n${mail}`],
    ['data', 'smtp', { stallOn: 'DOT' }, `starttls: false\n${mail}`],
    ['quit', 'smtp', { stallOn: 'QUIT' }, 'starttls: false'],
  ] as [string, string, Script, string][])('a server that stalls in phase %s (%s, %j) ends the probe on time with reason timeout', async (phase, scheme, behaviour, section) => {
    const target = await script(behaviour);
    const probed = await probe(`${scheme}://${target}`, section.replace('PW', files.smtpPassword), { deadlineSeconds: 1 });
    expect(probed.reason).toBe('timeout');
    expect(lastPhase(probed)).toBe(phase);
    expect(probed.result.failure?.message).toBe(`deadline reached in the ${phase} phase`);
    expect(probed.result.durationSeconds).toBeLessThan(4);
  });

  test('a connect that never completes ends the probe on time in the connect phase', async () => {
    const listener = await startUnacceptingListener();
    try {
      const probed = await probe(`smtp://127.0.0.1:${listener.port}`, '', { deadlineSeconds: 1 });
      expect(probed.reason).toBe('timeout');
      expect(probed.result.failure?.message).toBe('deadline reached in the connect phase');
      expect(probed.result.durationSeconds).toBeLessThan(4);
    } finally {
      listener.close();
    }
  });
});
