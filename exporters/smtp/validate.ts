/** The smtp rules a JSON Schema cannot say: one secret source each, consistent TLS wishes, delivery only with a message. */
import type { ConfigPath, ConfigProblem } from '../../src/config/problems';
import { parseDurationSeconds } from '../../src/config/duration';
import { tlsConfigProblems } from '../../src/net/tls-config';
import type { SmtpSettings } from './schema';

export function validateSmtpSettings(settings: SmtpSettings, path: ConfigPath): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (settings.require_starttls && !settings.starttls) {
    problems.push({ path: [...path, 'require_starttls'], message: 'require_starttls needs starttls: true' });
  }
  problems.push(...tlsConfigProblems(settings.tls_config, [...path, 'tls_config']));
  if (settings.auth) problems.push(...secretProblems(settings.auth, [...path, 'auth']));
  if (settings.delivery) {
    const delivery = settings.delivery;
    const where = [...path, 'delivery'];
    if (!settings.mail) problems.push({ path: where, message: 'delivery needs mail: there is no message to look for without it' });
    problems.push(...secretProblems(delivery, where));
    const url = imapUrlProblem(delivery.imap);
    if (url) problems.push({ path: [...where, 'imap'], message: url });
    if (!(parseDurationSeconds(delivery.poll_interval)! > 0)) problems.push({ path: [...where, 'poll_interval'], message: 'must be longer than 0s' });
    problems.push(...tlsConfigProblems(delivery.tls_config, [...where, 'tls_config']));
  }
  return problems;
}

function secretProblems(section: { password_file?: string; password_env?: string }, path: ConfigPath): ConfigProblem[] {
  if (section.password_file !== undefined && section.password_env !== undefined) return [{ path, message: 'password_file and password_env are mutually exclusive' }];
  if (section.password_file === undefined && section.password_env === undefined) return [{ path, message: 'needs password_file or password_env' }];
  return [];
}

/** The IMAP URL's problem, or undefined: a host and maybe a port, no credentials, no path. */
export function imapUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `${JSON.stringify(text)} is not a URL`;
  }
  if (url.username || url.password) return 'credentials do not belong in the URL: use password_file or password_env';
  if (url.hostname === '') return `${JSON.stringify(text)} has no host`;
  if ((url.pathname !== '' && url.pathname !== '/') || url.search || url.hash) return `${JSON.stringify(text)} has a path or parameters; the mailbox is set with mailbox:`;
  return undefined;
}
