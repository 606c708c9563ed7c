/**
 * Name resolution the way blackbox_exporter does it: one lookup, then the address of the
 * preferred IP family, or of the other family when fallback is allowed.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { ProbeFailure } from '../probe/failure';
import { abortable } from '../probe/abortable';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
  seconds: number;
}

export async function resolveTarget(host: string, preferred: 'ip4' | 'ip6', fallback: boolean, signal: AbortSignal): Promise<ResolvedAddress> {
  const started = performance.now();
  const literalFamily = isIP(host);
  let candidates: { address: string; family: number }[];
  if (literalFamily !== 0) {
    candidates = [{ address: host, family: literalFamily }];
  } else {
    try {
      candidates = await abortable(lookup(host, { all: true, verbatim: true }), signal);
    } catch (error) {
      if (signal.aborted) throw error;
      throw new ProbeFailure('dns', `cannot resolve ${host}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const wanted = preferred === 'ip4' ? 4 : 6;
  const chosen = candidates.find((candidate) => candidate.family === wanted) ?? (fallback ? candidates[0] : undefined);
  if (!chosen) throw new ProbeFailure('dns', `${host} has no ${preferred} address and ip_protocol_fallback is off`);
  return { address: chosen.address, family: chosen.family as 4 | 6, seconds };
}

/** FNV-1a over the address bytes, as blackbox_exporter's probe_ip_addr_hash, so a change of address shows as a change of value. */
export function ipAddressHash(address: string, family: 4 | 6): number {
  let hash = 0x811c9dc5;
  for (const byte of addressBytes(address, family)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

function addressBytes(address: string, family: 4 | 6): number[] {
  if (family === 4) return address.split('.').map(Number);
  const [head = '', tail = ''] = (address.split('%')[0] ?? '').split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const headGroups = groups(head);
  const tailGroups = address.includes('::') ? groups(tail) : [];
  const words = [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  return words.flatMap((word) => {
    const value = parseInt(word, 16);
    return [value >> 8, value & 0xff];
  });
}
