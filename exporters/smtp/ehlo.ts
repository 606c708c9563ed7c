/** What a server says about itself in its EHLO reply: the keywords it supports and their parameters. */
import type { SmtpReply } from './session';

export interface Extensions {
  /** Keyword (uppercase) to its parameters, as the server announced them. */
  params: Map<string, string[]>;
  has(keyword: string): boolean;
  /** The SIZE limit in bytes (0: no limit), when announced with a number. */
  maxSize?: number;
}

/** RFC 5321 ehlo-keyword; a line that is not one is left out (it would only make a junk label). */
const KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;

export function parseExtensions(reply: SmtpReply | undefined): Extensions {
  const params = new Map<string, string[]>();
  for (const line of reply?.lines.slice(1) ?? []) {
    const [keyword = '', ...rest] = line.trim().split(/\s+/);
    if (KEYWORD.test(keyword)) params.set(keyword.toUpperCase(), rest);
  }
  const size = params.get('SIZE')?.[0];
  return {
    params,
    has: (keyword) => params.has(keyword),
    maxSize: size !== undefined && /^\d+$/.test(size) ? Number(size) : undefined,
  };
}
