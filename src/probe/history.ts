/**
 * The recent probes shown on the status page and by `/logs?id=`. Failures pushed out by newer
 * successes are kept in a list of their own, so the one that paged somebody can still be read.
 */
import type { ProbeResult } from './run';

export interface HistoryEntry extends ProbeResult {
  id: number;
}

export class ProbeHistory {
  private nextId = 0;
  private recent: HistoryEntry[] = [];
  private keptFailures: HistoryEntry[] = [];

  constructor(private readonly limit: number) {}

  add(result: ProbeResult): HistoryEntry {
    const entry = { ...result, id: this.nextId++ };
    if (this.limit <= 0) return entry;
    this.recent.push(entry);
    if (this.recent.length > this.limit) {
      const evicted = this.recent.shift()!;
      if (!evicted.success) {
        this.keptFailures.push(evicted);
        if (this.keptFailures.length > this.limit) this.keptFailures.shift();
      }
    }
    return entry;
  }

  get(id: number): HistoryEntry | undefined {
    return this.recent.find((entry) => entry.id === id) ?? this.keptFailures.find((entry) => entry.id === id);
  }

  /** Newest first, kept failures included. */
  list(): HistoryEntry[] {
    return [...this.recent, ...this.keptFailures].sort((a, b) => b.id - a.id);
  }
}
