/**
 * A signed config pulled from the central place (`--config.url`): the checkpoint runs only what
 * one of its trusted public keys signed (signature.ts), whose `serial:` is greater than the one it
 * runs, and that validates as a signed config (no secret of its own). Every refusal leaves the
 * running config in place and says why (ConfigRejected's reason).
 *
 * The last accepted config and its signature are kept in `--config.cache-dir`, so a checkpoint
 * restarting while the central place is down (or serves something refused) runs that one,
 * checked again against the keys; with neither, it cannot start.
 *
 * Fetches are bounded: 30 s, 4 MiB for a config, 1 KiB for a signature; `If-None-Match` makes an
 * unchanged config a 304.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Agent, request, type Dispatcher } from 'undici';
import type { Logger } from 'pino';
import { parseConfig } from './load';
import { ConfigError } from './problems';
import { parsePublicKey, SIGNATURE_SUFFIX, verifyContent, type PublicKeyEntry } from './signature';
import { ConfigRejected, ConfigUnavailable, type ConfigLoad, type ConfigSource } from './source';
import type { CheckpointConfig } from './schema';
import type { ProberTable } from '../probe/prober-table';

const FETCH_TIMEOUT_MS = 30_000;
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
const MAX_SIGNATURE_BYTES = 1024;
const CACHE_FILE = 'checkpoint.yml';

export interface SignedUrlOptions {
  url: string;
  publicKeyFiles: string[];
  /** PEM CA bundle for the central place's certificate, instead of the system's. */
  caFile?: string;
  /** A file with a bearer token to send, read at every fetch. */
  bearerTokenFile?: string;
  cacheDir?: string;
  probers: ProberTable;
  logger: Logger;
}

interface Accepted {
  content: Buffer;
  signature: string;
  config: CheckpointConfig;
  keyId: string;
}

export async function signedUrlSource(options: SignedUrlOptions): Promise<ConfigSource> {
  const trusted: PublicKeyEntry[] = await Promise.all(options.publicKeyFiles.map(async (file) => parsePublicKey(await readFile(file, 'utf8'), file)));
  const dispatcher: Dispatcher = new Agent({ connect: options.caFile ? { ca: await readFile(options.caFile, 'utf8') } : {}, headersTimeout: FETCH_TIMEOUT_MS, bodyTimeout: FETCH_TIMEOUT_MS });
  const signatureUrl = `${options.url}${SIGNATURE_SUFFIX}`;
  let running: Accepted | undefined;
  let etag: string | undefined;

  async function headers(withEtag: boolean): Promise<Record<string, string>> {
    const sent: Record<string, string> = {};
    if (options.bearerTokenFile) {
      const token = await readFile(options.bearerTokenFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
        throw new ConfigUnavailable(`cannot read the bearer token file ${options.bearerTokenFile}: ${error.code ?? error.message}`);
      });
      sent.authorization = `Bearer ${token.trim()}`;
    }
    if (withEtag && etag && running) sent['if-none-match'] = etag;
    return sent;
  }

  /** The body of `url` (undefined for a 304, or a 404 when `missingOk`), bounded in time and size. */
  async function fetchBody(url: string, maxBytes: number, withEtag: boolean, missingOk: boolean): Promise<{ body?: Buffer; etag?: string }> {
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, { dispatcher, headers: await headers(withEtag), signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    } catch (error) {
      throw new ConfigUnavailable(`${url}: ${(error as Error).message}`);
    }
    const { statusCode } = response;
    if (statusCode === 304 || (statusCode === 404 && missingOk)) {
      await response.body.dump();
      return {};
    }
    if (statusCode !== 200) {
      await response.body.dump();
      throw new ConfigUnavailable(`${url}: HTTP ${statusCode}`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxBytes) throw new ConfigUnavailable(`${url}: larger than ${maxBytes} bytes`);
        chunks.push(chunk);
      }
    } catch (error) {
      response.body.destroy();
      throw error instanceof ConfigUnavailable ? error : new ConfigUnavailable(`${url}: ${(error as Error).message}`);
    }
    const tag = response.headers.etag;
    return { body: Buffer.concat(chunks), etag: typeof tag === 'string' ? tag : undefined };
  }

  /** `content` and its signature line judged: verified, valid as a signed config, and (`fresh`) newer than the running one. */
  function judge(content: Buffer, signature: string | undefined, from: string, fresh: boolean): Accepted {
    const verified = verifyContent(content, signature, trusted);
    if (!verified.ok) throw new ConfigRejected(verified.problem, `${from}: ${verified.problem.replace('_', ' ')}${verified.keyId ? ` (key ${verified.keyId})` : ''}`);
    let config: CheckpointConfig;
    try {
      config = parseConfig(content.toString('utf8'), from, options.probers, { signed: true });
    } catch (error) {
      if (error instanceof ConfigError) throw new ConfigRejected('invalid_config', `invalid configuration, signed with key ${verified.keyId}:\n${error.message}`);
      throw error;
    }
    const serial = config.serial ?? 0;
    if (fresh && running && serial <= (running.config.serial ?? 0)) {
      throw new ConfigRejected('replay', `${from}: serial ${serial} is not greater than the running ${running.config.serial ?? 0} (an older or replayed config)`);
    }
    return { content, signature: signature ?? '', config, keyId: verified.keyId };
  }

  async function keep(accepted: Accepted): Promise<void> {
    running = accepted;
    if (!options.cacheDir) return;
    await mkdir(options.cacheDir, { recursive: true, mode: 0o700 });
    // Config first, signature last, each by rename: a crash leaves a pair that fails to verify
    // (and is refused at the next start), never a half-written file that is run.
    for (const [name, data] of [
      [CACHE_FILE, accepted.content],
      [`${CACHE_FILE}${SIGNATURE_SUFFIX}`, accepted.signature],
    ] as const) {
      const file = path.join(options.cacheDir, name);
      await writeFile(`${file}.tmp`, data, { mode: 0o600 });
      await rename(`${file}.tmp`, file);
    }
  }

  function loaded(accepted: Accepted, from: string): ConfigLoad {
    return { changed: true, config: accepted.config, details: { from, serial: accepted.config.serial ?? 0, key: accepted.keyId } };
  }

  async function fromCache(why: Error): Promise<ConfigLoad> {
    if (!options.cacheDir) throw new Error(`cannot start: ${why.message}, and no --config.cache-dir holds a config signed before`);
    const file = path.join(options.cacheDir, CACHE_FILE);
    let content: Buffer;
    try {
      content = await readFile(file);
    } catch {
      throw new Error(`cannot start: ${why.message}, and ${file} holds no config signed before`);
    }
    const signature = await readFile(`${file}${SIGNATURE_SUFFIX}`, 'utf8').catch(() => undefined);
    const accepted = judge(content, signature, file, false);
    running = accepted;
    options.logger.warn({ url: options.url, err: why.message, cache: file, serial: accepted.config.serial }, 'Central config not usable at start; running the cached signed config');
    return loaded(accepted, file);
  }

  return {
    location: options.url,
    async load() {
      try {
        const fetched = await fetchBody(options.url, MAX_CONFIG_BYTES, true, false);
        if (!fetched.body) return { changed: false };
        etag = fetched.etag;
        if (running && fetched.body.equals(running.content)) return { changed: false };
        const signature = (await fetchBody(signatureUrl, MAX_SIGNATURE_BYTES, false, true)).body?.toString('utf8');
        const accepted = judge(fetched.body, signature, options.url, true);
        await keep(accepted);
        return loaded(accepted, options.url);
      } catch (error) {
        // At start, the central place down or serving something refused: the last good config.
        if (!running && (error instanceof ConfigUnavailable || error instanceof ConfigRejected)) return fromCache(error);
        throw error;
      }
    },
  };
}
