/**
 * What the web config asks of every request, on every endpoint: its response headers, and basic
 * auth when it lists users. The file is read for each request (see webConfigSource), so a new
 * password or header takes effect without a restart, as with exporter-toolkit.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { BasicAuthChecker, basicCredentials } from './basic-auth';
import type { WebConfig } from './web-config';

export function guardRequests(handler: RequestListener, readConfig: () => Promise<WebConfig>, file: string, logger: Logger): RequestListener {
  const basicAuth = new BasicAuthChecker();
  const admit = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    let config: WebConfig;
    try {
      config = await readConfig();
    } catch (error) {
      // The message lists the problems (keys and file names, never a hash); no stack trace.
      logger.error({ file, err: error instanceof Error ? error.message : String(error) }, 'Web config is invalid, refusing requests');
      res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Invalid web config, see the checkpoint log\n');
      return false;
    }
    for (const [name, value] of Object.entries(config.http_server_config?.headers ?? {})) {
      if (value) res.setHeader(name, value);
    }
    const users = config.basic_auth_users ?? {};
    if (Object.keys(users).length === 0 || (await basicAuth.check(users, basicCredentials(req.headers.authorization)))) return true;
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
