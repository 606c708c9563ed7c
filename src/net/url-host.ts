/** A URL's hostname as a resolver, connect() and the allowed-targets rules take it: an IPv6 literal without its brackets. */
export function unbracketedHost(hostname: string): string {
  return hostname.replace(/^\[(.*)\]$/, '$1');
}
