/**
 * HTTP basic auth against the web config's bcrypt hashes, as exporter-toolkit checks them.
 * bcrypt is slow on purpose and bcryptjs runs it on the main thread (a cost-10 check is 70-80 ms
 * of CPU), so that it cannot starve every other request:
 * - a check bcrypt accepted is remembered, and so is, for a minute, one it refused: the same
 *   right or wrong password costs nothing the second time;
 * - the same check asked for again while it runs waits for that one (Prometheus's scrapes right
 *   after a start or a new hash);
 * - at most MAX_CHECKS_AT_ONCE checks run at a time; one more is answered "busy" at once (429);
 * - an unknown user costs as much as a known one (a check against a configured hash, through the
 *   same limit), so neither the time taken nor a 429 tells which user names exist.
 */
import { createHash } from 'node:crypto';
import bcrypt from 'bcryptjs';

/** Enough for every user of a small team and their scrapers; beyond it the oldest is forgotten. */
const REMEMBERED_CHECKS = 100;
/** Refused checks, likewise bounded, and forgotten after this long. */
const REMEMBERED_REFUSALS = 100;
const REFUSAL_MEMORY_MS = 60_000;
/** bcrypt checks running at once: two keep a core for everything else. */
export const MAX_CHECKS_AT_ONCE = 2;

export interface Credentials {
  user: string;
  password: string;
}

/** What a check found: the login is right, wrong, or would need a bcrypt check while too many run. */
export type BasicAuthOutcome = 'accepted' | 'refused' | 'busy';

/** The user and password of an `Authorization: Basic ...` header, if it is one. */
export function basicCredentials(header: string | undefined): Credentials | undefined {
  const encoded = /^basic +([A-Za-z0-9+/=]+) *$/i.exec(header ?? '')?.[1];
  if (encoded === undefined) return undefined;
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export class BasicAuthChecker {
  /**
   * Digests of (user, hash, password) that bcrypt accepted; never the password itself. The hash
   * is part of the key, so a changed password in the web config is checked afresh.
   */
  private readonly accepted = new Set<string>();
  /** Digests bcrypt refused, with when they are forgotten; kept apart so refusals never evict a success. */
  private readonly refused = new Map<string, number>();
  /** The checks running, by digest, so the same one asked for again waits for it. */
  private readonly running = new Map<string, Promise<boolean>>();
  /** How many checks were answered "busy" since the start. */
  busyCount = 0;

  /** `compare` is bcrypt's, or a test's stand-in. */
  constructor(private readonly compare: (password: string, hash: string) => Promise<boolean> = (password, hash) => bcrypt.compare(password, hash)) {}

  /** `users` is user -> bcrypt hash, non-empty and validated by the web config's schema. */
  async check(users: Record<string, string>, credentials: Credentials | undefined): Promise<BasicAuthOutcome> {
    if (!credentials) return 'refused';
    const { user, password } = credentials;
    const known = Object.hasOwn(users, user);
    // An unknown user is checked against a configured hash (same cost factor) and always refused.
    const hash = (known ? users[user] : Object.values(users)[0]) ?? '';
    const key = createHash('sha256')
      .update(JSON.stringify([user, hash, known, password]))
      .digest('hex');
    if (known && this.accepted.has(key)) return 'accepted';
    const refusedUntil = this.refused.get(key);
    if (refusedUntil !== undefined) {
      if (refusedUntil > Date.now()) return 'refused';
      this.refused.delete(key);
    }
    let running = this.running.get(key);
    if (!running) {
      if (this.running.size >= MAX_CHECKS_AT_ONCE) {
        this.busyCount++;
        return 'busy';
      }
      // The async compare yields to the event loop between rounds, so probes are not held up.
      running = this.compare(password, hash)
        .then((matches) => {
          this.remember(key, known && matches);
          return known && matches;
        })
        .finally(() => this.running.delete(key));
      this.running.set(key, running);
    }
    return (await running) ? 'accepted' : 'refused';
  }

  private remember(key: string, accepted: boolean): void {
    if (accepted) {
      if (this.accepted.size >= REMEMBERED_CHECKS) this.accepted.delete(this.accepted.values().next().value as string);
      this.accepted.add(key);
      return;
    }
    // A Map iterates in insertion order: the first entry is the oldest.
    if (this.refused.size >= REMEMBERED_REFUSALS) this.refused.delete(this.refused.keys().next().value as string);
    this.refused.set(key, Date.now() + REFUSAL_MEMORY_MS);
  }
}
