/**
 * The `smtp:` section of a module. Without `mail` the probe ends after EHLO (and AUTH) with QUIT;
 * with it a test message is sent, and with `delivery` it is also looked for in a mailbox over IMAP.
 * Secrets are only ever named (`password_file`, `password_env`), never written here.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Duration, IpProtocolKeys, StrictObject, StringEnum } from '../../src/config/schema-helpers';
import { TlsConfigSchema } from '../../src/net/tls-config';
import { SecretSource } from '../../src/config/secrets';

/** One line of printable ASCII: what goes into a command or a header must not break the line. */
const HEADER_TEXT = '^[\\x20-\\x7E]*$';
/** A mailbox as MAIL FROM / RCPT TO carry it, without the angle brackets; no spaces or line breaks. */
const ADDRESS = '^[\\x21-\\x7E]+$';

export const AUTH_MECHANISMS = ['PLAIN', 'LOGIN'] as const;

const AuthSchema = StrictObject({
  username: Type.String({ minLength: 1, pattern: '^[^\\r\\n\\x00]+$' }),
  ...SecretSource('password', 'AUTH password'),
  mechanism: Type.Optional(StringEnum(AUTH_MECHANISMS, { description: 'default: PLAIN when the server offers it, else LOGIN' })),
  allow_unencrypted: Type.Boolean({ default: false, description: 'send credentials over a connection without TLS' }),
});

const MailSchema = StrictObject({
  from: Type.String({ pattern: '^[\\x21-\\x7E]*$', patternMessage: 'must be an address without spaces or angle brackets; empty is the null sender', default: '' }),
  to: Type.Array(Type.String({ pattern: ADDRESS, patternMessage: 'must be an address without spaces or angle brackets' }), { minItems: 1, maxItems: 10 }),
  subject: Type.String({ pattern: HEADER_TEXT, patternMessage: 'must be one line of printable ASCII', default: 'Private Checkpoint test message' }),
  body: Type.String({
    pattern: '^[\\x20-\\x7E\\t\\r\\n]*$',
    patternMessage: 'must be printable ASCII (the probe sends 7-bit mail so that every server accepts it)',
    default: 'This message was sent by Private Checkpoint to test mail delivery; it can be deleted.\n',
  }),
});

const DeliverySchema = StrictObject({
  imap: Type.String({ pattern: '^imaps?://', patternMessage: 'must be an imap:// (STARTTLS) or imaps:// (implicit TLS) URL' }),
  username: Type.String({ minLength: 1 }),
  ...SecretSource('password', 'IMAP password'),
  mailbox: Type.String({ minLength: 1, default: 'INBOX' }),
  poll_interval: Duration({ default: '1s' }),
  max_response_bytes: Type.Integer({ minimum: 1024, default: 1024 * 1024, description: 'the largest IMAP response line or literal read; a server sending more fails the probe' }),
  tls_config: Type.Optional(TlsConfigSchema),
});

export const SmtpSettingsSchema = StrictObject({
  ehlo: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9.\\[\\]:_-]+$', patternMessage: 'must be a domain name or an address literal', description: "default: this machine's hostname" })),
  starttls: Type.Boolean({ default: true, description: 'upgrade with STARTTLS when the server offers it' }),
  require_starttls: Type.Boolean({ default: false, description: 'fail when the server does not offer STARTTLS' }),
  tls_config: Type.Optional(TlsConfigSchema),
  auth: Type.Optional(AuthSchema),
  mail: Type.Optional(MailSchema),
  delivery: Type.Optional(DeliverySchema),
  ...IpProtocolKeys,
});

export type SmtpSettings = Static<typeof SmtpSettingsSchema>;
export type AuthSettings = Static<typeof AuthSchema>;
export type MailSettings = Static<typeof MailSchema>;
export type DeliverySettings = Static<typeof DeliverySchema>;
