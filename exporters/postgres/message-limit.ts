/**
 * pg buffers each server message whole, at whatever length its header declares (up to 4 GiB),
 * before it parses it; `max_rows` counts rows, not bytes. This watches the message headers in
 * what the server sends and ends the connection at the first message longer than the limit, so a
 * hostile or broken server cannot fill the checkpoint's memory through one probe.
 */
import type net from 'node:net';
import { ProbeFailure } from '../../src/probe/failure';

/** Type byte and Int32 length (which counts itself): the head of every backend message. */
const HEADER_BYTES = 5;

export class MessageSizeLimit {
  /** Set once a message was too long; the connection is destroyed by then. */
  failure?: ProbeFailure;

  constructor(private readonly maxBytes: number) {}

  /**
   * Watches what `stream` receives. `sslAnswerFirst`: the stream begins with the one-byte answer
   * to an SSLRequest and is TLS after it, so only that byte is read here (the TLS socket is
   * watched on its own once the handshake starts).
   */
  watch(stream: net.Socket, { sslAnswerFirst = false } = {}): void {
    let skip = sslAnswerFirst ? 1 : 0;
    let watching = true;
    const header = Buffer.alloc(HEADER_BYTES);
    let headerFilled = 0;
    let bodyLeft = 0;
    const push = stream.push.bind(stream);
    stream.push = (chunk: unknown, encoding?: BufferEncoding) => {
      if (!watching || !Buffer.isBuffer(chunk)) return push(chunk, encoding);
      for (let offset = 0; offset < chunk.length && watching;) {
        if (skip > 0) {
          const taken = Math.min(skip, chunk.length - offset);
          skip -= taken;
          offset += taken;
          if (skip === 0 && sslAnswerFirst) watching = false;
        } else if (bodyLeft > 0) {
          const taken = Math.min(bodyLeft, chunk.length - offset);
          bodyLeft -= taken;
          offset += taken;
        } else {
          const taken = Math.min(HEADER_BYTES - headerFilled, chunk.length - offset);
          chunk.copy(header, headerFilled, offset, offset + taken);
          headerFilled += taken;
          offset += taken;
          if (headerFilled === HEADER_BYTES) {
            headerFilled = 0;
            bodyLeft = header.readUInt32BE(1) - 4;
            if (bodyLeft > this.maxBytes) {
              const type = String.fromCharCode(header.readUInt8(0));
              this.failure ??= new ProbeFailure('protocol', `the server sent a message ("${type}") of ${bodyLeft} bytes, more than max_message_bytes (${this.maxBytes})`);
              stream.destroy();
              return false;
            }
          }
        }
      }
      return push(chunk, encoding);
    };
  }
}
