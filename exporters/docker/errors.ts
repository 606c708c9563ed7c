/**
 * How a failed engine request maps onto the closed set of failure reasons. dockerode reports an
 * HTTP error status as an Error with `statusCode` and the engine's message; a broken connection as
 * Node's error codes.
 */
import { ProbeFailure } from '../../src/probe/failure';

export type EngineRequest = 'version' | 'list' | 'inspect' | 'stats';

/**
 * The failure for `error` from `request`. 401 and 403 come from an authorizing proxy in front of
 * the engine (docker-socket-proxy answers 403 for an endpoint it does not allow) or an engine
 * authorization plugin: the checkpoint is not allowed to ask, which is `auth`. 404 on a
 * container means it does not exist (`not_found`); anywhere else the engine, or whatever
 * answers in its place, is not speaking the API we expect (`protocol`).
 */
export function classifyRequestError(error: unknown, request: EngineRequest, what: string): ProbeFailure {
  if (error instanceof ProbeFailure) return error;
  const { statusCode, code, message } = error as { statusCode?: number; code?: string; message?: string };
  const engineSays = engineMessage(message);
  if (statusCode === 401 || statusCode === 403) return new ProbeFailure('auth', `the engine (or a proxy in front of it) refused ${what} with HTTP ${statusCode}: ${engineSays}`);
  if (statusCode === 404 && (request === 'inspect' || request === 'stats')) return new ProbeFailure('not_found', `no such container: ${what}`);
  if (statusCode !== undefined) return new ProbeFailure('protocol', `${what}: the engine answered HTTP ${statusCode}: ${engineSays}`);
  // OpenSSL's errors after the handshake: under TLS 1.3 a refused or missing client certificate arrives with the first answer.
  if (/^ERR_SSL_|^ERR_TLS_/.test(code ?? '')) return new ProbeFailure('tls', `TLS failed during ${what}: ${code}: ${message ?? ''}`);
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNREFUSED' || code === 'ENOENT') return new ProbeFailure('connect', `connection to the engine lost during ${what}: ${code}`);
  if (code === 'EACCES' || code === 'EPERM') return new ProbeFailure('auth', `permission denied reconnecting to the engine during ${what}`);
  if (/^HPE_/.test(code ?? '')) return new ProbeFailure('protocol', `${what}: the answer is not HTTP (${code}): is host an engine or a socket proxy?`);
  return new ProbeFailure('protocol', `${what} failed: ${code ? `${code}: ` : ''}${engineSays}`);
}

/** dockerode wraps the engine's message as "(HTTP code 404) no such container - <message> "; the message is what helps. */
function engineMessage(message: string | undefined): string {
  const text = (message ?? 'no message').trim();
  const wrapped = /^\(HTTP code \d+\) [^-]*- (.*)$/s.exec(text)?.[1];
  return (wrapped ?? text).slice(0, 300);
}
