/**
 * The endpoints machines call, answered with Node's http alone: /probe (Prometheus, once per
 * target per scrape interval), /metrics, /sd (Prometheus's service discovery) and the health
 * checks. Routing /probe through express cost about 0.1 ms of CPU per request (measured), a
 * tenth of a whole probe, and loading express cost 100 ms at start; the pages people open stay
 * in express (express-app.ts), loaded with the first of them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery, type ParsedUrlQuery } from 'node:querystring';
import type { Checkpoint } from '../checkpoint';
import { TEXT_EXPOSITION } from '../probe/probe-registry';
import { debugOutput } from './debug-output';
import { queryParam } from './query';
import { serviceDiscovery } from './service-discovery';

const TEXT = 'text/plain; charset=utf-8';

type FastRoute = (req: IncomingMessage, res: ServerResponse, query: ParsedUrlQuery) => Promise<void> | void;

/** Answers a request if it is one of these routes (GET or HEAD, the exact path) and says whether it did. */
export function fastRoutes(checkpoint: Checkpoint): (req: IncomingMessage, res: ServerResponse) => boolean {
  const routes = new Map<string, FastRoute>([
    ['/probe', (req, res, query) => probe(checkpoint, req, res, query)],
    ['/metrics', async (_req, res) => send(res, 200, await checkpoint.metrics.registry.metrics(), checkpoint.metrics.registry.contentType)],
    ['/sd', (_req, res) => send(res, 200, JSON.stringify(serviceDiscovery(checkpoint.config)), 'application/json; charset=utf-8')],
    ['/-/healthy', (_req, res) => send(res, 200, 'Healthy\n')],
    ['/-/ready', (_req, res) => send(res, 200, 'Ready\n')],
  ]);
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const url = req.url ?? '/';
    const queryStart = url.indexOf('?');
    const route = routes.get(queryStart < 0 ? url : url.slice(0, queryStart));
    if (!route) return false;
    const query = queryStart < 0 ? {} : parseQuery(url.slice(queryStart + 1));
    Promise.resolve()
      .then(() => route(req, res, query))
      .catch((error: unknown) => {
        // Never a stack trace to the client: the message here, the details in the process log.
        checkpoint.options.logger.error({ err: error instanceof Error ? error.message : String(error) }, 'Error handling request');
        if (!res.headersSent) send(res, 500, 'Internal error, see the checkpoint log\n');
        else res.destroy();
      });
    return true;
  };
}

async function probe(checkpoint: Checkpoint, req: IncomingMessage, res: ServerResponse, query: ParsedUrlQuery): Promise<void> {
  // Prometheus closes the connection at its scrape timeout: a probe nobody waits for stops then.
  const clientGone = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) clientGone.abort();
  });
  const scrapeTimeout = req.headers['x-prometheus-scrape-timeout-seconds'];
  const outcome = await checkpoint.probe({
    module: queryParam(query, 'module'),
    target: queryParam(query, 'target'),
    hostname: queryParam(query, 'hostname'),
    scrapeTimeoutHeader: Array.isArray(scrapeTimeout) ? scrapeTimeout[0] : scrapeTimeout,
    clientGone: clientGone.signal,
  });
  if ('refused' in outcome) return send(res, outcome.refused, `${outcome.message}\n`);
  const entry = outcome.ran;
  if (queryParam(query, 'debug') === 'true') return send(res, 200, debugOutput(entry, checkpoint.config.modules[entry.moduleName], checkpoint.options.probers));
  send(res, 200, entry.registry.metrics(), TEXT_EXPOSITION);
}

function send(res: ServerResponse, status: number, body: string, contentType = TEXT): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) }).end(body);
}
