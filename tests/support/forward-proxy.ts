/**
 * A real HTTP forward proxy on 127.0.0.1 for the `proxy_url` tests: absolute-URI requests are
 * forwarded (as a proxy does, without its hop-by-hop Proxy-* headers), CONNECT opens a tunnel.
 * It records what each request said to the proxy, so a test can tell which prober came through
 * and with which Proxy-Authorization and CONNECT headers. With `requireAuthorization` set, a
 * request without that Proxy-Authorization is refused with a 407.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import { listenOnLoopback, LOOPBACK } from './ports';

export interface ProxiedRequest {
  /** 'GET' (or another method) for a forwarded request, 'CONNECT' for a tunnel. */
  method: string;
  /** The request line's target: an absolute URI, or host:port for CONNECT. */
  target: string;
  headers: http.IncomingHttpHeaders;
}

export interface ForwardProxy {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  requests: ProxiedRequest[];
  /** A Proxy-Authorization value every request must carry, or undefined for none. */
  requireAuthorization?: string;
  close(): Promise<void>;
}

export async function startForwardProxy(): Promise<ForwardProxy> {
  const requests: ProxiedRequest[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer();
  const proxy: ForwardProxy = { url: '', port: 0, requests, close: () => close() };
  const refused = (headers: http.IncomingHttpHeaders) => proxy.requireAuthorization !== undefined && headers['proxy-authorization'] !== proxy.requireAuthorization;

  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    requests.push({ method: req.method ?? '', target: req.url ?? '', headers: req.headers });
    if (refused(req.headers)) {
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="proxy"', 'content-length': '0' }).end();
      return;
    }
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400, { 'content-length': '0' }).end();
      return;
    }
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([name]) => !name.startsWith('proxy-')));
    const upstream = http.request({ host: target.hostname, port: target.port, method: req.method, path: `${target.pathname}${target.search}`, headers, agent: false }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502, { 'content-length': '0' }).end()));
    req.pipe(upstream);
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    requests.push({ method: 'CONNECT', target: req.url ?? '', headers: req.headers });
    if (refused(req.headers)) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="proxy"\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const [host, port] = splitAuthority(req.url ?? '');
    const upstream = net.connect({ host, port });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.once('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => (upstream.connecting ? client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n') : client.destroy()));
    client.on('error', () => upstream.destroy());
  });

  const port = await listenOnLoopback(server);
  proxy.port = port;
  proxy.url = `http://${LOOPBACK}:${port}`;

  async function close(): Promise<void> {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return proxy;
}

function splitAuthority(authority: string): [string, number] {
  const at = authority.lastIndexOf(':');
  return [authority.slice(0, at).replace(/^\[|\]$/g, ''), Number(authority.slice(at + 1))];
}
