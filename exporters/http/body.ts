/**
 * Reads a response body, undoes the module's `compression`, and holds the uncompressed body to
 * blackbox_exporter's `body_size_limit`.
 */
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { ProbeFailure } from '../../src/probe/failure';
import type { HttpSettings } from './schema';

type Decode = (data: Buffer, options: zlib.ZlibOptions & zlib.BrotliOptions) => Promise<Buffer>;

const DECOMPRESS: Partial<Record<HttpSettings['compression'], Decode>> = {
  gzip: promisify(zlib.gunzip),
  br: promisify(zlib.brotliDecompress),
  // Servers disagree on whether "deflate" has the zlib wrapper; accept both.
  deflate: (data, options) => promisify(zlib.inflate)(data, options).catch(() => promisify(zlib.inflateRaw)(data, options)),
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

/** The whole body, uncompressed; throws BodyReadFailure when it is cut short, too large or not in the expected encoding. */
export async function readBody(chunks: AsyncIterable<Buffer>, compression: HttpSettings['compression'], limitBytes: number | undefined): Promise<Buffer> {
  const decode = DECOMPRESS[compression];
  if (!decode) return readAll(chunks, limitBytes, true);
  // The limit is on the uncompressed body, as in blackbox_exporter; the compressed one may exceed
  // it only by the format's few bytes of overhead, so reading it stays bounded too.
  const raw = await readAll(chunks, limitBytes === undefined ? undefined : limitBytes + Math.ceil(limitBytes / 16384) * 5 + 1024, false);
  try {
    return await decode(raw, limitBytes === undefined ? {} : { maxOutputLength: limitBytes });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(limitBytes!);
    throw new BodyReadFailure(`response body is not valid ${compression}: ${(error as Error).message}`, 0);
  }
}

/** `plain` says whether the bytes read are the uncompressed body, and so worth reporting on failure. */
async function readAll(chunks: AsyncIterable<Buffer>, limitBytes: number | undefined, plain: boolean): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of chunks) {
      size += chunk.length;
      if (limitBytes !== undefined && size > limitBytes) throw tooLarge(limitBytes, plain);
      parts.push(chunk);
    }
  } catch (error) {
    if (error instanceof ProbeFailure) throw error;
    // The server went away in the middle of the body: its fault, not ours ('internal').
    const { code, message } = error as NodeJS.ErrnoException;
    throw new BodyReadFailure(`reading the response body failed after ${size} bytes: ${code ? `${code}: ` : ''}${message}`, plain ? size : 0);
  }
  return Buffer.concat(parts);
}

function tooLarge(limitBytes: number, plain = true): BodyReadFailure {
  return new BodyReadFailure(`response body larger than body_size_limit (${limitBytes} bytes)`, plain ? limitBytes : 0);
}
