/**
 * The BUILT checkpoint, started as users start it (bin/checkpoint, node with its memory flags, on
 * the bundle dist/checkpoint.js), as a child process on 127.0.0.1 and a free port,
 * for tests that attack it as an outsider would: over HTTP, with signals, and by rewriting its
 * config file. Unlike checkpoint-server.ts (in-process), a hang or a crash here is the child's,
 * so the test can observe it and still clean up by PID.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { request, type GetOptions, type SimpleResponse } from './client';
import { hasExited, killAndWait, onFreePort, sleep, spawnLogged, startFailure, track, type LoggedChild } from './processes';
import { CHECKPOINT_BIN, CHECKPOINT_BUNDLE } from './stack-config';

export { CHECKPOINT_BIN };
/** How long a start may take on a loaded machine before the test gives up. */
const START_TIMEOUT_MS = 30_000;

export interface CheckpointProcess {
  /** http(s)://127.0.0.1:<port> */
  url: string;
  pid: number;
  spawned: LoggedChild;
  /** The temporary directory holding the config (and whatever the test adds); removed by stop(). */
  dir: string;
  configFile: string;
  /** Everything the process wrote on stdout and stderr so far. */
  output(): string;
  /** One request to the checkpoint; `requestDefaults` (CA, credentials) apply unless overridden. */
  get(urlPath: string, options?: GetOptions): Promise<SimpleResponse>;
  writeConfig(yaml: string): Promise<void>;
  stop(): Promise<void>;
}

export interface ProcessOptions {
  /** Extra flags, e.g. `--web.enable-lifecycle`, `--probe.max-timeout=5s`. */
  flags?: string[];
  /** Added to the test's environment (password_env secrets). */
  env?: NodeJS.ProcessEnv;
  /** Instead of `--config.file` (then the config written goes unused): where else the config comes from, e.g. --config.url and its keys. */
  configFlags?: string[];
  /** Whether the server speaks TLS (a web config with tls_server_config). */
  tls?: boolean;
  /** Defaults for every request the helper sends: the CA to trust, a client certificate, headers. */
  requestDefaults?: GetOptions;
  /** Written beside the config and passed as --web.config.file. */
  webConfigYaml?: string;
}

export async function startCheckpointProcess(configYaml: string, options: ProcessOptions = {}): Promise<CheckpointProcess> {
  if (!existsSync(CHECKPOINT_BUNDLE)) throw new Error(`${CHECKPOINT_BUNDLE} is missing: run \`npm run build\` (npm test does)`);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'checkpoint-security-'));
  const configFile = path.join(dir, 'checkpoint.yml');
  await writeFile(configFile, configYaml);
  const flags = [...(options.flags ?? [])];
  if (options.webConfigYaml !== undefined) {
    const webConfigFile = path.join(dir, 'web.yml');
    await writeFile(webConfigFile, options.webConfigYaml);
    flags.push(`--web.config.file=${webConfigFile}`);
  }
  try {
    return await onFreePort((port) => launch(port, dir, configFile, flags, options));
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

async function launch(port: number, dir: string, configFile: string, flags: string[], options: ProcessOptions): Promise<CheckpointProcess> {
  const url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const source = options.configFlags ?? [`--config.file=${configFile}`];
  const spawned = spawnLogged(CHECKPOINT_BIN, [...source, `--web.listen-address=127.0.0.1:${port}`, ...flags], {
    env: { ...process.env, ...options.env },
  });
  track(spawned.child);
  const get = (urlPath: string, requestOptions: GetOptions = {}) =>
    request(`${url}${urlPath}`, { ...options.requestDefaults, ...requestOptions, headers: { ...options.requestDefaults?.headers, ...requestOptions.headers } });
  // Up means answering HTTP at all: behind a web config, a 401 is an answer too.
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (hasExited(spawned.child) || spawned.spawnError()) {
      await killAndWait(spawned.child);
      throw startFailure(`checkpoint exited with ${spawned.child.exitCode ?? spawned.child.signalCode}:\n${spawned.logs()}`, /EADDRINUSE|address already in use/i.test(spawned.logs()));
    }
    if (
      await get('/-/healthy', { timeoutMs: 2000 }).then(
        () => true,
        () => false,
      )
    )
      break;
    if (Date.now() > deadline) {
      await killAndWait(spawned.child);
      throw new Error(`checkpoint not answering after ${START_TIMEOUT_MS} ms:\n${spawned.logs()}`);
    }
    await sleep(50);
  }
  return {
    url,
    pid: spawned.child.pid!,
    spawned,
    dir,
    configFile,
    output: spawned.logs,
    get,
    writeConfig: (yaml) => writeFile(configFile, yaml),
    async stop() {
      await killAndWait(spawned.child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** The binary run to completion (`--config.check`), bounded so a hang fails the test instead of jest. */
export function runCheckpoint(args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(CHECKPOINT_BIN, args, { timeout: 20_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Polls `check` until it returns a value other than undefined, or fails after `timeoutMs` with
 * `what` and the last error `check` threw, if any.
 */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const result = await check();
      if (result !== undefined) return result;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : ` (last error: ${last instanceof Error ? String(last) : inspect(last)})`}`);
    await sleep(100);
  }
}
