/** The HTTP endpoints of docs/design.md, thin over `Checkpoint`. */
import express, { type Request, type Response } from 'express';
import type { Checkpoint } from '../checkpoint';
import { debugOutput } from './debug-output';
import { serviceDiscovery } from './service-discovery';
import { statusPage } from './status-page';

const TEXT_EXPOSITION = 'text/plain; version=0.0.4; charset=utf-8';

export interface AppOptions {
  /** `--web.enable-lifecycle`: whether POST /-/reload may reload the config. */
  enableLifecycle?: boolean;
}

export function createApp(checkpoint: Checkpoint, options: AppOptions = {}): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // Every probe answer is new; hashing it for an ETag only costs CPU (15% of a probe's, measured).
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.get('/probe', async (req: Request, res: Response) => {
    // Prometheus closes the connection at its scrape timeout: a probe nobody waits for stops then.
    const clientGone = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) clientGone.abort();
    });
    const outcome = await checkpoint.probe({
      module: queryParam(req, 'module'),
      target: queryParam(req, 'target'),
      hostname: queryParam(req, 'hostname'),
      scrapeTimeoutHeader: req.get('X-Prometheus-Scrape-Timeout-Seconds'),
      clientGone: clientGone.signal,
    });
    if ('refused' in outcome) {
      res.status(outcome.refused).type('text/plain').send(`${outcome.message}\n`);
      return;
    }
    const entry = outcome.ran;
    if (queryParam(req, 'debug') === 'true') {
      res.type('text/plain').send(await debugOutput(entry, checkpoint.config.modules[entry.moduleName], checkpoint.options.probers));
      return;
    }
    // The hot path: written straight out, without express's content negotiation in send().
    const body = await entry.registry.metrics();
    res.writeHead(200, { 'Content-Type': TEXT_EXPOSITION, 'Content-Length': Buffer.byteLength(body) }).end(body);
  });

  app.get('/logs', async (req: Request, res: Response) => {
    const id = Number(queryParam(req, 'id'));
    const entry = Number.isInteger(id) ? checkpoint.history.get(id) : undefined;
    if (!entry) {
      res.status(404).type('text/plain').send('Probe id not found\n');
      return;
    }
    res.type('text/plain').send(await debugOutput(entry, checkpoint.config.modules[entry.moduleName], checkpoint.options.probers));
  });

  app.get('/metrics', async (_req: Request, res: Response) => {
    res.type(checkpoint.metrics.registry.contentType).send(await checkpoint.metrics.registry.metrics());
  });

  app.get('/sd', (_req: Request, res: Response) => {
    res.json(serviceDiscovery(checkpoint.config));
  });

  app.get('/', (_req: Request, res: Response) => {
    res.type('html').send(statusPage(checkpoint.config, checkpoint.history.list(), checkpoint.options.probers));
  });

  app.get('/-/healthy', (_req: Request, res: Response) => {
    res.type('text/plain').send('Healthy\n');
  });
  app.get('/-/ready', (_req: Request, res: Response) => {
    res.type('text/plain').send('Ready\n');
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

/** One value of a query parameter; a repeated parameter is refused by taking none (`simple` parser gives arrays). */
function queryParam(req: Request, name: string): string | undefined {
  const value = req.query[name];
  return typeof value === 'string' ? value : undefined;
}
