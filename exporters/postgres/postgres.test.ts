/**
 * The postgres prober against real PostgreSQL 15 clusters (tests/support/postgres-server.ts),
 * driven the way the checkpoint drives it: modules from YAML through parseConfig, probes through
 * runProbe, answers read from the exposition text.
 *
 * Three clusters: a primary serving TLS with the test CA's localhost certificate, its streaming
 * replica serving the wrong-host certificate (so one cluster covers both the replica and the
 * name-mismatch cases), and one without TLS. Plus a TCP listener that accepts and never answers,
 * to stall the TLS and startup phases.
 */
import * as fs from 'node:fs/promises';
import net from 'node:net';
import * as path from 'node:path';
import { makeTestPki, type TestPki } from '../../tests/support/certs';
import { dedent, eventually, probeWith, recordProbeSignals, socketResources, type ProbeOptions, type Probed } from '../../tests/support/probe-harness';
import { PROBE_USER, startPostgres, type PostgresServer } from '../../tests/support/postgres-server';
import { refusedPort } from '../../tests/support/ports';
import { startUnacceptingListener } from '../../tests/support/unaccepting-listener';
import { builtInProbers } from '../../src/cli/probers';
import { parseConfig } from '../../src/config/load';
import { postgresProber } from '.';

let pki: TestPki;
let primary: PostgresServer;
let replica: PostgresServer;
let plain: PostgresServer;
/** Clusters still running, for the after-each check; the stopped-server test takes one out. */
let running: PostgresServer[];
let files: { password: string; wrongPassword: string; missing: string };
let blackHole: { server: net.Server; port: number; sockets: Set<net.Socket> };
let baselineSockets: number;
let signals: ReturnType<typeof recordProbeSignals>;

const WRONG_PASSWORD = 'not-the-password-7f3a';
const PASSWORD_ENV = 'CHECKPOINT_TEST_PG_PASSWORD';

beforeAll(async () => {
  pki = await makeTestPki();
  primary = await startPostgres({ tls: pki.server });
  [replica, plain] = await Promise.all([startPostgres({ primaryOf: primary, tls: pki.wrongHost }), startPostgres({ password: primary.password })]);
  running = [primary, replica, plain];
  // A commit streamed and replayed: the replica's WAL receiver is connected, and its lag has a replayed transaction to measure.
  await primary.admin('CREATE TABLE replication_check AS SELECT 1 AS one');
  const replayed = await eventually(async () => (await replica.admin("SELECT to_regclass('replication_check') IS NOT NULL AS ok"))[0]?.ok === 't', 15_000);
  if (!replayed) throw new Error("the replica did not replay its primary's commit within 15 s");
  const file = (name: string) => path.join(pki.dir, name);
  files = { password: file('pg-password'), wrongPassword: file('pg-wrong-password'), missing: file('no-such-file') };
  // With a trailing newline, as editors write it: readSecret trims it.
  await fs.writeFile(files.password, `${primary.password}\n`);
  await fs.writeFile(files.wrongPassword, WRONG_PASSWORD);
  blackHole = await startBlackHole();
  baselineSockets = socketResources();
  signals = recordProbeSignals();
});

afterAll(async () => {
  signals?.restore();
  // The replica first: stopping its primary first would only make it complain in its log.
  await replica?.stop();
  await Promise.all([primary?.stop(), plain?.stop()]);
  await new Promise((resolve) => blackHole?.server.close(resolve));
  await pki?.cleanup();
});

// Every probe leaves nothing behind: no listener on its deadline signal, no socket in this process
// or at the black hole, and no session of the probe's role on any server.
afterEach(async () => {
  const left = signals.listenersLeft();
  expect(left).toEqual(left.map(() => 0));
  await eventually(() => blackHole.sockets.size === 0 && socketResources() <= baselineSockets);
  expect({ blackHole: blackHole.sockets.size, inProcess: socketResources() }).toEqual({ blackHole: 0, inProcess: baselineSockets });
  for (const server of running) {
    expect(await eventually(async () => (await probeSessions(server)) === 0, 3000)).toBe(true);
  }
});

/** Sessions of the probe's role on `server`, optionally only those with `applicationName`. */
async function probeSessions(server: PostgresServer, applicationName?: string): Promise<number> {
  const [row] = await server.admin('SELECT count(*) AS n FROM pg_stat_activity WHERE usename = $1 AND ($2::text IS NULL OR application_name = $2)', [PROBE_USER, applicationName ?? null]);
  if (!row) throw new Error('count(*) returned no row');
  return Number(row.n);
}

/** A module for PROBE_USER with the password file, the test CA, and `extra` keys on top (YAML). */
function section(extra = ''): string {
  return [`user: ${PROBE_USER}`, `password_file: ${files.password}`, 'tls_config:', `  ca_file: ${pki.caCertPath}`, ...(extra ? [dedent(extra)] : [])].join('\n');
}

/** A module without TLS keys (for sslmode disable, where tls_config is refused). */
function plainSection(extra = ''): string {
  return [`user: ${PROBE_USER}`, `password_file: ${files.password}`, 'sslmode: disable', ...(extra ? [dedent(extra)] : [])].join('\n');
}

function probe(target: string, postgresSection: string, options: ProbeOptions = {}): Promise<Probed> {
  return probeWith('postgres', target, postgresSection, options);
}

function versionLabels(probed: Probed): string | undefined {
  return [...probed.metrics.keys()].find((key) => key.startsWith('probe_postgres_version_info{'));
}

describe('a healthy primary', () => {
  test('verify-full with the CA succeeds and reports the connection, the query and the server', async () => {
    const probed = await probe(primary.address, section());
    expect(probed.result.success).toBe(true);
    expect(probed.get('probe_postgres_ssl')).toBe(1);
    expect(probed.get('probe_ssl_earliest_cert_expiry')).toBe(pki.server.notAfter.getTime() / 1000);
    expect(probed.get('probe_tls_version_info', { version: 'TLS 1.3' })).toBe(1);
    expect(probed.get('probe_postgres_query_rows')).toBe(1);
    expect(probed.get('probe_postgres_query_duration_seconds')).toBeGreaterThan(0);
    expect(versionLabels(probed)).toMatch(/^probe_postgres_version_info\{server_version="15\.\d+[^"]*",version="15\.\d+"\}$/);
    expect(probed.get('probe_postgres_server_version_num')).toBeGreaterThanOrEqual(150000);
    expect(probed.get('probe_postgres_server_version_num')).toBeLessThan(160000);
    expect(probed.get('probe_postgres_in_recovery')).toBe(0);
    expect(probed.get('probe_postgres_connections')).toBeGreaterThanOrEqual(1);
    expect(probed.get('probe_postgres_max_connections')).toBe(30);
    expect(probed.get('probe_postgres_reserved_connections')).toBe(3);
    expect(probed.names.has('probe_postgres_replication_lag_seconds')).toBe(false);
    expect(probed.get('probe_ip_protocol')).toBe(4);
    for (const phase of ['resolve', 'connect', 'tls', 'auth', 'query', 'stats']) {
      expect(probed.get('probe_postgres_duration_seconds', { phase })).toBeGreaterThanOrEqual(0);
    }
    for (const phase of ['connect', 'tls', 'auth', 'query', 'stats']) {
      expect(probed.get('probe_postgres_duration_seconds', { phase })).toBeGreaterThan(0);
    }
    const steps = probed.result.log.lines.map((line) => line.msg);
    expect(steps).toEqual([
      'Beginning probe',
      'Phase resolve',
      'Resolved target address',
      'Phase connect',
      'Successfully dialed',
      'Phase tls',
      'TLS handshake done',
      'Phase auth',
      'Authenticated',
      'Phase query',
      'Query done',
      'Phase stats',
      'Server stats read',
      'Closing connection',
      'Probe succeeded',
    ]);
  });

  test('a postgresql:// URL with a host name and a database is verified against that name', async () => {
    const probed = await probe(`postgresql://localhost:${primary.port}/postgres`, section('preferred_ip_protocol: ip4'));
    expect(probed.result.success).toBe(true);
    expect(probed.get('probe_postgres_ssl')).toBe(1);
  });

  test('sslmode require encrypts without verifying, and sslmode disable talks plain text', async () => {
    const required = await probe(
      primary.address,
      `
      user: ${PROBE_USER}
      password_file: ${files.password}
      sslmode: require
    `,
    );
    expect(required.result.success).toBe(true);
    expect(required.get('probe_postgres_ssl')).toBe(1);

    const disabled = await probe(primary.address, plainSection());
    expect(disabled.result.success).toBe(true);
    expect(disabled.get('probe_postgres_ssl')).toBe(0);
    expect(disabled.get('probe_postgres_duration_seconds', { phase: 'tls' })).toBe(0);
    expect(disabled.names.has('probe_ssl_earliest_cert_expiry')).toBe(false);
  });

  test('the password can come from an environment variable', async () => {
    process.env[PASSWORD_ENV] = primary.password;
    try {
      const probed = await probe(primary.address, plainSection().replace(`password_file: ${files.password}`, `password_env: ${PASSWORD_ENV}`));
      expect(probed.result.success).toBe(true);
    } finally {
      delete process.env[PASSWORD_ENV];
    }
  });

  test("the query's rows are counted without being kept, and a command counts the rows it affected", async () => {
    const selected = await probe(primary.address, section('query: SELECT generate_series(1, 5000)\nmax_rows: 5000'));
    expect(selected.get('probe_postgres_query_rows')).toBe(5000);
    const updated = await probe(primary.address, section('query: "CREATE TEMP TABLE t AS SELECT 1 AS one; UPDATE t SET one = 2"'));
    expect(updated.result.success).toBe(true);
    expect(updated.get('probe_postgres_query_rows')).toBe(1);
  });
});

describe('max_rows', () => {
  test('a query returning more rows than max_rows (default 1000) fails with reason assertion, naming the limit', async () => {
    const within = await probe(primary.address, section('query: SELECT generate_series(1, 1000)'));
    expect(within.result.success).toBe(true);
    expect(within.get('probe_postgres_query_rows')).toBe(1000);

    const over = await probe(primary.address, section('query: SELECT generate_series(1, 1001)'));
    expect(over.reason).toBe('assertion');
    expect(over.result.failure?.message).toBe('the query returned more than max_rows (1000) rows');
    // Refused before its last row: no count was measured, so none is reported.
    expect(over.names.has('probe_postgres_query_rows')).toBe(false);
  });

  test('a query of millions of rows is not read to its end: the server is told to stop it', async () => {
    const probed = await probe(
      primary.address,
      section(`
      query: SELECT generate_series(1, 50000000), repeat('x', 100)
      application_name: checkpoint-flood
      statement_timeout: 0s
      max_rows: 10
    `),
    );
    expect(probed.reason).toBe('assertion');
    expect(probed.result.failure?.message).toBe('the query returned more than max_rows (10) rows');
    expect(probed.logText).toContain('msg="Cancel request delivered"');
    // Read whole, 50 million rows of 100 bytes would outlast the deadline; the backend is gone at once.
    expect(await eventually(async () => (await probeSessions(primary, 'checkpoint-flood')) === 0, 3000)).toBe(true);
  });
});

describe('max_message_bytes', () => {
  test('a row longer than max_message_bytes (default 1 MiB) fails with reason protocol, naming the limit; a larger limit reads it', async () => {
    const over = await probe(primary.address, section("query: SELECT repeat('x', 2000000)"));
    expect(over.reason).toBe('protocol');
    expect(over.result.failure?.message).toMatch(/^the server sent a message \("D"\) of \d+ bytes, more than max_message_bytes \(1048576\)$/);

    const within = await probe(primary.address, section("query: SELECT repeat('x', 2000000)\nmax_message_bytes: 4194304"));
    expect(within.result.success).toBe(true);
  });

  test('a server that declares a 2 GiB message is dropped at its header, before pg buffers it', async () => {
    const sockets = new Set<net.Socket>();
    const hostile = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
      // After the startup message, a NoticeResponse that claims 0x7ffffff0 bytes, then filler.
      socket.once('data', () => {
        const header = Buffer.alloc(5);
        header.write('N', 0, 'latin1');
        header.writeUInt32BE(0x7ffffff0, 1);
        socket.write(header);
        socket.write(Buffer.alloc(1024 * 1024, 0x41));
      });
    });
    await new Promise<void>((resolve) => hostile.listen({ host: '127.0.0.1', port: 0 }, resolve));
    try {
      const { port } = hostile.address() as net.AddressInfo;
      const probed = await probe(`127.0.0.1:${port}`, 'user: probe\nsslmode: disable\npreferred_ip_protocol: ip4');
      expect(probed.reason).toBe('protocol');
      expect(probed.result.failure?.message).toBe(`the server sent a message ("N") of ${0x7ffffff0 - 4} bytes, more than max_message_bytes (1048576)`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => hostile.close(() => resolve()));
    }
  });
});

describe('expectations on the first value', () => {
  test('expect_value compares the value as the server prints it', async () => {
    const probed = await probe(
      primary.address,
      section(`
      query: SELECT 1.50::numeric, 'second column'
      expect_value: "1.50"
    `),
    );
    expect(probed.result.success).toBe(true);
  });

  test('a different value fails with reason assertion, and the server facts are still reported', async () => {
    const probed = await probe(
      primary.address,
      section(`
      query: SELECT 'replica'
      expect_value: primary
    `),
    );
    expect(probed.reason).toBe('assertion');
    expect(probed.result.failure?.message).toBe('the first value "replica" is not the expected "primary"');
    expect(probed.get('probe_postgres_in_recovery')).toBe(0);
  });

  test('expect_regexp matches the first value, and fails with reason assertion when it does not', async () => {
    const matched = await probe(
      primary.address,
      section(`
      query: SELECT version()
      expect_regexp: "^PostgreSQL 15\\\\."
    `),
    );
    expect(matched.result.success).toBe(true);
    const unmatched = await probe(
      primary.address,
      section(`
      query: SELECT version()
      expect_regexp: "^PostgreSQL 9\\\\."
    `),
    );
    expect(unmatched.reason).toBe('assertion');
  });

  test('no row, or NULL, meets no expectation', async () => {
    const none = await probe(
      primary.address,
      section(`
      query: SELECT 1 WHERE false
      expect_value: "1"
    `),
    );
    expect(none.reason).toBe('assertion');
    expect(none.get('probe_postgres_query_rows')).toBe(0);
    const nullValue = await probe(
      primary.address,
      section(`
      query: SELECT NULL
      expect_regexp: ".*"
    `),
    );
    expect(nullValue.reason).toBe('assertion');
  });

  test("a query the server refuses fails with reason assertion and the server's message", async () => {
    const probed = await probe(primary.address, section('query: SELECT 1/0'));
    expect(probed.reason).toBe('assertion');
    expect(probed.result.failure?.message).toBe('server error 22012 in the query: division by zero');
  });
});

describe('credentials', () => {
  test('a wrong password fails with reason auth, and no password reaches the log or the metrics', async () => {
    const probed = await probe(primary.address, section().replace(files.password, files.wrongPassword));
    expect(probed.reason).toBe('auth');
    expect(probed.result.failure?.message).toContain('password authentication failed');
    const metricsText = probed.result.registry.metrics();
    for (const secret of [WRONG_PASSWORD, primary.password]) {
      expect(probed.logText).not.toContain(secret);
      expect(probed.result.failure?.message).not.toContain(secret);
      expect(metricsText).not.toContain(secret);
    }
    expect(probed.names.has('probe_postgres_server_version_num')).toBe(false);
    // The handshake succeeded before the login failed: its facts are still reported.
    expect(probed.get('probe_postgres_ssl')).toBe(1);
    expect(probed.get('probe_ssl_earliest_cert_expiry')).toBe(pki.server.notAfter.getTime() / 1000);
  });

  test('a successful probe does not log the password either', async () => {
    const probed = await probe(primary.address, section());
    expect(probed.result.success).toBe(true);
    expect(probed.logText).not.toContain(primary.password);
  });

  test('no password configured fails with reason auth when the server asks for one', async () => {
    const probed = await probe(
      primary.address,
      `
      user: ${PROBE_USER}
      sslmode: disable
    `,
    );
    expect(probed.reason).toBe('auth');
    expect(probed.result.failure?.message).toBe('the server asks for a password, and the module has neither password_file nor password_env');
  });

  test('a missing password file fails with reason config before connecting', async () => {
    const probed = await probe(primary.address, section().replace(files.password, files.missing));
    expect(probed.reason).toBe('config');
    expect(probed.get('probe_postgres_duration_seconds', { phase: 'connect' })).toBe(0);
  });

  test('an unknown database fails with reason config', async () => {
    const probed = await probe(`postgres://${primary.address}/no_such_db`, section());
    expect(probed.reason).toBe('config');
    expect(probed.result.failure?.message).toContain('3D000');
  });
});

describe('TLS', () => {
  test('verify-full against a certificate for another name fails with reason tls', async () => {
    const probed = await probe(replica.address, section('sslmode: verify-full'));
    expect(probed.reason).toBe('tls');
    expect(probed.result.failure?.message).toContain('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  test('verify-ca accepts that certificate: the chain leads to the CA, the name is not checked', async () => {
    const probed = await probe(replica.address, section('sslmode: verify-ca'));
    expect(probed.result.success).toBe(true);
    expect(probed.get('probe_ssl_earliest_cert_expiry')).toBe(pki.wrongHost.notAfter.getTime() / 1000);
  });

  test('verify-full without the CA fails with reason tls', async () => {
    const probed = await probe(
      primary.address,
      `
      user: ${PROBE_USER}
      password_file: ${files.password}
    `,
    );
    expect(probed.reason).toBe('tls');
  });

  test('sslmode require against a server without TLS fails with reason tls; disable works', async () => {
    const required = await probe(plain.address, section('sslmode: require'));
    expect(required.reason).toBe('tls');
    expect(required.result.failure?.message).toBe('the server does not offer TLS (ssl = off), and the module requires it (sslmode)');
    const disabled = await probe(plain.address, plainSection());
    expect(disabled.result.success).toBe(true);
    expect(disabled.get('probe_postgres_ssl')).toBe(0);
  });
});

describe('facts only once measured', () => {
  test('a refused connection or a refused TLS reports no session, query or server facts', async () => {
    for (const probed of [await probe(`127.0.0.1:${await refusedPort()}`, section()), await probe(plain.address, section('sslmode: require'))]) {
      expect(probed.result.success).toBe(false);
      for (const name of ['probe_postgres_ssl', 'probe_postgres_query_rows', 'probe_postgres_query_duration_seconds', 'probe_postgres_in_recovery']) {
        expect([probed.reason, name, probed.names.has(name)]).toEqual([probed.reason, name, false]);
      }
    }
  });
});

describe('a replica', () => {
  test('reports that it is in recovery, and its replication lag', async () => {
    const probed = await probe(
      replica.address,
      section(`
      sslmode: verify-ca
      query: SELECT pg_is_in_recovery()
      expect_value: "t"
    `),
    );
    expect(probed.result.success).toBe(true);
    expect(probed.get('probe_postgres_in_recovery')).toBe(1);
    expect(probed.get('probe_postgres_replication_lag_seconds')).toBeGreaterThanOrEqual(0);
    expect(probed.get('probe_postgres_replication_lag_bytes')).toBeGreaterThanOrEqual(0);
  });

  test('caught up, it lags 0 however long ago its last transaction was; with replay paused, it reports the replay delay', async () => {
    const lagSection = section(`
      sslmode: verify-ca
      query: SELECT 1
    `);
    const lagOf = async (): Promise<{ seconds?: number; bytes?: number }> => {
      const probed = await probe(replica.address, lagSection);
      return { seconds: probed.get('probe_postgres_replication_lag_seconds'), bytes: probed.get('probe_postgres_replication_lag_bytes') };
    };
    // A write, then nothing: once replayed, nothing is left to replay, and the lag is 0, not the
    // (growing) age of that last transaction.
    await primary.admin('CREATE TABLE IF NOT EXISTS lag_probe (n int)');
    await primary.admin('INSERT INTO lag_probe VALUES (1)');
    expect(await eventually(async () => JSON.stringify(await lagOf()) === JSON.stringify({ seconds: 0, bytes: 0 }), 15_000)).toBe(true);

    await replica.admin('SELECT pg_wal_replay_pause()');
    try {
      await primary.admin('INSERT INTO lag_probe VALUES (2)');
      expect(await eventually(async () => ((await lagOf()).bytes ?? 0) > 0, 15_000)).toBe(true);
      expect((await lagOf()).seconds).toBeGreaterThan(0);
    } finally {
      await replica.admin('SELECT pg_wal_replay_resume()');
    }
  });
});

describe('deadlines and cancellation', () => {
  test('a query past the deadline is cancelled on the server, and its connection is gone', async () => {
    const probed = await probe(
      primary.address,
      section(`
      query: SELECT pg_sleep(30)
      application_name: checkpoint-sleeper
      statement_timeout: 0s
    `),
      { deadlineSeconds: 1 },
    );
    expect(probed.reason).toBe('timeout');
    expect(probed.result.durationSeconds).toBeGreaterThanOrEqual(0.9);
    expect(probed.result.durationSeconds).toBeLessThan(4);
    expect(probed.result.failure?.message).toBe('deadline reached in the query phase; the server was asked to cancel the query');
    expect(probed.logText).toContain('msg="Cancel request delivered"');
    expect(probed.get('probe_postgres_duration_seconds', { phase: 'query' })).toBeGreaterThan(0.5);
    // Without the cancel request the backend would sleep on for 29 seconds, its client long gone.
    expect(await eventually(async () => (await probeSessions(primary, 'checkpoint-sleeper')) === 0, 3000)).toBe(true);
  });

  test('statement_timeout is sent at startup and stops the query on the server', async () => {
    const probed = await probe(
      primary.address,
      section(`
      query: SELECT pg_sleep(10)
      statement_timeout: 300ms
    `),
    );
    expect(probed.reason).toBe('timeout');
    expect(probed.result.failure?.message).toContain('57014');
    expect(probed.result.durationSeconds).toBeLessThan(4);
  });

  test('a connect that never completes times out in the connect phase', async () => {
    const listener = await startUnacceptingListener();
    try {
      const probed = await probe(`127.0.0.1:${listener.port}`, section(), { deadlineSeconds: 1 });
      expect(probed.reason).toBe('timeout');
      expect(probed.result.failure?.message).toBe('deadline reached in the connect phase');
      expect(probed.result.durationSeconds).toBeLessThan(4);
    } finally {
      listener.close();
    }
  });

  test('a server that never answers the TLS request times out in the tls phase', async () => {
    const probed = await probe(`127.0.0.1:${blackHole.port}`, section(), { deadlineSeconds: 1 });
    expect(probed.reason).toBe('timeout');
    expect(probed.result.failure?.message).toBe('deadline reached in the tls phase');
    expect(probed.result.durationSeconds).toBeLessThan(4);
  });

  test('a server that never answers the startup message times out in the auth phase', async () => {
    const probed = await probe(`127.0.0.1:${blackHole.port}`, plainSection(), { deadlineSeconds: 1 });
    expect(probed.reason).toBe('timeout');
    expect(probed.result.failure?.message).toBe('deadline reached in the auth phase');
    expect(probed.result.durationSeconds).toBeLessThan(4);
  });
});

describe('server stats', () => {
  test('need no grant: the probe role is a plain LOGIN role', async () => {
    const [role] = await primary.admin("SELECT rolsuper, pg_has_role($1, 'pg_monitor', 'MEMBER') AS monitor FROM pg_roles WHERE rolname = $1", [PROBE_USER]);
    expect(role).toEqual({ rolsuper: 'f', monitor: 'f' });
  });

  test('a stats query that fails leaves its metrics out and the probe successful', async () => {
    await plain.admin('REVOKE EXECUTE ON FUNCTION pg_last_wal_replay_lsn() FROM PUBLIC');
    try {
      const probed = await probe(plain.address, plainSection());
      expect(probed.result.success).toBe(true);
      expect(probed.names.has('probe_postgres_in_recovery')).toBe(false);
      expect(probed.names.has('probe_postgres_version_info')).toBe(true);
      expect(probed.logText).toContain('Server stats query failed');
    } finally {
      await plain.admin('GRANT EXECUTE ON FUNCTION pg_last_wal_replay_lsn() TO PUBLIC');
    }
  });

  test('server_stats: false skips them', async () => {
    const probed = await probe(primary.address, section('server_stats: false'));
    expect(probed.result.success).toBe(true);
    expect(probed.names.has('probe_postgres_in_recovery')).toBe(false);
    expect(probed.get('probe_postgres_duration_seconds', { phase: 'stats' })).toBe(0);
  });
});

describe('targets and config', () => {
  test('targets with credentials, parameters or another scheme are refused', () => {
    const check = (target: string) => {
      const parsed = postgresProber.parseTarget(target);
      return 'problem' in parsed ? parsed.problem : undefined;
    };
    expect(check('postgres://probe:secret@db.example/app')).toBe('credentials do not belong in a target, which becomes a label: use user and password_file in the module');
    expect(check('postgres://db.example/app?sslmode=disable')).toBe('connection parameters do not belong in a target: set sslmode and the rest in the module');
    expect(check('mysql://db.example')).toBe('target scheme "mysql" is not supported by the postgres prober (use postgres://, postgresql:// or host:port)');
    for (const target of ['db.example', 'db.example:5433', '[::1]:5432', 'postgres://[::1]/app', 'postgresql://db.example:6432/app']) expect(check(target)).toBeUndefined();
  });

  test('sslmode prefer is refused: a probe must not fall back to plain text', () => {
    expect(() => parseConfig(`modules:\n  db:\n    prober: postgres\n    postgres:\n      user: probe\n      sslmode: prefer\n`, 'pg.yml', builtInProbers)).toThrow(
      'pg.yml:6:16: modules.db.postgres.sslmode: "prefer" is not one of: disable, require, verify-ca, verify-full',
    );
  });

  test('a name that does not resolve fails with reason dns', async () => {
    const probed = await probe('does-not-exist.invalid:5432', plainSection('preferred_ip_protocol: ip4'));
    expect(probed.reason).toBe('dns');
  });

  // Last: it stops a cluster.
  test('a stopped server fails with reason connect', async () => {
    running = running.filter((server) => server !== plain);
    await plain.stop();
    const probed = await probe(plain.address, plainSection());
    expect(probed.reason).toBe('connect');
    expect(probed.result.failure?.message).toContain('ECONNREFUSED');
  });
});

/** Accepts connections and never writes; reads and drops what arrives, so it notices when a client goes away. */
async function startBlackHole(): Promise<{ server: net.Server; port: number; sockets: Set<net.Socket> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    socket.resume();
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  return { server, port: (server.address() as net.AddressInfo).port, sockets };
}
