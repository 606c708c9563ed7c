/**
 * A checkpoint served in-process on 127.0.0.1 and a random port, with its process log captured,
 * for tests that talk to the real HTTP endpoints.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Checkpoint, type CheckpointOptions } from '../../src/checkpoint';
import { builtInProbers } from '../../src/cli/probers';
import { fileSource } from '../../src/config/source';
import { createLogger } from '../../src/observability/logger';
import { createApp, type AppOptions } from '../../src/server/app';
import { listen, loadWebConfig } from '../../src/server/listen';

export interface RunningCheckpoint {
  url: string;
  checkpoint: Checkpoint;
  configFile: string;
  /** Every line the process log wrote, at debug level. */
  logLines: string[];
  writeConfig(yaml: string): Promise<void>;
  stop(): Promise<void>;
}

export interface StartOptions extends Partial<Omit<CheckpointOptions, 'source' | 'logger' | 'probers'>>, AppOptions {
  /** A `--web.config.file`; with TLS in it, `url` is https://. */
  webConfigFile?: string;
}

export async function startCheckpoint(configYaml: string, startOptions: StartOptions = {}): Promise<RunningCheckpoint> {
  const { webConfigFile, enableLifecycle, ...options } = startOptions;
  // Checked first, as the CLI does: a web config the test expects to be refused throws its ConfigError here.
  const webConfig = webConfigFile ? loadWebConfig(webConfigFile) : undefined;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'checkpoint-test-'));
  const configFile = path.join(dir, 'checkpoint.yml');
  await writeFile(configFile, configYaml);
  const logLines: string[] = [];
  const capture = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createLogger('debug', 'logfmt', capture);
  const checkpoint = await Checkpoint.start({
    source: fileSource(configFile, builtInProbers),
    probers: builtInProbers,
    timeoutOffsetSeconds: 0.5,
    maxTimeoutSeconds: 120,
    maxConcurrentProbes: 64,
    historyLimit: 100,
    ...options,
    logger,
  }).catch(async (error: unknown) => {
    // A config the test expects to be refused must not leave its directory behind.
    await rm(dir, { recursive: true, force: true });
    throw error;
  });
  const server = await listen(createApp(checkpoint, { enableLifecycle }), { host: '127.0.0.1', port: 0, webConfig, logger });
  const { port } = server.address() as AddressInfo;
  return {
    url: `${webConfig?.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    checkpoint,
    configFile,
    logLines,
    writeConfig: (yaml) => writeFile(configFile, yaml),
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await rm(dir, { recursive: true, force: true });
    },
  };
}
