/**
 * A checkpoint whose undici cannot be loaded (a broken install) fails an h2 probe cleanly: reason
 * `internal` saying why, the connection it opened closed, and the next HTTP/1.x probe unaffected.
 */
import { targetsForSuite } from '../../tests/support/http-targets';
import { eventually, probeWith } from '../../tests/support/probe-harness';

jest.mock('undici', () => {
  throw new Error("Cannot find module 'undici'\nRequire stack:\n- /app/dist/checkpoint.js");
});

const suite = targetsForSuite();

test('an h2 probe fails as internal with the first line of the reason, and leaves no connection open', async () => {
  const sockets = () => process.getActiveResourcesInfo().filter((resource) => ['TCPSocketWrap', 'TLSWrap'].includes(resource)).length;
  const before = sockets();
  const h2 = await probeWith('http', `${suite.targets.h2}/ok`, `tls_config: {ca_file: ${suite.pki.caCertPath}}`);
  expect(h2.reason).toBe('internal');
  expect(h2.result.failure?.message).toBe("the HTTP/2 client could not be loaded: Cannot find module 'undici'");
  expect(await eventually(() => sockets() <= before, 5000)).toBe(true);
  expect((await probeWith('http', `${suite.targets.http}/ok`)).result.success).toBe(true);
});
