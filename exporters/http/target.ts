/** What an http target means: a URL, with http:// assumed when it names no scheme, as in blackbox_exporter. */
export function withDefaultScheme(target: string): string {
  return /^https?:\/\//i.test(target) ? target : /^[a-z][a-z0-9+.-]*:\/\//i.test(target) ? target : `http://${target}`;
}
