/**
 * HTTP basic auth against the web config's bcrypt hashes, as exporter-toolkit checks them:
 * bcrypt is slow on purpose (tens of ms), so a successful check is remembered, and an unknown
 * user costs as much as a known one so the time taken does not tell which user names exist.
 */
import { createHash } from 'node:crypto';
import bcrypt from 'bcryptjs';

/** Enough for every user of a small team and their scrapers; beyond it the oldest is forgotten. */
const REMEMBERED_CHECKS = 100;

export interface Credentials {
  user: string;
  password: string;
}

/** The user and password of an `Authorization: Basic ...` header, if it is one. */
export function basicCredentials(header: string | undefined): Credentials | undefined {
  const match = /^basic +([A-Za-z0-9+/=]+) *$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
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

  /** `users` is user -> bcrypt hash, non-empty and validated by the web config's schema. */
  async check(users: Record<string, string>, credentials: Credentials | undefined): Promise<boolean> {
    if (!credentials) return false;
    const { user, password } = credentials;
    const hash = Object.hasOwn(users, user) ? users[user] : undefined;
    if (hash === undefined) {
      // Spend what a real check of a configured user would (same cost factor), then refuse.
      await bcrypt.compare(password, Object.values(users)[0]);
      return false;
    }
    const key = createHash('sha256').update(JSON.stringify([user, hash, password])).digest('hex');
    if (this.accepted.has(key)) return true;
    // The async compare yields to the event loop between rounds, so probes are not held up.
    if (!(await bcrypt.compare(password, hash))) return false;
    if (this.accepted.size >= REMEMBERED_CHECKS) this.accepted.delete(this.accepted.values().next().value as string);
    this.accepted.add(key);
    return true;
  }
}
