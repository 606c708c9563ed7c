/**
 * SMTP AUTH with PLAIN or LOGIN (RFC 4954, 4616): the mechanisms every server has. The secret
 * goes only into the socket: the log shows the command with the credentials replaced.
 */
import { ProbeFailure } from '../../src/probe/failure';
import type { Extensions } from './ehlo';
import type { AuthSettings } from './schema';
import type { SmtpReply, SmtpSession } from './session';
import type { ProbeLog } from '../../src/probe/probe-log';

const HIDDEN = '<credentials>';

export async function authenticate(session: SmtpSession, settings: AuthSettings, password: string, extensions: Extensions, log: ProbeLog): Promise<void> {
  if (!session.encrypted && !settings.allow_unencrypted) {
    throw new ProbeFailure('tls', 'the connection is not encrypted, so the credentials were not sent (set auth.allow_unencrypted to send them anyway)');
  }
  const offered = (extensions.params.get('AUTH') ?? []).map((mechanism) => mechanism.toUpperCase());
  if (!extensions.has('AUTH')) throw new ProbeFailure('auth', 'the server does not offer AUTH');
  const mechanism = settings.mechanism ?? (offered.includes('PLAIN') ? 'PLAIN' : offered.includes('LOGIN') ? 'LOGIN' : undefined);
  if (!mechanism || !offered.includes(mechanism)) {
    throw new ProbeFailure('auth', `the server offers AUTH ${offered.join(' ') || '(no mechanism)'}, not ${settings.mechanism ?? 'PLAIN or LOGIN'}`);
  }
  log.info('Authenticating', { mechanism, username: settings.username });
  const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
  let reply: SmtpReply;
  if (mechanism === 'PLAIN') {
    reply = await session.command(`AUTH PLAIN ${base64(`\0${settings.username}\0${password}`)}`, `AUTH PLAIN ${HIDDEN}`);
  } else {
    reply = await session.command('AUTH LOGIN');
    if (reply.code === 334) reply = await session.command(base64(settings.username), HIDDEN);
    if (reply.code === 334) reply = await session.command(base64(password), HIDDEN);
  }
  if (reply.code === 235) return;
  // A permanent refusal is about the credentials or how they are sent: 535 bad credentials,
  // 534 mechanism too weak, 530/538 encryption required. A 4xx is the server's trouble, not ours.
  if (reply.code >= 500) throw new ProbeFailure('auth', `AUTH ${mechanism} was refused with ${reply.code}`);
  throw new ProbeFailure('status_code', `AUTH ${mechanism} was answered with ${reply.code}`);
}
