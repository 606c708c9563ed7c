/**
 * The `postgres:` section of a module. Connection keys follow libpq's names (user, sslmode,
 * application_name, statement_timeout) so a DBA reads them without a glossary; TLS files use
 * the shared `tls_config` block. Unknown keys are refused.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Duration, IpProtocolKeys, StrictObject, StringEnum } from '../../src/config/schema-helpers';
import { TlsConfigSchema } from '../../src/net/tls-config';
import { SecretSource } from '../../src/config/secrets';

/** libpq's modes minus `allow` and `prefer`, which fall back to plain text when TLS fails: a probe must not. */
export const SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

export const PostgresSettingsSchema = StrictObject({
  user: Type.String({ minLength: 1, description: 'the role to log in as; a plain LOGIN role is enough (see README)' }),
  ...SecretSource('password', 'password'),
  database: Type.String({ minLength: 1, default: 'postgres', description: 'used when the target names no database' }),
  sslmode: StringEnum(SSL_MODES, { default: 'verify-full' }),
  tls_config: Type.Optional(TlsConfigSchema),
  query: Type.String({ minLength: 1, default: 'SELECT 1' }),
  max_rows: Type.Integer({ minimum: 1, default: 1000, description: 'a query returning more rows fails the probe; it is stopped on the server' }),
  max_message_bytes: Type.Integer({ minimum: 1024, default: 1024 * 1024, description: 'the longest message read from the server (a row, a notice); a longer one fails the probe' }),
  expect_value: Type.Optional(Type.String({ description: 'the first column of the first row, as text, must equal this' })),
  expect_regexp: Type.Optional(Type.String({ description: 'the first column of the first row, as text, must match this (RE2 syntax, as in the http prober)' })),
  server_stats: Type.Boolean({ default: true, description: 'after the query, read version, recovery state, replication lag and connections' }),
  statement_timeout: Type.Optional(
    Duration({ description: 'sent at startup as a server-side backstop should the cancel request be lost; default: the time left to the deadline plus 1s; 0s sends none' }),
  ),
  application_name: Type.String({ default: 'private-checkpoint', description: 'how the probe shows in pg_stat_activity' }),
  ...IpProtocolKeys,
});

export type PostgresSettings = Static<typeof PostgresSettingsSchema>;
