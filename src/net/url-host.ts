/** The host of a URL target without IPv6 brackets, or undefined when it is not a URL. */
export function urlHost(target: string): string | undefined {
  try {
    return new URL(target).hostname.replace(/^\[(.*)\]$/, '$1') || undefined;
  } catch {
    return undefined;
  }
}
