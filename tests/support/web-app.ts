/**
 * A small web application on 127.0.0.1 for the browser prober: a login form that sets a session
 * cookie and redirects, a page that needs the cookie, and pages that misbehave (slow, throwing,
 * failing, never loading). It counts requests and open connections for the leak checks.
 */
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { listenOnLoopback, LOOPBACK } from './ports';

export const WEB_USER = 'alice';
export const WEB_PASSWORD = 'correct-horse-battery-staple';
/** How long /slow-image takes to answer. */
export const SLOW_IMAGE_MS = 8_000;
/** What GET /download offers as an attachment: enough to fill a disk slowly if it were saved. */
export const DOWNLOAD_BYTES = 200 * 1024 * 1024;

export interface WebApp {
  /** http://127.0.0.1:<port> */
  url: string;
  /** Requests seen, by path. */
  requests: Map<string, number>;
  /** Sessions handed out by the login. */
  sessions: Set<string>;
  /** Cookies each request to /home carried, in order. */
  homeCookies: (string | undefined)[];
  /** Bytes of GET /download the server handed to its sockets, over every request. */
  downloadBytesSent(): number;
  openConnections(): number;
  close(): Promise<void>;
}

const page = (title: string, body: string, head = '') => `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>${head}</head><body>${body}</body></html>`;

const LOGIN_FORM = (message = '') =>
  page(
    'Sign in',
    `<main><h1>Sign in</h1>${message ? `<p role="alert">${message}</p>` : ''}
    <form method="post" action="/login">
      <label for="user">Username</label> <input id="user" name="user" autocomplete="username">
      <label for="password">Password</label> <input id="password" name="password" type="password">
      <label for="country">Country</label> <select id="country" name="country"><option value="fr">France</option><option value="de">Germany</option></select>
      <button type="submit">Sign in</button>
    </form></main>`,
  );

export async function startWebApp(): Promise<WebApp> {
  const requests = new Map<string, number>();
  const sessions = new Set<string>();
  const homeCookies: (string | undefined)[] = [];
  const sockets = new Set<Socket>();
  /** Responses held open on purpose (slow image, hanging script), ended at close(). */
  const held = new Set<http.ServerResponse>();
  let downloadBytesSent = 0;

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://app');
    requests.set(url.pathname, (requests.get(url.pathname) ?? 0) + 1);
    const html = (status: number, body: string, headers: http.OutgoingHttpHeaders = {}): void => {
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...headers }).end(body);
    };
    const session = /(?:^|;\s*)session=([a-f0-9]+)/.exec(req.headers.cookie ?? '')?.[1];
    switch (`${req.method} ${url.pathname}`) {
      case 'GET /login':
        return html(200, LOGIN_FORM());
      case 'POST /login': {
        let body = '';
        req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
        req.on('end', () => {
          const form = new URLSearchParams(body);
          if (form.get('user') !== WEB_USER || form.get('password') !== WEB_PASSWORD) return html(200, LOGIN_FORM('Invalid username or password'));
          const id = randomBytes(16).toString('hex');
          sessions.add(id);
          res.writeHead(303, { location: '/home', 'set-cookie': `session=${id}; Path=/; HttpOnly; SameSite=Lax` }).end();
        });
        return;
      }
      case 'GET /home':
        homeCookies.push(req.headers.cookie);
        if (!session || !sessions.has(session)) return void res.writeHead(303, { location: '/login' }).end();
        return html(200, page('Home', `<main><h1>Welcome ${WEB_USER}</h1><p>Your reports are ready.</p><a href="/error">Reports</a> <a href="/throws">Dashboard</a></main>`));
      // Ways a page leads the browser elsewhere: a link, a form posting a password, a redirect.
      case 'GET /leave': {
        const to = url.searchParams.get('to') ?? '/';
        const bounce = `/bounce?to=${encodeURIComponent(to)}`;
        return html(
          200,
          page(
            'Leave',
            `<main><a href="${escapeHtml(to)}">Elsewhere</a> <a href="${escapeHtml(to)}" target="_blank">Elsewhere in a new tab</a><form method="post" action="${escapeHtml(bounce)}"><label>Password <input name="password" type="password"></label><button>Send</button></form></main>`,
          ),
        );
      }
      case 'GET /bounce':
      case 'POST /bounce':
        // 307 keeps the method and the body: a posted form would be posted again, to `to`.
        return void res.writeHead(307, { location: url.searchParams.get('to') ?? '/' }).end();
      case 'GET /favicon.ico':
        return void res.writeHead(204).end();
      case 'GET /error':
        return html(500, page('Error', '<h1>Internal Server Error</h1>'));
      case 'GET /throws':
        return html(200, page('Dashboard', '<h1>Dashboard</h1><script>console.error("console says no"); throw new Error("boom from the page");</script>'));
      case 'GET /slow-resource':
        return html(200, page('Slow', '<h1>Slow page</h1><img src="/slow-image" alt="slow">'));
      case 'GET /slow-image': {
        held.add(res);
        const timer = setTimeout(() => {
          held.delete(res);
          res.writeHead(200, { 'content-type': 'image/gif' }).end(Buffer.from('R0lGODlhAQABAAAAACw=', 'base64'));
        }, SLOW_IMAGE_MS);
        res.on('close', () => {
          clearTimeout(timer);
          held.delete(res);
        });
        return;
      }
      case 'GET /downloads':
        return html(200, page('Exports', '<h1>Exports</h1><a href="/download">Get the export</a>'));
      case 'GET /download': {
        // Written at the pace the client reads, so what was sent shows what the browser took.
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-disposition': 'attachment; filename="export.bin"', 'content-length': DOWNLOAD_BYTES });
        const block = Buffer.alloc(64 * 1024);
        let left = DOWNLOAD_BYTES;
        const pump = () => {
          while (left > 0 && !res.destroyed) {
            left -= block.length;
            downloadBytesSent += block.length;
            if (!res.write(block)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
        return;
      }
      case 'GET /never-loads':
        return html(200, page('Never', '<h1>Loading forever</h1>', '<script src="/hang.js"></script>'));
      case 'GET /hang.js':
        // Never answered: the page's load event never fires.
        held.add(res);
        res.on('close', () => held.delete(res));
        return;
      default:
        return html(404, page('Not found', '<h1>Not found</h1>'));
    }
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await listenOnLoopback(server);
  return {
    url: `http://${LOOPBACK}:${port}`,
    requests,
    sessions,
    homeCookies,
    downloadBytesSent: () => downloadBytesSent,
    openConnections: () => sockets.size,
    async close() {
      for (const res of held) res.destroy();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
