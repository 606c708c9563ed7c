/**
 * At most N journeys at once in one browser. N is the module's own limit: a journey starts when
 * fewer than its module's `max_concurrent_journeys` journeys run, so a module with a limit of 1
 * runs alone. Waiters are served in order and give up at their deadline.
 */
import { ProbeFailure } from '../../src/probe/failure';

interface Waiter {
  limit: number;
  start(): void;
}

export class JourneySlots {
  private running = 0;
  private readonly waiting: Waiter[] = [];

  /** Resolves with the release function once a slot is free; rejects with `timeout` when `signal` fires first. */
  acquire(limit: number, signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(this.timedOut(limit));
    if (this.waiting.length === 0 && this.running < limit) return Promise.resolve(this.take());
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        limit,
        start: () => {
          signal.removeEventListener('abort', onAbort);
          resolve(this.take());
        },
      };
      const onAbort = () => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        reject(this.timedOut(limit));
        // The one that gave up may have held back others behind it with a larger limit.
        this.wakeUp();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  private take(): () => void {
    this.running++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      this.wakeUp();
    };
  }

  private wakeUp(): void {
    for (let next = this.waiting[0]; next !== undefined && this.running < next.limit; next = this.waiting[0]) {
      this.waiting.shift();
      next.start();
    }
  }

  private timedOut(limit: number): ProbeFailure {
    return new ProbeFailure('timeout', `the deadline passed while waiting for a free journey slot (${this.running} running, max_concurrent_journeys ${limit})`);
  }
}
