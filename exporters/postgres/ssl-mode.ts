/** libpq's `sslmode`, as Node TLS options over the shared `tls_config`. */
import type { ConnectionOptions } from 'node:tls';
import { tlsOptions } from '../../src/net/tls-config';
import type { PostgresSettings } from './schema';

/**
 * The handshake's options, or undefined for sslmode disable. As in libpq, `require` with a CA
 * file verifies the chain (as verify-ca does): a CA given is a CA meant to be used.
 */
export async function sslModeOptions(settings: PostgresSettings, serverName: string): Promise<ConnectionOptions | undefined> {
  const { sslmode, tls_config: tlsConfig } = settings;
  if (sslmode === 'disable') return undefined;
  const options = await tlsOptions(tlsConfig, serverName);
  const verifyChain = sslmode !== 'require' || (tlsConfig?.ca_file !== undefined && !tlsConfig.insecure_skip_verify);
  if (!verifyChain) return { ...options, rejectUnauthorized: false };
  if (sslmode === 'verify-full') return options;
  // The chain must lead to the CA; the name in the certificate is not checked.
  return { ...options, rejectUnauthorized: true, checkServerIdentity: () => undefined };
}
