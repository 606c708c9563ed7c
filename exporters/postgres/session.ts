/**
 * One PostgreSQL session over a socket we opened ourselves (so resolve and connect are timed by
 * the shared helpers): pg does the SSLRequest, the TLS upgrade, the startup and authentication on
 * it, and runs the queries. Whatever happens, `close()` leaves no socket open and, when the
 * deadline cut a query short, no query running on the server.
 */
import type net from 'node:net';
import { TLSSocket, type ConnectionOptions } from 'node:tls';
import { MessageSizeLimit } from './message-limit';
import { Client, Query, type CustomTypesConfig, type QueryArrayConfig } from 'pg';
import { abortable } from '../../src/probe/abortable';
import { ProbeFailure } from '../../src/probe/failure';
import type { PhaseTimer } from '../../src/probe/phases';
import type { ProbeLog } from '../../src/probe/probe-log';
import { readTlsFacts, type TlsFacts } from '../../src/net/tls-facts';
import { sendCancelRequest, type BackendKey } from './cancel';
import { classify, type ConversationStage } from './errors';
import type { PostgresPhase } from './metrics';

/** How long a clean goodbye (Terminate, then the server closing) may take before the socket is simply destroyed. */
const CLOSE_WAIT_MS = 1000;

/** Every value as the text the server sent: expectations compare what psql would show, and nothing is parsed for nothing. */
const SERVER_TEXT: CustomTypesConfig = { getTypeParser: () => (value: string) => value };

export interface SessionRequest {
  /** Connected, not yet spoken on. */
  socket: net.Socket;
  /** Where the socket goes, for the cancel request's own connection. */
  address: string;
  port: number;
  user: string;
  database: string;
  password: string | undefined;
  /** Set to upgrade to TLS with these options; undefined for sslmode disable. */
  tls: ConnectionOptions | undefined;
  /** For the log: how `tls` was chosen. */
  sslmode: string;
  applicationName: string;
  statementTimeoutMs: number;
  /** The longest server message read (max_message_bytes); a longer one ends the session. */
  maxMessageBytes: number;
  /** Called once the handshake is done, so the TLS facts are reported even if the login then fails. */
  onTls(facts: TlsFacts | undefined): void;
  timer: PhaseTimer<PostgresPhase>;
  log: ProbeLog;
  signal: AbortSignal;
}

export interface QueryOutcome {
  /** The first row, each value as the server printed it (null for NULL); undefined when no row came back. */
  firstRow: (string | null)[] | undefined;
  /** Rows returned, or for a command that returns none, the rows it affected. */
  rows: number;
}

export interface PostgresSession {
  /** As the server reported it at startup (`server_version`), e.g. "15.8 (Debian 15.8-0+deb12u1)". */
  serverVersion: string | undefined;
  /** Runs `text`; more than `maxRows` rows fail it with reason assertion, and the server is told to stop. */
  query(text: string, stage: 'query' | 'stats', maxRows: number): Promise<QueryOutcome>;
  close(): Promise<void>;
}

/** TLS (when asked for) and authentication, timed as the `tls` and `auth` phases; a session ready for queries. */
export async function openSession(request: SessionRequest): Promise<PostgresSession> {
  const { socket, timer, log, signal } = request;
  // The stages change inside one library call (connect), so they are marked and added, not `time`d.
  let stage: ConversationStage = request.tls ? 'tls' : 'auth';
  timer.enter(stage);
  let stageStarted = performance.now();
  let serverVersion: string | undefined;
  let backend: BackendKey | undefined;
  let queryRunning = false;
  let cancelling: Promise<void> | undefined;
  let closed = false;

  const enterAuth = () => {
    timer.add('tls', (performance.now() - stageStarted) / 1000);
    stage = 'auth';
    timer.enter(stage);
    stageStarted = performance.now();
    log.info('Phase auth', { user: request.user, database: request.database });
  };

  const messages = new MessageSizeLimit(request.maxMessageBytes);
  messages.watch(socket, { sslAnswerFirst: request.tls !== undefined });
  let client: Client;
  try {
    client = newClient(request);
  } catch (error) {
    socket.destroy();
    throw error;
  }
  const connection = client.connection;
  // Errors also arrive as the rejection of whatever was waiting; this only keeps a late one (after
  // the socket was destroyed) from being an unhandled 'error' event.
  client.on('error', () => undefined);
  socket.on('error', () => undefined);
  connection.on('parameterStatus', (message: { parameterName: string; parameterValue: string }) => {
    if (message.parameterName === 'server_version') serverVersion = message.parameterValue;
  });
  connection.on('backendKeyData', (message: { processID: number; secretKey: number }) => {
    backend = { processId: message.processID, secretKey: message.secretKey };
  });
  connection.once('sslconnect', () => {
    const secure = connection.stream;
    if (!(secure instanceof TLSSocket)) return;
    messages.watch(secure);
    secure.on('error', () => undefined);
    secure.once('secureConnect', () => {
      const facts = readTlsFacts(secure);
      log.info('TLS handshake done', {
        version: secure.getProtocol() ?? 'unknown',
        cipher: secure.getCipher().name,
        earliest_cert_expiry: facts ? new Date(facts.earliestExpirySeconds * 1000).toISOString() : 'none',
      });
      request.onTls(facts);
      enterAuth();
    });
  });

  const streams = () => [socket, connection.stream as net.Socket];
  const destroy = () => {
    for (const stream of streams()) stream.destroy();
  };
  // At the deadline, or when a query returns more rows than it may: drop the connection at once,
  // and if a query was running, ask the server to stop it; close() waits for that request to be delivered.
  const abandon = () => {
    destroy();
    if (queryRunning && backend) cancelling ??= sendCancelRequest(request.address, request.port, backend, log);
  };
  signal.addEventListener('abort', abandon, { once: true });

  const close = async () => {
    if (closed) return;
    closed = true;
    signal.removeEventListener('abort', abandon);
    if (!signal.aborted && connection.stream.writable) {
      log.info('Closing connection');
      await withinMs(client.end(), CLOSE_WAIT_MS).catch(() => undefined);
    }
    destroy();
    await cancelling;
  };

  if (request.tls) log.info('Phase tls', { sslmode: request.sslmode, server_name: request.tls.host });
  else log.info('Phase auth', { user: request.user, database: request.database, sslmode: request.sslmode });
  try {
    await abortable(client.connect(), signal);
  } catch (error) {
    timer.add(stage, (performance.now() - stageStarted) / 1000);
    await close();
    // After the deadline the runtime says where it was stuck (the stage marked above).
    if (signal.aborted) throw error;
    throw messages.failure ?? classify(error, stage);
  }
  timer.add(stage, (performance.now() - stageStarted) / 1000);
  log.info('Authenticated', { server_version: serverVersion ?? 'unknown', backend_pid: backend?.processId ?? 'unknown' });

  return {
    serverVersion,
    close,
    async query(text, queryStage, maxRows) {
      queryRunning = true;
      try {
        return await abortable(runQuery(client, text, maxRows), signal);
      } catch (error) {
        if (signal.aborted) {
          throw new ProbeFailure('timeout', `deadline reached in the ${queryStage} phase${backend ? '; the server was asked to cancel the query' : ''}`);
        }
        if (error instanceof TooManyRows) {
          abandon();
          throw new ProbeFailure('assertion', error.message);
        }
        if (messages.failure) {
          abandon();
          throw messages.failure;
        }
        throw classify(error, queryStage);
      } finally {
        queryRunning = false;
      }
    },
  };
}

/** Every parameter given, so that no PG* environment variable of the checkpoint's process and no ~/.pgpass decides anything. */
function newClient(request: SessionRequest): Client {
  return new Client({
    host: request.address,
    port: request.port,
    user: request.user,
    database: request.database,
    password: () => {
      if (request.password === undefined) throw new ProbeFailure('auth', 'the server asks for a password, and the module has neither password_file nor password_env');
      return request.password;
    },
    ssl: request.tls ?? false,
    sslnegotiation: 'postgres',
    application_name: request.applicationName,
    statement_timeout: request.statementTimeoutMs > 0 ? request.statementTimeoutMs : false,
    stream: () => alreadyConnected(request.socket),
  });
}

class TooManyRows extends Error {
  constructor(maxRows: number) {
    super(`the query returned more than max_rows (${maxRows}) rows`);
  }
}

/**
 * Runs `text` without keeping its rows: only the first row and a count. Past `maxRows` it gives up
 * (TooManyRows), so a query that returns millions of rows is not read to its end.
 */
function runQuery(client: Client, text: string, maxRows: number): Promise<QueryOutcome> {
  return new Promise((resolve, reject) => {
    const config: QueryArrayConfig = { text, rowMode: 'array', types: SERVER_TEXT };
    const query = new Query(config);
    let firstRow: (string | null)[] | undefined;
    let returned = 0;
    query.on('row', (row: (string | null)[]) => {
      firstRow ??= row;
      if (++returned > maxRows) reject(new TooManyRows(maxRows));
    });
    query.on('error', reject);
    query.on('end', (results: unknown) => {
      // A query of several statements ends with one result per statement; the last one's count counts.
      const last = (Array.isArray(results) ? results[results.length - 1] : results) as { rowCount: number | null } | undefined;
      resolve({ firstRow, rows: returned > 0 ? returned : (last?.rowCount ?? 0) });
    });
    client.query(query);
  });
}

/**
 * pg connects the stream it is given; ours is connected already, so its connect() only reports
 * that, on the next tick as a real connect would.
 */
function alreadyConnected(socket: net.Socket): net.Socket {
  socket.connect = () => {
    process.nextTick(() => socket.emit('connect'));
    return socket;
  };
  return socket;
}

/** Resolves or rejects as `promise` does, or rejects after `ms`; the timer never outlives the wait. */
function withinMs<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}
