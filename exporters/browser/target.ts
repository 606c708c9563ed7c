/**
 * A browser target: the journey's start URL, http:// or https://, with host, path and query.
 * Credentials are refused: the target becomes a label, and a journey logs in with fill steps.
 */
import { parseUrlTarget, type TargetParse, type UrlTarget } from '../../src/net/target-url';

export type BrowserTarget = UrlTarget;

/** The schemes a page of a journey may be loaded from, with their default ports. */
export const PAGE_SCHEMES = { http: 80, https: 443 };

export function parseBrowserTarget(target: string): TargetParse<BrowserTarget> {
  return parseUrlTarget(target, {
    prober: 'browser',
    schemes: PAGE_SCHEMES,
    expected: 'a URL (the browser prober needs the start URL, such as https://app.example.com/login)',
    use: 'http:// or https://',
    credentialsHint: 'log in with fill steps and value_file',
  });
}
