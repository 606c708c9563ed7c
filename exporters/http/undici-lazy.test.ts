/**
 * undici serves HTTP/2 only, so a checkpoint whose targets all speak HTTP/1.x never loads it (its
 * memory and start-up cost). The real undici runs; the factory only notes when it is first required.
 */
import { targetsForSuite } from '../../tests/support/http-targets';

let mockUndiciLoaded = false;
jest.mock('undici', () => {
  mockUndiciLoaded = true;
  return jest.requireActual<typeof import('undici')>('undici');
});

const suite = targetsForSuite();

test('undici is loaded the first time a target negotiates HTTP/2, not before', async () => {
  // The probers are imported only now that the flag exists, so an import of undici anywhere on
  // their path shows as a failed expectation below.
  const { probeWith } = await import('../../tests/support/probe-harness');
  const tls = `tls_config: {ca_file: ${suite.pki.caCertPath}}`;
  expect((await probeWith('http', `${suite.targets.http}/ok`)).result.success).toBe(true);
  // Offered h2 in ALPN, the server chose http/1.1.
  expect((await probeWith('http', `${suite.targets.https}/ok`, tls)).result.success).toBe(true);
  expect((await probeWith('http', `${suite.targets.h2}/ok`, `${tls}\nenable_http2: false`)).result.success).toBe(true);
  expect(mockUndiciLoaded).toBe(false);

  const h2 = await probeWith('http', `${suite.targets.h2}/ok`, tls);
  expect(h2.result.success).toBe(true);
  expect(h2.get('probe_http_version')).toBe(2);
  expect(mockUndiciLoaded).toBe(true);
});
