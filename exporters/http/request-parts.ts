/**
 * What a probe sends, read fresh at every probe so that rotated secrets and certificates are
 * picked up without a reload. File contents are never logged.
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type tls from 'node:tls';
import { ProbeFailure } from '../../src/probe/failure';
import { USER_AGENT } from '../../src/version';
import type { HttpSettings, TlsSettings } from './schema';

const TLS_VERSION_NAMES = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' } as const;

export interface RequestParts {
  headers: Record<string, string>;
  body?: string | Buffer;
  /** Credentials go only to the target's host (or a subdomain), never to another host a redirect points at. */
  authorization?: string;
}

export async function readRequestParts(settings: HttpSettings): Promise<RequestParts> {
  const headers: Record<string, string> = { 'user-agent': USER_AGENT };
  for (const [name, value] of Object.entries(settings.headers)) headers[name.toLowerCase()] = value;
  // blackbox_exporter 0.23 leaves Accept-Encoding to the module's headers, so `compression` alone
  // fails against any server that negotiates; we ask for it, unless the module says otherwise.
  if (settings.compression !== '' && headers['accept-encoding'] === undefined) headers['accept-encoding'] = settings.compression;
  let authorization: string | undefined;
  if (settings.basic_auth) {
    const { username, password, password_file } = settings.basic_auth;
    const secret = password_file ? await readSecret(password_file, 'basic_auth.password_file') : (password ?? '');
    authorization = `Basic ${Buffer.from(`${username}:${secret}`).toString('base64')}`;
  } else if (settings.bearer_token_file) {
    authorization = `Bearer ${await readSecret(settings.bearer_token_file, 'bearer_token_file')}`;
  }
  const body = settings.body_file ? await readConfigFile(settings.body_file, 'body_file') : settings.body;
  return { headers, body, authorization };
}

export async function tlsOptions(settings: TlsSettings | undefined, serverName: string, enableHttp2: boolean): Promise<tls.ConnectionOptions> {
  const options: tls.ConnectionOptions = {
    // Node refuses an IP address as SNI, but still checks the certificate against it through `host`.
    servername: isIP(serverName) ? undefined : serverName,
    host: serverName,
    rejectUnauthorized: !settings?.insecure_skip_verify,
    ALPNProtocols: enableHttp2 ? ['h2', 'http/1.1'] : ['http/1.1'],
    minVersion: TLS_VERSION_NAMES[settings?.min_version ?? 'TLS12'],
    maxVersion: settings?.max_version ? TLS_VERSION_NAMES[settings.max_version] : undefined,
  };
  if (settings?.ca_file) options.ca = await readConfigFile(settings.ca_file, 'tls_config.ca_file');
  if (settings?.cert_file) options.cert = await readConfigFile(settings.cert_file, 'tls_config.cert_file');
  if (settings?.key_file) options.key = await readConfigFile(settings.key_file, 'tls_config.key_file');
  return options;
}

/** A secret file's content without the trailing newline editors add; its content never reaches an error message. */
async function readSecret(file: string, key: string): Promise<string> {
  return (await readConfigFile(file, key)).toString('utf8').trim();
}

async function readConfigFile(file: string, key: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new ProbeFailure('config', `cannot read ${key} ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}
