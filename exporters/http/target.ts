/**
 * An http target: a URL, with http:// assumed when it names no scheme, as in blackbox_exporter.
 * Credentials are refused: the target becomes a label, and basic_auth takes them from a file.
 */
import { parseUrlTarget, type TargetParse, type UrlTarget, type UrlTargetRules } from '../../src/net/target-url';

export type HttpTarget = UrlTarget;

/** Made once: every probe parses its target with them. */
const HTTP_TARGET_RULES: UrlTargetRules = {
  prober: 'http',
  schemes: { http: 80, https: 443 },
  bareScheme: 'http',
  expected: 'a URL',
  use: 'http:// or https://',
  credentialsHint: 'use basic_auth.password_file',
};

export function parseHttpTarget(target: string): TargetParse<HttpTarget> {
  return parseUrlTarget(target, HTTP_TARGET_RULES);
}
