/**
 * The protocol's CancelRequest: a fresh connection carrying only the backend's process id and
 * secret key, answered by the server stopping that backend's query. Closing our connection alone
 * is not enough: a backend busy in a query notices a vanished client only when it next writes, so
 * a stuck query would keep its connection for as long as it runs. No login is needed (the secret
 * key is the credential), so a probe can cancel even when it could not log in again.
 */
import { openConnection } from '../../src/net/connect';
import type { ProbeLog } from '../../src/probe/probe-log';

/**
 * The deadline has already passed when we cancel; this bounds how much later the probe may end.
 * It stays under the runtime's default --timeout-offset (0.5 s), so the answer still reaches
 * Prometheus before its scrape timeout; a cancel lost this way is caught by statement_timeout.
 */
const CANCEL_WAIT_MS = 250;
const CANCEL_REQUEST_CODE = 80877102;

export interface BackendKey {
  processId: number;
  secretKey: number;
}

/** Sends the cancel request and waits until the server closes the connection, which it does once it has read it. Never throws. */
export async function sendCancelRequest(address: string, port: number, backend: BackendKey, log: ProbeLog): Promise<void> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`no answer within ${CANCEL_WAIT_MS} ms`)), CANCEL_WAIT_MS);
  log.info('Sending cancel request', { backend_pid: backend.processId, address, port });
  try {
    const { socket } = await openConnection({ address, port, signal: controller.signal });
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => socket.destroy(controller.signal.reason as Error);
      socket.once('close', () => {
        controller.signal.removeEventListener('abort', onAbort);
        resolve();
      });
      socket.once('error', reject);
      controller.signal.addEventListener('abort', onAbort, { once: true });
      socket.end(cancelRequest(backend));
    });
    log.info('Cancel request delivered', { backend_pid: backend.processId });
  } catch (error) {
    log.warn('Cancel request failed; statement_timeout is the remaining backstop', { backend_pid: backend.processId, err: (error as Error).message });
  } finally {
    clearTimeout(timer);
  }
}

function cancelRequest({ processId, secretKey }: BackendKey): Buffer {
  const packet = Buffer.alloc(16);
  packet.writeInt32BE(16, 0);
  packet.writeInt32BE(CANCEL_REQUEST_CODE, 4);
  packet.writeInt32BE(processId, 8);
  packet.writeInt32BE(secretKey, 12);
  return packet;
}
