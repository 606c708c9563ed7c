/**
 * The smtp prober: connect (plain or implicit TLS), banner, EHLO, STARTTLS, AUTH, then optionally
 * a test message and its delivery check over IMAP, then QUIT. Each step is a phase of
 * probe_smtp_duration_seconds and a line in the probe log; each way to fail has its reason.
 */
import os from 'node:os';
import type { TLSSocket } from 'node:tls';
import type { ProbeContext } from '../../src/probe/prober';
import { ProbeFailure } from '../../src/probe/failure';
import { readSecret } from '../../src/probe/config-files';
import { openConnection } from '../../src/net/connect';
import { resolveTarget } from '../../src/net/resolve';
import { tlsOptions } from '../../src/net/tls-config';
import { readTlsFacts, registerTlsMetrics } from '../../src/net/tls-facts';
import { authenticate } from './auth';
import { parseExtensions, type Extensions } from './ehlo';
import { messageForData, newProbeId } from './message';
import { createSmtpMetrics, SMTP_PHASES, type SmtpMetrics } from './metrics';
import type { MailSettings, SmtpSettings } from './schema';
import { excerpt, SmtpSession, type SmtpReply } from './session';
import type { SmtpTarget } from './target';

export async function probeSmtp(probe: ProbeContext<SmtpSettings, SmtpTarget>): Promise<boolean> {
  const { settings, log, signal, target } = probe;
  const metrics = createSmtpMetrics(probe.registry, probe.phases('smtp', SMTP_PHASES));
  let session: SmtpSession | undefined;
  let politely = false;
  try {
    // Secrets and certificates first: a missing file fails the probe before anything is sent.
    const authPassword = settings.auth ? await readSecret(settings.auth, 'password', 'auth.password') : undefined;
    const deliveryPassword = settings.delivery ? await readSecret(settings.delivery, 'password', 'delivery.password') : undefined;
    const tls = await tlsOptions(settings.tls_config, settings.tls_config?.server_name ?? probe.hostname ?? target.host);
    const ehloName = settings.ehlo ?? (os.hostname() || 'localhost');

    const resolved = await metrics.timer.time('resolve', () => resolveTarget(target.host, settings.preferred_ip_protocol, settings.ip_protocol_fallback, signal), {
      host: target.host,
      ip_protocol: settings.preferred_ip_protocol,
    });
    log.info('Resolved target address', { host: target.host, ip: resolved.address });
    metrics.address.report(resolved);

    const connection = await metrics.timer.time('connect', () => openConnection({ address: resolved.address, port: target.port, signal }), { ip: resolved.address, port: target.port });
    const current = new SmtpSession(connection.socket, signal, log, (code) => metrics.statusCode.set(code));
    session = current;
    if (target.implicitTls) {
      const secure = await metrics.timer.time('tls', () => current.upgrade(tls, 'TLS handshake'));
      reportTls(probe, secure);
    }

    const banner = await metrics.timer.time('banner', () => current.readReply());
    // From here on the server speaks SMTP, so a failure can end the conversation with QUIT.
    politely = true;
    if (banner.code !== 220) throw refused('the banner', banner);

    let extensions = await metrics.timer.time('ehlo', () => greet(current, ehloName), { name: ehloName });
    if (!target.implicitTls) {
      if (extensions.has('STARTTLS') && settings.starttls) {
        await metrics.timer.time('starttls', async () => {
          const reply = await current.command('STARTTLS');
          if (reply.code !== 220) throw new ProbeFailure('tls', `STARTTLS was answered with ${describe(reply)}`);
          politely = false;
          reportTls(probe, await current.upgrade(tls, 'TLS handshake after STARTTLS'));
          politely = true;
        });
        metrics.starttls.set(1);
        // RFC 3207: what the server said before TLS no longer counts; ask again.
        extensions = await metrics.timer.time('ehlo', () => greet(current, ehloName), { name: ehloName });
      } else if (settings.require_starttls) {
        throw new ProbeFailure('tls', 'the server does not offer STARTTLS and require_starttls is set');
      } else {
        log.info('Continuing without TLS', { why: extensions.has('STARTTLS') ? 'starttls is false' : 'the server does not offer STARTTLS' });
      }
    }
    metrics.extensions([...extensions.params.keys()]);
    if (extensions.maxSize !== undefined) metrics.maxMessageSize(extensions.maxSize);

    if (settings.auth) {
      const auth = settings.auth;
      await metrics.timer.time('auth', () => authenticate(current, auth, authPassword ?? '', extensions, log));
    }
    const sent = settings.mail ? await sendMessage(current, settings.mail, ehloName, metrics, probe) : undefined;
    const quit = await metrics.timer.time('quit', () => current.quit());
    politely = false;
    if (quit.code !== 221) throw refused('QUIT', quit);
    current.close();
    session = undefined;

    if (settings.delivery && sent) {
      // The mail server's tls_config serves the mailbox too unless delivery has its own: one
      // private CA is written once. Not its server_name, which names the SMTP server.
      const delivery = { ...settings.delivery, tls_config: settings.delivery.tls_config ?? (settings.tls_config && { ...settings.tls_config, server_name: undefined }) };
      // The IMAP library loads with the first module that checks delivery, not with every smtp module.
      const { awaitDelivery } = await import('./delivery');
      const seconds = await metrics.timer.time('delivery', () =>
        awaitDelivery({ settings: delivery, password: deliveryPassword ?? '', probeId: sent.id, acceptedAt: sent.acceptedAt, addressFamily: settings, signal, log }),
      );
      metrics.deliverySeconds(seconds);
    }
    return true;
  } catch (error) {
    // Only to decide how the session ends; the runtime turns the error into the failure. A garbled
    // conversation cannot be ended politely: nobody knows what the server would make of a QUIT.
    if (signal.aborted || !(error instanceof ProbeFailure) || error.reason === 'protocol') politely = false;
    throw error;
  } finally {
    session?.close(politely);
  }
}

/** EHLO, or HELO for a server that does not know EHLO (then without extensions). */
async function greet(session: SmtpSession, name: string): Promise<Extensions> {
  const reply = await session.command(`EHLO ${name}`);
  if (reply.code === 250) return parseExtensions(reply);
  // 500/502: command not recognised or not implemented, RFC 5321 4.1.4's case for falling back.
  if (reply.code !== 500 && reply.code !== 502) throw refused('EHLO', reply);
  const helo = await session.command(`HELO ${name}`);
  if (helo.code !== 250) throw refused('HELO', helo);
  return parseExtensions(undefined);
}

async function sendMessage(session: SmtpSession, mail: MailSettings, ehloName: string, metrics: SmtpMetrics, probe: ProbeContext<SmtpSettings, SmtpTarget>) {
  const id = newProbeId();
  probe.log.info('Sending test message', { probe_id: id, from: mail.from, to: mail.to.join(',') });
  const from = await metrics.timer.time('mail', () => session.command(`MAIL FROM:<${mail.from}>`));
  if (from.code !== 250) throw refused('MAIL FROM', from);
  await metrics.timer.time('rcpt', async () => {
    for (const address of mail.to) {
      const reply = await session.command(`RCPT TO:<${address}>`);
      if (reply.code !== 250 && reply.code !== 251) throw refused(`RCPT TO:<${address}>`, reply);
    }
  });
  const acceptedAt = await metrics.timer.time('data', async () => {
    const start = await session.command('DATA');
    if (start.code !== 354) throw refused('DATA', start);
    session.write(messageForData(mail, id, ehloName));
    const end = await session.readReply();
    if (end.code !== 250) throw refused('the message', end);
    return performance.now();
  });
  probe.log.info('Test message accepted', { probe_id: id });
  return { id, acceptedAt };
}

function reportTls(probe: ProbeContext<SmtpSettings, SmtpTarget>, socket: TLSSocket): void {
  const facts = readTlsFacts(socket);
  if (facts) registerTlsMetrics(probe.registry, facts);
  probe.log.info('TLS established', { version: facts?.version, cipher: facts?.cipher });
}

function refused(step: string, reply: SmtpReply): ProbeFailure {
  return new ProbeFailure('status_code', `${step} was answered with ${describe(reply)}`);
}

function describe(reply: SmtpReply): string {
  return `${reply.code} ${excerpt(reply.lines[0] ?? '')}`.trim();
}
