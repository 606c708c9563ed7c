/**
 * A port whose TCP connect never completes, on loopback: the one way to make a prober's connect
 * phase run into its deadline without touching the firewall. A listener with a backlog of 0 that
 * never accepts has its accept queue filled by our own first connection; the kernel then drops
 * every further SYN, so the next connect hangs in SYN-SENT until the client gives up.
 *
 * Node cannot listen without accepting, so the listener is a small python3 process (python3 is
 * on every Debian machine the tests run on; install-test-deps makes sure).
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { LOOPBACK } from './ports';

const LISTENER = ['import socket, sys, time', 's = socket.socket()', `s.bind(('${LOOPBACK}', 0))`, 's.listen(0)', 'print(s.getsockname()[1], flush=True)', 'sys.stdin.read()'].join('\n');

export interface UnacceptingListener {
  port: number;
  /** Ends the listener and the connections that fill its queue. */
  close(): void;
}

export async function startUnacceptingListener(): Promise<UnacceptingListener> {
  // The listener lives until its stdin closes: when close() ends it, or when jest exits.
  const child = spawn('python3', ['-c', LISTENER], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the python3 listener did not start within 5 s')), 5000);
    child.once('error', reject);
    child.stdout.once('data', (data: Buffer) => {
      clearTimeout(timer);
      resolve(Number(data.toString().trim()));
    });
  });
  // One connection completes and fills the queue; a second waits in SYN-SENT like the probe will,
  // which makes sure the queue really is full before the caller's connect.
  const completing = net.connect(port, LOOPBACK);
  const fillers = [completing, net.connect(port, LOOPBACK)];
  for (const filler of fillers) filler.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("could not fill the listener's queue within 5 s")), 5000);
    completing.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return {
    port,
    close() {
      for (const filler of fillers) filler.destroy();
      child.stdin.end();
      child.kill();
    },
  };
}
