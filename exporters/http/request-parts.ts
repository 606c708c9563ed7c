/**
 * What a probe sends, read fresh at every probe so that rotated secrets and certificates are
 * picked up without a reload. File contents are never logged.
 */
import { readConfigFile, readSecretFile } from '../../src/probe/config-files';
import { USER_AGENT } from '../../src/version';
import type { HttpSettings } from './schema';

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
    const secret = password_file ? await readSecretFile(password_file, 'basic_auth.password_file') : (password ?? '');
    authorization = `Basic ${Buffer.from(`${username}:${secret}`).toString('base64')}`;
  } else if (settings.bearer_token_file) {
    authorization = `Bearer ${await readSecretFile(settings.bearer_token_file, 'bearer_token_file')}`;
  }
  const body = settings.body_file ? await readConfigFile(settings.body_file, 'body_file') : settings.body;
  return { headers, body, authorization };
}
