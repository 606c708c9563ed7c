/**
 * The engine's address from the module's `host`, in Docker's own DOCKER_HOST syntax:
 * `unix:///var/run/docker.sock`, or `tcp://host:port` for a remote engine or a socket proxy
 * (TLS when the module has a `tls_config`, as `docker --tlsverify` does).
 */
import { unbracketedHost } from '../../src/net/url-host';

export type DockerEndpoint =
  | { kind: 'unix'; path: string }
  /** `host` without the brackets of an IPv6 literal. */
  | { kind: 'tcp'; host: string; port: number; tls: boolean };

/** Docker's registered ports: 2375 for plain HTTP, 2376 for TLS. */
const DEFAULT_PORTS = { plain: 2375, tls: 2376 };

export function parseDockerEndpoint(host: string, tls: boolean): DockerEndpoint | { problem: string } {
  if (host.startsWith('unix://')) {
    const path = host.slice('unix://'.length);
    if (!path.startsWith('/')) return { problem: `${JSON.stringify(host)}: a unix socket needs an absolute path, as in unix:///var/run/docker.sock` };
    if (tls) return { problem: 'tls_config applies to a tcp:// host, not to a unix socket' };
    return { kind: 'unix', path };
  }
  if (!host.startsWith('tcp://')) return { problem: `${JSON.stringify(host)} is not unix:///path or tcp://host:port` };
  let url: URL;
  try {
    // Parsed as http so that URL knows the authority's syntax; only host and port are used.
    url = new URL(`http://${host.slice('tcp://'.length)}`);
  } catch {
    return { problem: `${JSON.stringify(host)} is not a valid tcp://host:port` };
  }
  if (url.username || url.password) return { problem: 'credentials do not belong in host: the engine is authenticated by tls_config client certificates' };
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) return { problem: `${JSON.stringify(host)}: only tcp://host:port, without a path or parameters` };
  const hostname = unbracketedHost(url.hostname);
  if (hostname === '') return { problem: `${JSON.stringify(host)} has no host` };
  const port = url.port === '' ? (tls ? DEFAULT_PORTS.tls : DEFAULT_PORTS.plain) : Number(url.port);
  if (port === 0) return { problem: 'port 0 cannot be connected to' };
  return { kind: 'tcp', host: hostname, port, tls };
}
