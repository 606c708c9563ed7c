/**
 * What a probe sends, read fresh at every probe so that rotated secrets and certificates are
 * picked up without a reload. File contents are never logged.
 */
import { readConfigFile, readSecretFile } from '../../src/probe/config-files';
import { USER_AGENT } from '../../src/version';
import { CREDENTIAL_HEADERS, type HttpSettings } from './schema';

export interface RequestParts {
  headers: Record<string, string>;
  body?: string | Buffer;
  /**
   * Credentials (basic auth, the bearer token, credential and secret headers) go only to the
   * target's host or a subdomain of it, never to another host a redirect points at.
   */
  credentials: Record<string, string>;
}

const CREDENTIAL_NAMES = new Set<string>(CREDENTIAL_HEADERS);

export async function readRequestParts(settings: HttpSettings): Promise<RequestParts> {
  const headers: Record<string, string> = { 'user-agent': USER_AGENT };
  const credentials: Record<string, string> = {};
  for (const [name, value] of Object.entries(settings.headers)) {
    const lower = name.toLowerCase();
    if (typeof value !== 'string') credentials[lower] = value.secret_file !== undefined ? await readSecretFile(value.secret_file, `headers.${name}.secret_file`) : (value.secret ?? '');
    else if (CREDENTIAL_NAMES.has(lower)) credentials[lower] = value;
    else headers[lower] = value;
  }
  // blackbox_exporter 0.23 leaves Accept-Encoding to the module's headers, so `compression` alone
  // fails against any server that negotiates; we ask for it, unless the module says otherwise.
  if (settings.compression !== '' && headers['accept-encoding'] === undefined) headers['accept-encoding'] = settings.compression;
  if (settings.basic_auth) {
    const { username, password, password_file } = settings.basic_auth;
    const secret = password_file ? await readSecretFile(password_file, 'basic_auth.password_file') : (password ?? '');
    credentials.authorization = `Basic ${Buffer.from(`${username}:${secret}`).toString('base64')}`;
  } else if (settings.bearer_token_file) {
    credentials.authorization = `Bearer ${await readSecretFile(settings.bearer_token_file, 'bearer_token_file')}`;
  }
  const body = settings.body_file ? await readConfigFile(settings.body_file, 'body_file') : settings.body;
  return { headers, body, credentials };
}
