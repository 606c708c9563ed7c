/**
 * The HTTP endpoints of docs/design.md, thin over `Checkpoint`: the ones machines call on every
 * scrape answered directly (fast-routes.ts), the rest by express, imported on the first request
 * that needs it (express-app.ts), so a checkpoint that is only scraped never loads it.
 */
import type { RequestListener } from 'node:http';
import type { Checkpoint } from '../checkpoint';
import { firstLine } from '../probe/failure';
import { fastRoutes } from './fast-routes';

export interface AppOptions {
  /** `--web.enable-lifecycle`: whether POST /-/reload may reload the config. */
  enableLifecycle?: boolean;
}

export function createApp(checkpoint: Checkpoint, options: AppOptions = {}): RequestListener {
  const answeredFast = fastRoutes(checkpoint);
  let expressApp: Promise<RequestListener> | undefined;
  return (req, res) => {
    if (answeredFast(req, res)) return;
    expressApp ??= import('./express-app').then(({ createExpressApp }) => createExpressApp(checkpoint, options));
    expressApp.then(
      (app) => app(req, res),
      (error: unknown) => {
        // Tried again with the next page, as a prober that failed to load is with its next probe.
        expressApp = undefined;
        checkpoint.options.logger.error({ err: firstLine(error) }, 'Error loading the web pages');
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Internal error, see the checkpoint log\n');
      },
    );
  };
}
