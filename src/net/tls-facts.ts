/** The TLS facts of the final response, with blackbox_exporter's metric names and label formats. */
import { createHash, X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { ProbeRegistry } from '../probe/probe-registry';

export interface TlsFacts {
  earliestExpirySeconds: number;
  lastChainExpirySeconds: number;
  leaf: { fingerprintSha256: string; subject: string; issuer: string; dnsNames: string };
  version: string;
  cipher: string;
}

export function readTlsFacts(socket: TLSSocket): TlsFacts | undefined {
  const chain = peerChain(socket);
  const leaf = chain[0];
  if (leaf === undefined) return undefined;
  const expiries = chain.map((cert) => Date.parse(cert.validTo) / 1000);
  return {
    earliestExpirySeconds: Math.min(...expiries),
    // Node gives one chain, the one it verified (or the presented one when verification is off);
    // blackbox_exporter takes the latest of its verified chains' earliest expiries, the same number here.
    lastChainExpirySeconds: Math.min(...expiries),
    leaf: {
      fingerprintSha256: createHash('sha256').update(leaf.raw).digest('hex'),
      subject: goDistinguishedName(leaf.subject),
      issuer: goDistinguishedName(leaf.issuer),
      dnsNames: (leaf.subjectAltName ?? '')
        .split(', ')
        .filter((name) => name.startsWith('DNS:'))
        .map((name) => name.slice(4))
        .join(','),
    },
    version: goTlsVersion(socket.getProtocol()),
    cipher: socket.getCipher().standardName,
  };
}

export function registerTlsMetrics(registry: ProbeRegistry, facts: TlsFacts): void {
  registry.gauge('probe_ssl_earliest_cert_expiry', 'Returns last SSL chain expiry in unixtime').set(facts.earliestExpirySeconds);
  registry.gauge('probe_ssl_last_chain_expiry_timestamp_seconds', 'Returns last SSL chain expiry in timestamp').set(facts.lastChainExpirySeconds);
  registry
    .gauge('probe_ssl_last_chain_info', 'Contains SSL leaf certificate information', ['fingerprint_sha256', 'subject', 'issuer', 'subjectalternative'])
    .labels(facts.leaf.fingerprintSha256, facts.leaf.subject, facts.leaf.issuer, facts.leaf.dnsNames)
    .set(1);
  registry.gauge('probe_tls_version_info', 'Returns the TLS version used or NaN when unknown', ['version']).labels(facts.version).set(1);
  registry.gauge('probe_tls_cipher_info', 'Returns the TLS cipher negotiated during handshake', ['cipher']).labels(facts.cipher).set(1);
}

/** The presented chain from the leaf up, each certificate once. */
function peerChain(socket: TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  const seen = new Set<string>();
  let current = socket.getPeerCertificate(true);
  while (current && current.raw && !seen.has(current.fingerprint256)) {
    seen.add(current.fingerprint256);
    chain.push(new X509Certificate(current.raw));
    current = current.issuerCertificate;
  }
  return chain;
}

/** Go prints a name as RFC 2253 does, last RDN first, comma separated; Node lists them first to last, one a line. */
function goDistinguishedName(name: string): string {
  return name.split('\n').filter(Boolean).reverse().join(',');
}

function goTlsVersion(protocol: string | null): string {
  const match = /^TLSv(\d)(?:\.(\d))?$/.exec(protocol ?? '');
  return match ? `TLS 1.${match[2] ?? '0'}` : 'unknown';
}
