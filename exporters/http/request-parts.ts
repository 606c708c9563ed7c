/**
 * What a probe sends, read fresh at every probe so that rotated secrets and certificates are
 * picked up without a reload. File contents are never logged.
 */
import { readConfigFile, readSecretFile } from '../../src/probe/config-files';
import { USER_AGENT } from '../../src/version';
import { oauth2Authorization } from './oauth2';
import { CREDENTIAL_HEADERS, type HttpSettings } from './schema';

export interface RequestParts {
  headers: Record<string, string>;
  body?: string | Buffer;
  /**
   * Credentials (basic auth, a bearer token, `authorization`, the OAuth2 token, credential and secret headers) go only to the
   * target's host or a subdomain of it, never to another host a redirect points at. The OAuth2
   * token joins them once the target is resolved (see addOAuth2Token), as blackbox_exporter fetches it.
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
  } else if (settings.bearer_token_file !== undefined || settings.bearer_token !== undefined) {
    const token = settings.bearer_token_file !== undefined ? await readSecretFile(settings.bearer_token_file, 'bearer_token_file') : (settings.bearer_token ?? '');
    credentials.authorization = `Bearer ${token}`;
  } else if (settings.authorization) {
    const { type, credentials: inline, credentials_file } = settings.authorization;
    credentials.authorization = `${type} ${credentials_file !== undefined ? await readSecretFile(credentials_file, 'authorization.credentials_file') : (inline ?? '')}`;
  }
  const body = settings.body_file ? await readConfigFile(settings.body_file, 'body_file') : settings.body;
  return { headers, body, credentials };
}

/**
 * Fetches (or takes from the cache) the module's OAuth2 token, after the target's address is
 * known and before the first request, where blackbox_exporter's client fetches it: a target that
 * does not resolve fails as `dns` without asking for a token.
 */
export async function addOAuth2Token(parts: RequestParts, settings: HttpSettings, signal: AbortSignal): Promise<void> {
  if (settings.oauth2 && parts.credentials.authorization === undefined) {
    parts.credentials.authorization = await oauth2Authorization({ ...settings, oauth2: settings.oauth2 }, signal);
  }
}
