/**
 * blackbox_exporter's facts about the address a probe went to. Registered at 0 up front, as
 * blackbox_exporter does, so a probe that failed before resolving still has the series.
 */
import type { ProbeRegistry } from '../probe/probe-registry';
import { ipAddressHash, type ResolvedAddress } from './resolve';

export interface AddressMetrics {
  report(resolved: ResolvedAddress): void;
}

export function createAddressMetrics(registry: ProbeRegistry): AddressMetrics {
  const ipProtocol = registry.gauge('probe_ip_protocol', 'Specifies whether probe ip protocol is IP4 or IP6');
  const dnsLookupSeconds = registry.gauge('probe_dns_lookup_time_seconds', 'Returns the time taken for probe dns lookup in seconds');
  const ipAddrHash = registry.gauge('probe_ip_addr_hash', "Specifies the hash of IP address. It's useful to detect if the IP address changes.");
  for (const series of [ipProtocol, dnsLookupSeconds, ipAddrHash]) series.set(0);
  return {
    report(resolved) {
      ipProtocol.set(resolved.family);
      dnsLookupSeconds.set(resolved.seconds);
      ipAddrHash.set(ipAddressHash(resolved.address, resolved.family));
    },
  };
}
