/**
 * Why a probe failed, on a closed set, so that alerts and dashboards can group by it
 * without free text ever reaching a label.
 */
export const FAILURE_REASONS = [
  'config', // the module or target cannot be used as configured (missing secret file, bad target)
  'dns', // the target's name did not resolve
  'connect', // no connection could be opened (refused, unreachable, reset)
  'tls', // the TLS handshake or certificate verification failed
  'host_key', // the server's SSH host key is not the pinned one: a changed server or a man in the middle
  'timeout', // the deadline passed before the probe finished
  'auth', // the server refused our credentials
  'forbidden', // a redirect or navigation led outside the module's allowed targets; nothing was sent there
  'protocol', // the server spoke, but not the protocol we expected
  'navigation', // a page of a browser journey did not load (network error, error status, aborted)
  'not_found', // what the probe looks for does not exist: a page element, a container
  'browser_crash', // the browser crashed or hung; it is relaunched for the next probe
  'status_code', // the server answered with a status the module does not accept
  'assertion', // the answer arrived but a check on it failed (regex, version, TLS policy)
  'internal', // a bug in the checkpoint itself
] as const;

export type FailureReason = (typeof FAILURE_REASONS)[number];

/** Thrown inside a prober to end it with a known reason; the prober turns it into `false`. */
export class ProbeFailure extends Error {
  constructor(
    readonly reason: FailureReason,
    message: string,
  ) {
    super(message);
    this.name = 'ProbeFailure';
  }
}

/** An error's first line, at most 300 characters: for a failure message, without a stack or Node's require stack. */
export function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}...` : line;
}
