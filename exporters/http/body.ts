/** Reads a response body within blackbox_exporter's `body_size_limit`, and undoes the module's `compression`. */
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { ProbeFailure } from '../../src/probe/failure';
import type { HttpSettings } from './schema';

const DECOMPRESS: Record<string, (data: Buffer) => Promise<Buffer>> = {
  gzip: promisify(zlib.gunzip),
  br: promisify(zlib.brotliDecompress),
  // Servers disagree on whether "deflate" has the zlib wrapper; accept both.
  deflate: (data) => promisify(zlib.inflate)(data).catch(() => promisify(zlib.inflateRaw)(data)),
};

export async function readBody(chunks: AsyncIterable<Buffer>, limitBytes: number | undefined): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of chunks) {
    size += chunk.length;
    if (limitBytes !== undefined && size > limitBytes) throw new ProbeFailure('protocol', `response body larger than body_size_limit (${limitBytes} bytes)`);
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

export async function decompress(body: Buffer, compression: HttpSettings['compression']): Promise<Buffer> {
  const decode = DECOMPRESS[compression];
  if (!decode) return body;
  try {
    return await decode(body);
  } catch (error) {
    throw new ProbeFailure('protocol', `response body is not valid ${compression}: ${(error as Error).message}`);
  }
}
