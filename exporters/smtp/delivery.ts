/**
 * The delivery check: after the server accepted the test message, look for it in the mailbox over
 * IMAP until it is there or the deadline passes, then delete it. imapflow cannot be cancelled, so
 * the deadline closes its connection, and every wait on it loses the race against the deadline;
 * except once the message is found: then it is deleted whatever happens to the probe, within a
 * bound of its own, so that a deadline striking mid-delete leaves no test mail in the mailbox.
 * The message is found by a server-side SEARCH on its probe id header and never fetched, so a
 * mailbox of large messages costs nothing; what the server sends back is held to
 * `max_response_bytes` (imapflow would read a gigabyte).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { ImapFlow } from 'imapflow';
import { validatedSeconds } from '../../src/config/duration';
import { ProbeFailure, type FailureReason } from '../../src/probe/failure';
import { abortable } from '../../src/probe/abortable';
import type { ProbeLog } from '../../src/probe/probe-log';
import { resolveTarget } from '../../src/net/resolve';
import { tlsOptions } from '../../src/net/tls-config';
import { PROBE_ID_HEADER } from './message';
import { parseImapUrl } from './imap-url';
import type { DeliverySettings, SmtpSettings } from './schema';

/** Messages of earlier probes that arrived after their probe gave up are deleted once this old (IMAP dates have no time of day). */
const STALE_AFTER_DAYS = 2;
/** How long the delete (and the logout after it) of a found message may take, whatever the probe's deadline. */
const REMOVAL_TIMEOUT_MS = 10_000;

export interface DeliveryCheck {
  settings: DeliverySettings;
  password: string;
  probeId: string;
  /** performance.now() when the server accepted the message (its reply to the final dot). */
  acceptedAt: number;
  addressFamily: Pick<SmtpSettings, 'preferred_ip_protocol' | 'ip_protocol_fallback'>;
  signal: AbortSignal;
  log: ProbeLog;
}

/** Seconds from acceptance to the message being seen in the mailbox. */
export async function awaitDelivery(check: DeliveryCheck): Promise<number> {
  const { settings, signal, log } = check;
  // validate.ts refused, at config load, a URL this parser finds a problem with: this only narrows the type.
  const server = parseImapUrl(settings.imap);
  if ('problem' in server) throw new ProbeFailure('config', `delivery.imap: ${server.problem}`);
  const { host, port, implicitTls: secure } = server.target;
  const resolved = await resolveTarget(host, check.addressFamily.preferred_ip_protocol, check.addressFamily.ip_protocol_fallback, signal);
  // imapflow connects to `host` itself, so the TLS options must not carry one of their own.
  const { host: _serverName, ...tls } = await tlsOptions(settings.tls_config, settings.tls_config?.server_name ?? host);
  log.info('Connecting to IMAP', { url: settings.imap, ip: resolved.address, mailbox: settings.mailbox });
  const client = new ImapFlow({
    host: resolved.address,
    port,
    secure,
    // Credentials never cross the wire unencrypted: imap:// must upgrade with STARTTLS.
    doSTARTTLS: secure ? undefined : true,
    servername: tls.servername,
    tls,
    auth: { user: settings.username, pass: check.password },
    logger: false,
    disableAutoIdle: true,
    maxLineLength: settings.max_response_bytes,
    maxLiteralSize: settings.max_response_bytes,
    maxResponseSize: settings.max_response_bytes,
    clientInfo: { name: 'private-checkpoint' },
  });
  // imapflow reports a broken connection as an event too; the awaited call rejects with it as well,
  // except for an answer over max_response_bytes: that is told only here, the call fails as "no connection".
  let tooLarge: unknown;
  client.on('error', (error: unknown) => {
    if (isTooLarge(error)) tooLarge ??= error;
  });
  const failed = (step: string, otherwise?: FailureReason) => (error: unknown) => {
    throw imapFailure(tooLarge ?? error, step, check.password, signal, otherwise);
  };
  const onAbort = () => client.close();
  signal.addEventListener('abort', onAbort, { once: true });
  let connected = false;
  let handedOver = false;
  try {
    await abortable(client.connect(), signal).catch(failed('IMAP login'));
    connected = true;
    await abortable(client.mailboxOpen(settings.mailbox), signal).catch(failed(`opening mailbox ${JSON.stringify(settings.mailbox)}`, 'protocol'));
    // validate.ts has made sure poll_interval is a duration longer than 0s; 1s is its default.
    const intervalMs = validatedSeconds(settings.poll_interval) * 1000;
    for (let polls = 1; ; polls++) {
      const found = await abortable(client.search({ header: { [PROBE_ID_HEADER]: check.probeId } }, { uid: true }), signal).catch(failed('IMAP SEARCH', 'protocol'));
      if (found && found.length > 0) {
        const seconds = (performance.now() - check.acceptedAt) / 1000;
        log.info('Test message found in the mailbox', { polls, delivery_seconds: seconds, uid: found.join(',') });
        // From here the connection is the removal's: the deadline no longer closes it. The probe
        // still ends at its deadline (reason timeout) if the delete takes longer.
        signal.removeEventListener('abort', onAbort);
        handedOver = true;
        const removal = removeThenLogOut(client, found, failed('deleting the test message', 'protocol'));
        // Its failure reaches the probe through the await below, unless the deadline came first:
        // then nobody awaits it, and it must not be an unhandled rejection.
        removal.catch(() => undefined);
        await abortable(removal, signal);
        return seconds;
      }
      await delay(intervalMs, undefined, { signal });
      // NOOP lets the server announce new messages, whatever its rule for when a SEARCH syncs.
      await abortable(client.noop(), signal);
    }
  } finally {
    if (!handedOver) {
      signal.removeEventListener('abort', onAbort);
      if (connected && !signal.aborted) await abortable(client.logout(), signal).catch(() => undefined);
      client.close();
    }
  }
}

/**
 * Deletes this probe's message, and any of earlier probes that arrived too late to be found and
 * deleted, then logs out and closes the connection: bounded by REMOVAL_TIMEOUT_MS, not by the
 * probe's deadline.
 */
async function removeThenLogOut(client: ImapFlow, own: number[], failed: (error: unknown) => never): Promise<void> {
  const bound = AbortSignal.timeout(REMOVAL_TIMEOUT_MS);
  const onTimeout = () => client.close();
  bound.addEventListener('abort', onTimeout, { once: true });
  const deleteFailed = (error: unknown): never => {
    if (bound.aborted) throw new ProbeFailure('timeout', `deleting the test message took longer than ${REMOVAL_TIMEOUT_MS / 1000}s`);
    return failed(error);
  };
  try {
    const staleBefore = new Date(Date.now() - STALE_AFTER_DAYS * 24 * 3600 * 1000);
    const stale = await abortable(client.search({ header: { [PROBE_ID_HEADER]: true }, before: staleBefore }, { uid: true }), bound).catch(() => []);
    const uids = [...new Set([...own, ...(stale || [])])];
    await abortable(client.messageDelete(uids, { uid: true }), bound).catch(deleteFailed);
    await abortable(client.logout(), bound).catch(() => undefined);
  } finally {
    bound.removeEventListener('abort', onTimeout);
    client.close();
  }
}

const TLS_CODES = /^(ERR_SSL_|ERR_TLS_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|UNABLE_TO_(GET|VERIFY)_|HOSTNAME_MISMATCH$)/;
const CONNECT_CODES = /^(ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|EPIPE|ETIMEDOUT|CONNECT_TIMEOUT|NoConnection)$/;

/** imapflow's codes for a response over its size limits. */
const TOO_LARGE_CODES = new Set(['LineTooLarge', 'LiteralTooLarge', 'ResponseTooLarge']);

function isTooLarge(error: unknown): boolean {
  return TOO_LARGE_CODES.has((error as { code?: string })?.code ?? '');
}

/** imapflow's error as a probe failure; its message never carries the password (it is cut out if a server echoes it). */
function imapFailure(error: unknown, step: string, password: string, signal: AbortSignal, otherwise: FailureReason = 'connect'): unknown {
  if (signal.aborted) return signal.reason;
  if (error instanceof ProbeFailure) return error;
  if (isTooLarge(error)) {
    const { maxSize, message } = error as { maxSize: number; message: string };
    return new ProbeFailure('protocol', `${step} failed: the server's answer is larger than delivery.max_response_bytes (${maxSize} bytes): ${message}`);
  }
  const err = error as { code?: string; message?: string; authenticationFailed?: boolean; responseText?: string };
  const code = err.code ?? '';
  const reason: FailureReason = err.authenticationFailed || code === 'AUTHENTICATIONFAILED' ? 'auth' : TLS_CODES.test(code) ? 'tls' : CONNECT_CODES.test(code) ? 'connect' : otherwise;
  const detail = [code, err.responseText ?? err.message].filter(Boolean).join(': ');
  return new ProbeFailure(reason, `${step} failed: ${password === '' ? detail : detail.split(password).join('<secret>')}`);
}
