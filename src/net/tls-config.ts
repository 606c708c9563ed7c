/**
 * blackbox_exporter's `tls_config` block, shared by every prober that speaks TLS, and its
 * translation into Node's TLS options. Files are read at every probe (see config-files.ts).
 */
import { isIP } from 'node:net';
import type tls from 'node:tls';
import { Type, type Static } from '@sinclair/typebox';
import type { ConfigPath, ConfigProblem } from '../config/problems';
import { StrictObject, StringEnum } from '../config/schema-helpers';
import { readConfigFile } from '../probe/config-files';
import { SecretFile } from '../config/secrets';

export const TLS_VERSIONS = ['TLS10', 'TLS11', 'TLS12', 'TLS13'] as const;
/** Node's names for the versions. */
export const TLS_VERSION_NAMES = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' } as const;

export const TlsConfigSchema = StrictObject({
  ca_file: Type.Optional(Type.String({ minLength: 1 })),
  cert_file: Type.Optional(Type.String({ minLength: 1 })),
  key_file: Type.Optional(SecretFile({ description: 'the client key: a secret, so the module probes only its own targets' })),
  server_name: Type.Optional(Type.String({ minLength: 1 })),
  insecure_skip_verify: Type.Boolean({ default: false }),
  min_version: Type.Optional(StringEnum(TLS_VERSIONS)),
  max_version: Type.Optional(StringEnum(TLS_VERSIONS)),
});

export type TlsSettings = Static<typeof TlsConfigSchema>;

/**
 * Node's options for a handshake with `serverName` (an IP address is checked against the
 * certificate but not sent as SNI, which Node refuses). `alpn` is what the prober offers, if anything.
 */
export async function tlsOptions(settings: TlsSettings | undefined, serverName: string, alpn?: string[]): Promise<tls.ConnectionOptions> {
  const options: tls.ConnectionOptions = {
    servername: isIP(serverName) ? undefined : serverName,
    host: serverName,
    rejectUnauthorized: !settings?.insecure_skip_verify,
    ALPNProtocols: alpn,
    minVersion: TLS_VERSION_NAMES[settings?.min_version ?? 'TLS12'],
    maxVersion: settings?.max_version ? TLS_VERSION_NAMES[settings.max_version] : undefined,
  };
  if (settings?.ca_file) options.ca = await readConfigFile(settings.ca_file, 'tls_config.ca_file');
  if (settings?.cert_file) options.cert = await readConfigFile(settings.cert_file, 'tls_config.cert_file');
  if (settings?.key_file) options.key = await readConfigFile(settings.key_file, 'tls_config.key_file');
  return options;
}

/** What the schema cannot say about a `tls_config` block at `path`. */
export function tlsConfigProblems(settings: TlsSettings | undefined, path: ConfigPath): ConfigProblem[] {
  if (Boolean(settings?.cert_file) !== Boolean(settings?.key_file)) return [{ path, message: 'cert_file and key_file go together' }];
  return [];
}
