/**
 * Serves a request handler on an address, over plain HTTP or, when the web config asks for it,
 * HTTPS; with a web config, every request passes its headers and basic auth first. One function
 * so the CLI and the tests start a checkpoint the same way.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { tlsWanted, webConfigSource, webConfigStrength, type WebConfig } from './web-config';
import { guardRequests } from './web-guard';
import { reloadTlsPerConnection, tlsServerOptions, tlsServerSettings, type TlsServerSettings } from './web-tls';

/** A web config checked at start: the file, its source for later reads, and TLS if it asks for it. */
export interface WebConfigAtStart {
  file: string;
  source: ReturnType<typeof webConfigSource>;
  config: WebConfig;
  tls?: TlsServerSettings;
}

/**
 * Reads and checks the web config and the files it names; throws a ConfigError with every problem.
 * An empty file is exporter-toolkit's "no TLS, no auth" and is accepted here; what the file
 * enforces now is the least it may enforce until a restart (see weakenings in web-config.ts).
 */
export function loadWebConfig(file: string): WebConfigAtStart {
  const config = webConfigSource(file).readSync();
  const source = webConfigSource(file, webConfigStrength(config));
  return { file, source, config, tls: tlsWanted(config) ? tlsServerSettings(config, file) : undefined };
}

export interface ListenOptions {
  host?: string;
  port: number;
  webConfig?: WebConfigAtStart;
  logger: Logger;
}

export type CheckpointServer = http.Server | https.Server;

export async function listen(handler: http.RequestListener, options: ListenOptions): Promise<CheckpointServer> {
  const { webConfig, logger } = options;
  const readConfig = webConfig && !webConfig.tls ? warnOfTlsTurnedOn(webConfig, logger) : webConfig?.source.read;
  const guarded = webConfig && readConfig ? guardRequests(handler, readConfig, webConfig.file, logger) : handler;
  let server: CheckpointServer;
  if (webConfig?.tls) {
    const httpsServer = https.createServer(tlsServerOptions(webConfig.tls), guarded);
    reloadTlsPerConnection(httpsServer, webConfig.source.readSync, webConfig.file, webConfig.tls, logger);
    server = httpsServer;
  } else {
    server = http.createServer(guarded);
  }
  server.listen({ port: options.port, host: options.host });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const address = server.address() as AddressInfo;
  logger.info({ address: `${address.address}:${address.port}`, tls: Boolean(webConfig?.tls), basic_auth: Object.keys(webConfig?.config.basic_auth_users ?? {}).length > 0 }, 'Listening');
  return server;
}

/**
 * The web config's reads for a plain-HTTP server, which says so when the file turns TLS on: the
 * server cannot start speaking TLS on its port, so that takes a restart (as with exporter-toolkit).
 * Once each time TLS goes on, not once per request. (Turning TLS off under an HTTPS server is
 * refused per connection, see reloadTlsPerConnection.)
 */
function warnOfTlsTurnedOn(webConfig: WebConfigAtStart, logger: Logger): () => Promise<WebConfig> {
  let warned = false;
  return async () => {
    const config = await webConfig.source.read();
    const wanted = tlsWanted(config);
    if (wanted && !warned) logger.warn({ file: webConfig.file }, 'The web config turns TLS on, but TLS on or off takes a restart: serving plain HTTP until then');
    warned = wanted;
    return config;
  };
}
