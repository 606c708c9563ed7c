/**
 * `oauth2`: the client credentials grant, as Prometheus common (golang.org/x/oauth2) does it. The
 * token is kept per module until 10 s before it expires (x/oauth2's margin), so a probe every
 * 15 s asks the token endpoint once per token lifetime, not once per probe. The client secret
 * goes only to the token endpoint, the token only to the target's host (RequestParts). Neither
 * is ever logged, nor put in a failure message.
 */
import { resolveTarget } from '../../src/net/resolve';
import { tlsOptions } from '../../src/net/tls-config';
import { unbracketedHost } from '../../src/net/url-host';
import { readSecretFile } from '../../src/probe/config-files';
import { ProbeFailure } from '../../src/probe/failure';
import { USER_AGENT } from '../../src/version';
import { readBody } from './body';
import { exchangeHttp1 } from './exchange-http1';
import { openHopConnection } from './proxy';
import type { HttpSettings, OAuth2Settings } from './schema';

/** x/oauth2's expiryDelta: a token this close to its expiry is fetched anew. */
const EXPIRY_MARGIN_MS = 10_000;
/** A token answer is a small JSON document; a larger one is refused, not buffered. */
const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;

interface CachedToken {
  /** The secret it was issued for: a rotated secret file gets a new token. */
  secret: string;
  authorization: string;
  /** When to fetch a new one (ms since the epoch); Infinity when the endpoint gave no expires_in. */
  refreshAt: number;
}

/** Per module: the settings object lives until a reload, which starts every module afresh. */
const tokens = new WeakMap<OAuth2Settings, CachedToken>();

/** The Authorization header value for the module's target: a cached token, or a new one. */
export async function oauth2Authorization(settings: HttpSettings & { oauth2: OAuth2Settings }, signal: AbortSignal): Promise<string> {
  const { oauth2 } = settings;
  const secret = oauth2.client_secret_file !== undefined ? await readSecretFile(oauth2.client_secret_file, 'oauth2.client_secret_file') : (oauth2.client_secret ?? '');
  const cached = tokens.get(oauth2);
  if (cached && cached.secret === secret && Date.now() < cached.refreshAt) return cached.authorization;
  const token = await fetchToken(settings, secret, signal);
  tokens.set(oauth2, { secret, ...token });
  return token.authorization;
}

async function fetchToken(settings: HttpSettings & { oauth2: OAuth2Settings }, secret: string, signal: AbortSignal): Promise<Omit<CachedToken, 'secret'>> {
  const { oauth2 } = settings;
  const url = new URL(oauth2.token_url);
  const host = unbracketedHost(url.hostname);
  const resolved = await resolveTarget(host, settings.preferred_ip_protocol, settings.ip_protocol_fallback, signal).catch((error: unknown) => {
    throw asTokenFailure(error);
  });
  const connection = await openHopConnection({
    url,
    address: resolved.address,
    proxyUrl: oauth2.proxy_url,
    tls: url.protocol === 'https:' ? await tlsOptions(oauth2.tls_config, oauth2.tls_config?.server_name ?? host, ['http/1.1']) : undefined,
    ipProtocol: settings.preferred_ip_protocol,
    ipProtocolFallback: settings.ip_protocol_fallback,
    signal,
  }).catch((error: unknown) => {
    throw asTokenFailure(error);
  });
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  if (oauth2.scopes.length > 0) form.set('scope', oauth2.scopes.join(' '));
  for (const [name, value] of Object.entries(oauth2.endpoint_params)) form.set(name, value);
  // x/oauth2 sends the client's id and secret URL-encoded in Basic auth first.
  const basic = Buffer.from(`${queryEscape(oauth2.client_id)}:${queryEscape(secret)}`).toString('base64');
  const response = await exchangeHttp1({
    url,
    requestTarget: connection.requestTarget,
    method: 'POST',
    headers: { host: url.host, 'user-agent': USER_AGENT, 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}`, ...connection.proxyHeaders },
    body: form.toString(),
    socket: connection.socket,
    signal,
  }).catch((error: unknown) => {
    throw asTokenFailure(error);
  });
  let text: string;
  try {
    const body = await readBody(response.body, { compression: '', limitBytes: MAX_TOKEN_RESPONSE_BYTES, keep: true });
    text = body.bytes?.toString('utf8') ?? '';
  } catch (error) {
    throw asTokenFailure(error);
  } finally {
    await response.close();
  }
  // The answer's body may echo what was sent: only its status goes into the message.
  if (response.status < 200 || response.status > 299) {
    throw new ProbeFailure(response.status === 400 || response.status === 401 ? 'auth' : 'protocol', `OAuth2 token endpoint answered status ${response.status}`);
  }
  const token = parseToken(text);
  if (!token) throw new ProbeFailure('protocol', 'OAuth2 token endpoint did not answer with a JSON access_token');
  return {
    authorization: `${tokenType(token.token_type)} ${token.access_token}`,
    refreshAt: typeof token.expires_in === 'number' && token.expires_in > 0 ? Date.now() + token.expires_in * 1000 - EXPIRY_MARGIN_MS : Infinity,
  };
}

/** Go's url.QueryEscape: only letters, digits and -_.~ stay; a space is '+'. */
function queryEscape(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

interface TokenAnswer {
  access_token: string;
  token_type?: unknown;
  expires_in?: unknown;
}

function parseToken(text: string): TokenAnswer | undefined {
  try {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    return typeof parsed.access_token === 'string' && parsed.access_token !== '' ? (parsed as unknown as TokenAnswer) : undefined;
  } catch {
    return undefined;
  }
}

/** x/oauth2's Token.Type: the usual types spelled canonically, Bearer when none is given. */
function tokenType(type: unknown): string {
  if (typeof type !== 'string' || type === '') return 'Bearer';
  const canonical: Record<string, string> = { bearer: 'Bearer', mac: 'MAC', basic: 'Basic' };
  return canonical[type.toLowerCase()] ?? type;
}

/** A failure on the way to the token endpoint says so: the target itself was never tried. */
function asTokenFailure(error: unknown): unknown {
  return error instanceof ProbeFailure ? new ProbeFailure(error.reason, `OAuth2 token endpoint: ${error.message}`) : error;
}
