/**
 * Port helpers for tests that start real servers on the loopback interface.
 *
 * Why not hard-coded ports: jest runs suites in parallel workers (and CI may run
 * on a machine where other things listen), so every test asks the kernel for a
 * currently unused port instead.
 */
import * as net from 'node:net';

/** The only address test servers listen on: never anything off this machine. */
export const LOOPBACK = '127.0.0.1';

/** Starts `server` on LOOPBACK and a port the kernel picks; resolves that port, rejects on a listen error. */
export function listenOnLoopback(server: net.Server): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      server.off('error', reject);
      const address = server.address();
      if (address === null || typeof address === 'string') reject(new Error('no TCP address'));
      else resolve(address.port);
    });
  });
}

/**
 * Returns a TCP port on 127.0.0.1 that was free a moment ago.
 *
 * We bind to port 0 so the kernel picks an unused ephemeral port, read it back,
 * and close the listener. There is an unavoidable small race (something else may
 * grab the port before the caller binds it); callers that spawn external
 * processes on it should be ready to retry on EADDRINUSE.
 */
export function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    // unref: a probe listener must never keep jest alive if something goes wrong.
    server.unref();
    server.once('error', reject);
    server.listen({ host: LOOPBACK, port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`unexpected listen address: ${String(address)}`));
        return;
      }
      const { port } = address;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/**
 * Returns a port on 127.0.0.1 that nothing listens on, so a TCP connect to it is
 * refused at once (RST), which is what "connection refused" probes need.
 *
 * Same mechanism as freePort(): the port was just released by us, and ephemeral
 * ports are handed out round-robin by the kernel, so it is very unlikely to be
 * reused during a test.
 */
export function refusedPort(): Promise<number> {
  return freePort();
}
