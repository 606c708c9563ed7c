/** The smtp rules a JSON Schema cannot say: one secret source each, consistent TLS wishes, delivery only with a message. */
import type { ConfigPath, ConfigProblem } from '../../src/config/problems';
import { positiveDuration } from '../../src/config/rules';
import { secretSourceProblems } from '../../src/config/secrets';
import { tlsConfigProblems } from '../../src/net/tls-config';
import { parseImapUrl } from './imap-url';
import type { SmtpSettings } from './schema';

export function validateSmtpSettings(settings: SmtpSettings, path: ConfigPath): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (settings.require_starttls && !settings.starttls) {
    problems.push({ path: [...path, 'require_starttls'], message: 'require_starttls needs starttls: true' });
  }
  problems.push(...tlsConfigProblems(settings.tls_config, [...path, 'tls_config']));
  if (settings.auth) {
    // auth: and delivery: each have a password of their own: its problems are reported at the section.
    const where = [...path, 'auth'];
    problems.push(...secretSourceProblems(settings.auth, 'password', where, { required: true, clashAt: where }));
  }
  if (settings.delivery) {
    const delivery = settings.delivery;
    const where = [...path, 'delivery'];
    if (!settings.mail) problems.push({ path: where, message: 'delivery needs mail: there is no message to look for without it' });
    problems.push(...secretSourceProblems(delivery, 'password', where, { required: true, clashAt: where }));
    const imap = parseImapUrl(delivery.imap);
    if ('problem' in imap) problems.push({ path: [...where, 'imap'], message: imap.problem });
    problems.push(...positiveDuration(delivery.poll_interval, [...where, 'poll_interval']));
    problems.push(...tlsConfigProblems(delivery.tls_config, [...where, 'tls_config']));
  }
  return problems;
}
