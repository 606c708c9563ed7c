/**
 * What the web config asks of every request, on every endpoint: its response headers, and basic
 * auth when it lists users. The file is read for each request (see webConfigSource), so a new
 * password or header takes effect without a restart, as with exporter-toolkit; a file that would
 * enforce less than at start is invalid until a restart (see weakenings).
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { BasicAuthChecker, basicCredentials, MAX_CHECKS_AT_ONCE } from './basic-auth';
import type { WebConfig } from './web-config';

/** The "too many password checks at once" warning, at most this often. */
const BUSY_LOG_INTERVAL_MS = 10_000;

export function guardRequests(handler: RequestListener, readConfig: () => Promise<WebConfig>, file: string, logger: Logger, basicAuth = new BasicAuthChecker()): RequestListener {
  /** The problem last logged, so a broken file is logged once per distinct problem, not per request. */
  let lastProblem: string | undefined;
  let busySinceLog = 0;
  let lastBusyLog = -Infinity;
  const admit = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    let config: WebConfig;
    try {
      config = await readConfig();
    } catch (error) {
      // The message lists the problems (keys and file names, never a hash); no stack trace.
      const problem = error instanceof Error ? error.message : String(error);
      if (problem !== lastProblem) logger.error({ file, err: problem }, 'Web config is invalid, refusing requests');
      lastProblem = problem;
      res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Invalid web config, see the checkpoint log\n');
      return false;
    }
    lastProblem = undefined;
    for (const [name, value] of Object.entries(config.http_server_config?.headers ?? {})) {
      if (value) res.setHeader(name, value);
    }
    const users = config.basic_auth_users ?? {};
    if (Object.keys(users).length === 0) return true;
    const outcome = await basicAuth.check(users, basicCredentials(req.headers.authorization));
    if (outcome === 'accepted') return true;
    if (outcome === 'busy') {
      busySinceLog++;
      const now = performance.now();
      if (now - lastBusyLog >= BUSY_LOG_INTERVAL_MS) {
        // Counts only: no user name, no password.
        logger.warn({ refused: busySinceLog, total: basicAuth.busyCount, max_at_once: MAX_CHECKS_AT_ONCE }, 'Too many password checks at once, answering 429 (logged at most every 10s)');
        lastBusyLog = now;
        busySinceLog = 0;
      }
      res.writeHead(429, { 'Retry-After': '1', 'Content-Type': 'text/plain; charset=utf-8' }).end('Too many login attempts at once, retry in a second\n');
      return false;
    }
    res.writeHead(401, { 'WWW-Authenticate': 'Basic', 'Content-Type': 'text/plain; charset=utf-8' }).end('Unauthorized\n');
    return false;
  };
  return (req, res) => {
    admit(req, res).then(
      (admitted) => {
        if (admitted) handler(req, res);
      },
      (error: unknown) => {
        logger.error({ err: error instanceof Error ? error.message : String(error) }, 'Error checking a request against the web config');
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Internal error, see the checkpoint log\n');
      },
    );
  };
}
