/** The server's host key as operators know it: its type and the fingerprint `ssh-keygen -lf` prints. */
import { createHash } from 'node:crypto';

export interface HostKey {
  /** The key's algorithm name, e.g. ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa. */
  type: string;
  /** `SHA256:` and the base64 of the SHA-256 of the key blob, without padding. */
  fingerprint: string;
}

/** `blob` is the key in SSH wire format (RFC 4253 6.6), which starts with its type as a string. */
export function describeHostKey(blob: Buffer): HostKey {
  const typeLength = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  const type = typeLength > 0 && 4 + typeLength <= blob.length ? blob.subarray(4, 4 + typeLength).toString('latin1') : 'unknown';
  const fingerprint = `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
  return { type, fingerprint };
}
