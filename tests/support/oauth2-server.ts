/**
 * A real OAuth2 token endpoint on 127.0.0.1 for the `oauth2` tests: the client credentials grant
 * only, checked as a strict server would (grant type, client id and secret in Basic auth or in
 * the form, the scopes and extra parameters expected), issuing a new token each time with the
 * `expires_in` the test chose (or the request's `lifetime` parameter, so that modules can ask for
 * different ones). It counts what it issued per User-Agent, so a test can tell blackbox_exporter's
 * fetches from ours. It is also the probe's target: GET /protected answers 200 only to a token it
 * issued, GET /redirect-to?url= redirects, for the test that the token stays on the target's host.
 */
import * as http from 'node:http';
import { listenOnLoopback, LOOPBACK } from './ports';

export interface TokenEndpointRules {
  clientId: string;
  clientSecret: string;
  /** The `scope` parameter, space-separated, exactly; undefined means none may be sent. */
  scope?: string;
  /** Extra form parameters that must be present with these values. */
  params?: Record<string, string>;
  /** What the issued tokens say; undefined leaves `expires_in` out. */
  expiresIn?: number;
}

export interface IssuedToken {
  token: string;
  userAgent: string;
  /** The `expires_in` it was issued with. */
  expiresIn?: number;
}

export interface OAuth2Server {
  /** http://127.0.0.1:PORT/token */
  tokenUrl: string;
  /** http://127.0.0.1:PORT and http://localhost:PORT: the same server under another host name. */
  url: string;
  localhostUrl: string;
  rules: TokenEndpointRules;
  issued: IssuedToken[];
  /** Requests refused, with why (a test failing on a token shows the cause). */
  refusals: string[];
  /** The Authorization header of every GET /protected, 'undefined' when there was none. */
  seenAuthorizations: string[];
  /** Whether `authorization` (the whole header) carries a token this server issued. */
  issuedToken(authorization: string | string[] | undefined): boolean;
  close(): Promise<void>;
}

export async function startOAuth2Server(rules: TokenEndpointRules): Promise<OAuth2Server> {
  const issued: IssuedToken[] = [];
  const seenAuthorizations: string[] = [];
  const refusals: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const refuse = (why: string) => {
        refusals.push(why);
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_client' }));
      };
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const url = new URL(req.url ?? '/', 'http://target');
      if (req.method === 'GET' && url.pathname === '/protected') {
        seenAuthorizations.push(String(req.headers.authorization));
        res.writeHead(endpoint.issuedToken(req.headers.authorization) ? 200 : 401, { 'content-length': '0' }).end();
        return;
      }
      if (req.method === 'GET' && url.pathname === '/redirect-to') {
        res.writeHead(302, { location: url.searchParams.get('url') ?? '/', 'content-length': '0' }).end();
        return;
      }
      if (req.method !== 'POST' || req.url !== '/token') return refuse(`${req.method} ${req.url}`);
      if (form.get('grant_type') !== 'client_credentials') return refuse(`grant_type ${form.get('grant_type')}`);
      const [id, secret] = clientCredentials(req.headers.authorization, form);
      if (id !== endpoint.rules.clientId || secret !== endpoint.rules.clientSecret) return refuse('wrong client id or secret');
      if ((form.get('scope') ?? undefined) !== endpoint.rules.scope) return refuse(`scope ${form.get('scope')}`);
      for (const [name, value] of Object.entries(endpoint.rules.params ?? {})) if (form.get(name) !== value) return refuse(`${name} ${form.get(name)}`);
      const token = `token-${issued.length + 1}-${Math.random().toString(36).slice(2)}`;
      const lifetime = form.get('lifetime');
      const expiresIn = lifetime !== null ? Number(lifetime) : endpoint.rules.expiresIn;
      issued.push({ token, userAgent: String(req.headers['user-agent']), expiresIn });
      const answer: Record<string, unknown> = { access_token: token, token_type: 'bearer' };
      if (expiresIn !== undefined) answer.expires_in = expiresIn;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  const port = await listenOnLoopback(server);
  const endpoint: OAuth2Server = {
    tokenUrl: `http://${LOOPBACK}:${port}/token`,
    url: `http://${LOOPBACK}:${port}`,
    localhostUrl: `http://localhost:${port}`,
    rules,
    issued,
    refusals,
    seenAuthorizations,
    issuedToken: (authorization) => typeof authorization === 'string' && issued.some(({ token }) => authorization === `Bearer ${token}`),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return endpoint;
}

/** The client's id and secret, from Basic auth (URL-encoded, RFC 6749 2.3.1) or else from the form. */
function clientCredentials(authorization: string | undefined, form: URLSearchParams): [string | null, string | null] {
  const basic = /^Basic (.+)$/i.exec(authorization ?? '')?.[1];
  if (basic === undefined) return [form.get('client_id'), form.get('client_secret')];
  const [id = '', secret = ''] = Buffer.from(basic, 'base64').toString('utf8').split(':');
  return [decodeURIComponent(id.replace(/\+/g, ' ')), decodeURIComponent(secret.replace(/\+/g, ' '))];
}
