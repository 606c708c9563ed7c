/** The pages people open (the status page, a probe's logs) and the lifecycle API, in express; loaded with the first of them (see app.ts). */
import express, { type Request, type Response } from 'express';
import type { Checkpoint } from '../checkpoint';
import type { AppOptions } from './app';
import { debugOutput } from './debug-output';
import { queryParam } from './query';
import { statusPage } from './status-page';

export function createExpressApp(checkpoint: Checkpoint, options: AppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // The parser the fast routes use too (node:querystring): a repeated parameter is an array.
  app.set('query parser', 'simple');

  app.get('/logs', (req: Request, res: Response) => {
    const id = Number(queryParam(req.query as Record<string, string | string[]>, 'id'));
    const entry = Number.isInteger(id) ? checkpoint.history.get(id) : undefined;
    if (!entry) {
      res.status(404).type('text/plain').send('Probe id not found\n');
      return;
    }
    res.type('text/plain').send(debugOutput(entry, checkpoint.config.modules[entry.moduleName], checkpoint.options.probers));
  });

  app.get('/', (_req: Request, res: Response) => {
    res.type('html').send(statusPage(checkpoint.config, checkpoint.history.list(), checkpoint.options.probers));
  });

  app.all('/-/reload', async (req: Request, res: Response) => {
    if (!options.enableLifecycle) {
      res.status(403).type('text/plain').send('Lifecycle API is not enabled.\n');
      return;
    }
    if (req.method !== 'POST') {
      res.status(405).set('Allow', 'POST').type('text/plain').send('Only POST requests allowed\n');
      return;
    }
    const crossSite = crossSiteReason(req);
    if (crossSite) {
      res.status(403).type('text/plain').send(`Cross-site request refused: ${crossSite}\n`);
      return;
    }
    const result = await checkpoint.reload();
    if (result.ok) res.type('text/plain').send('Config reloaded\n');
    else res.status(500).type('text/plain').send(`Failed to reload config, the running config stays:\n${result.error}\n`);
  });

  // Never a stack trace to the client: the message here, the details in the process log.
  app.use((error: Error, _req: Request, res: Response, _next: express.NextFunction) => {
    checkpoint.options.logger.error({ err: error.message }, 'Error handling request');
    res.status(500).type('text/plain').send('Internal error, see the checkpoint log\n');
  });

  return app;
}

/**
 * Why a browser's request comes from another site, if it does: a page elsewhere must not make the
 * admin's browser reload the checkpoint (a form post carries no custom header, but browsers add
 * Sec-Fetch-Site, and Origin on every POST).
 */
function crossSiteReason(req: Request): string | undefined {
  const fetchSite = req.get('Sec-Fetch-Site');
  if (fetchSite !== undefined && fetchSite !== 'same-origin' && fetchSite !== 'none') return `Sec-Fetch-Site is ${fetchSite}`;
  const origin = req.get('Origin');
  if (origin === undefined) return undefined;
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    return `Origin ${JSON.stringify(origin)} is not a URL`;
  }
  return originHost === req.get('Host') ? undefined : `Origin ${origin} is not this server`;
}
