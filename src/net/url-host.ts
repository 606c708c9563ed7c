/** A URL's hostname as a resolver, connect() and the allowed-targets rules take it: an IPv6 literal without its brackets. */
export function unbracketedHost(hostname: string): string {
  return hostname.replace(/^\[(.*)\]$/, '$1');
}

/** The host of a URL target, or undefined when it is not a URL. */
export function urlHost(target: string): string | undefined {
  try {
    return unbracketedHost(new URL(target).hostname) || undefined;
  } catch {
    return undefined;
  }
}
