/**
 * Reads a response body as it arrives: undoes the module's `compression` as a stream, counts the
 * uncompressed bytes, holds them to blackbox_exporter's `body_size_limit`, and keeps them only when
 * a regex must read them. A body no regex reads is counted and dropped, so its size costs no memory.
 */
import { pipeline } from 'node:stream/promises';
import type { Readable, Transform } from 'node:stream';
import zlib from 'node:zlib';
import { ProbeFailure } from '../../src/probe/failure';
import type { HttpSettings } from './schema';

/**
 * The most body kept for the body regexes when the module sets no `body_size_limit`.
 * blackbox_exporter reads any size; one hostile or broken target must not take the checkpoint's
 * memory, and a page a regex should read is far smaller.
 */
const DEFAULT_KEPT_BODY_LIMIT = 16 * 1024 * 1024;

const DECODERS: Partial<Record<HttpSettings['compression'], (first: Buffer | undefined) => Transform>> = {
  gzip: () => zlib.createGunzip(),
  br: () => zlib.createBrotliDecompress(),
  // Servers disagree on whether "deflate" has the zlib wrapper; its two header bytes tell.
  deflate: (first) => (first !== undefined && hasZlibHeader(first) ? zlib.createInflate() : zlib.createInflateRaw()),
};

/** The body could not be read whole; blackbox_exporter still reports the bytes it got until then. */
export class BodyReadFailure extends ProbeFailure {
  constructor(
    message: string,
    /** Uncompressed bytes read before the failure, for probe_http_uncompressed_body_length. */
    readonly bytesRead: number,
  ) {
    super('protocol', message);
  }
}

export interface BodyReading {
  compression: HttpSettings['compression'];
  /** `body_size_limit` in bytes, when the module sets one. */
  limitBytes: number | undefined;
  /** Whether a regex reads the body, so that it must be kept (up to the limit). */
  keep: boolean;
}

export interface Body {
  /** Uncompressed length, for probe_http_uncompressed_body_length. */
  length: number;
  /** The uncompressed body, when `keep` asked for it. */
  bytes?: Buffer;
}

/** Reads the body to its end; throws BodyReadFailure when it is cut short, too large or not in the expected encoding. */
export async function readBody(body: Readable, reading: BodyReading): Promise<Body> {
  const limit = reading.limitBytes ?? (reading.keep ? DEFAULT_KEPT_BODY_LIMIT : undefined);
  const kept: Buffer[] | undefined = reading.keep ? [] : undefined;
  let length = 0;
  const take = (chunk: Buffer) => {
    length += chunk.length;
    if (limit !== undefined && length > limit) throw tooLarge(limit, reading.limitBytes !== undefined);
    kept?.push(chunk);
  };

  const decoder = DECODERS[reading.compression];
  if (!decoder) {
    await eachChunk(body, take);
  } else {
    const [first, all] = await peek(compressedChunks(body));
    try {
      await pipeline(all, decoder(first), async (decoded: AsyncIterable<Buffer>) => {
        for await (const chunk of decoded) take(chunk);
      });
    } catch (error) {
      if (error instanceof ProbeFailure) throw error;
      throw new BodyReadFailure(`response body is not valid ${reading.compression}: ${(error as Error).message}`, 0);
    }
  }
  return { length, bytes: kept && Buffer.concat(kept, length) };
}

/**
 * Hands each chunk to `take` as it arrives ('data' events). Async iteration would call read(),
 * which joins every chunk that piled up since the last read into a new buffer: a copy of the whole
 * body, which profiling showed as the largest cost of a fast endless body. A `take` that throws
 * (a limit) ends the reading with its error.
 */
function eachChunk(body: Readable, take: (chunk: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const settle = (error?: Error) => {
      body.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      if (error) reject(error);
      else resolve();
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      try {
        take(chunk);
      } catch (error) {
        // Stop reading; the exchange's close() destroys the body and its connection.
        body.pause();
        settle(error as Error);
      }
    };
    const onEnd = () => settle();
    const onError = (error: Error) => settle(readFailure(error, size, size));
    const onClose = () => settle(readFailure(new Error('the response body was closed before its end'), size, size));
    // Destroyed before the first read (the connection broke in the chunk that brought the
    // headers): its 'error' and 'close' are already past and would never come.
    if (body.destroyed) return onError(body.errored ?? new Error('the response body was closed before its end'));
    body.on('data', onData).once('end', onEnd).once('error', onError).once('close', onClose);
  });
}

/**
 * A compressed body's chunks, a read error turned into a BodyReadFailure. It reports no bytes
 * read: those are what the uncompressed length counts, and compressed bytes are not.
 */
async function* compressedChunks(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let size = 0;
  try {
    for await (const chunk of chunks) {
      size += chunk.length;
      yield chunk;
    }
  } catch (error) {
    throw readFailure(error, size, 0);
  }
}

/** A read error (the server went away in the middle): the server's fault, not ours ('internal'). */
function readFailure(error: unknown, size: number, reportedBytes: number): BodyReadFailure {
  const { code, message } = error as NodeJS.ErrnoException;
  return new BodyReadFailure(`reading the response body failed after ${size} bytes: ${code ? `${code}: ` : ''}${message}`, reportedBytes);
}

/** The first chunk (undefined for an empty body), and all the chunks again from the start. */
async function peek(chunks: AsyncIterable<Buffer>): Promise<[Buffer | undefined, AsyncIterable<Buffer>]> {
  const iterator = chunks[Symbol.asyncIterator]();
  const first = await iterator.next();
  async function* all(): AsyncGenerator<Buffer> {
    if (first.done) return;
    yield first.value;
    // Delegating (not a loop over next()) passes an early return on, so the body is released.
    yield* { [Symbol.asyncIterator]: () => iterator };
  }
  return [first.done ? undefined : first.value, all()];
}

/** RFC 1950: compression method 8 in the low nibble, and the two bytes a multiple of 31. */
function hasZlibHeader(data: Buffer): boolean {
  return data.length >= 2 && (data.readUInt8(0) & 0x0f) === 8 && data.readUInt16BE(0) % 31 === 0;
}

/** `configured` says whether the limit is the module's body_size_limit or the default for kept bodies. */
function tooLarge(limitBytes: number, configured: boolean): BodyReadFailure {
  const message = configured
    ? `response body larger than body_size_limit (${limitBytes} bytes)`
    : `response body larger than ${limitBytes / 2 ** 20} MiB, the most kept for the body regexes when the module sets no body_size_limit`;
  return new BodyReadFailure(message, limitBytes);
}
