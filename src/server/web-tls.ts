/**
 * The web config's `tls_server_config` as Node's TLS server options, and its reload: like
 * exporter-toolkit, the files are read again for every new connection, so a rotated certificate
 * or CA needs no restart. Whether TLS is on at all is decided at start.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { ConfigError } from '../config/problems';
import { TLS_VERSION_NAMES } from '../net/tls-config';
import { GO_CIPHER_SUITES, GO_CURVES, tlsWanted, type ClientAuthType, type TlsServerConfig, type WebConfig } from './web-config';

export interface TlsServerSettings {
  /** Options for the server's secure context (certificate, key, client CA, versions, suites). */
  context: tls.SecureContextOptions;
  /** Node's two switches for client certificates; what they cannot say is checked after the handshake. */
  requestCert: boolean;
  rejectUnauthorized: boolean;
  clientAuth: ClientAuthType;
  /** Digest of everything above, to tell whether a connection needs a new secure context. */
  digest: string;
}

/** Reads the certificate, key and client CA files and checks they load; throws a ConfigError naming the web config file. */
export function tlsServerSettings(config: WebConfig, file: string): TlsServerSettings {
  const settings = readTlsSettings(config, file);
  checkSecureContext(settings, file);
  return settings;
}

/** The settings with the files' contents, not yet handed to OpenSSL: cheap enough for every connection. */
function readTlsSettings(config: WebConfig, file: string): TlsServerSettings {
  if (!tlsWanted(config)) throw new ConfigError([`${file}: tls_server_config: TLS was on at start and cannot be turned off without a restart`]);
  const settings = config.tls_server_config;
  const read = (key: 'cert_file' | 'key_file' | 'client_ca_file') => {
    const path = settings[key];
    if (path === undefined) return undefined;
    try {
      return readFileSync(path, 'utf8');
    } catch (error) {
      throw new ConfigError([`${file}: tls_server_config.${key}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`]);
    }
  };
  const [cert, key, ca] = [read('cert_file'), read('key_file'), read('client_ca_file')];
  const context: tls.SecureContextOptions = {
    cert,
    key,
    ca,
    minVersion: TLS_VERSION_NAMES[settings.min_version],
    maxVersion: TLS_VERSION_NAMES[settings.max_version],
    honorCipherOrder: settings.prefer_server_cipher_suites,
    ...cipherOptions(settings),
  };
  const clientAuth = settings.client_auth_type ?? 'NoClientCert';
  return {
    context,
    requestCert: clientAuth !== 'NoClientCert',
    rejectUnauthorized: clientAuth === 'RequireAndVerifyClientCert',
    clientAuth,
    // The files' contents included: a rotated certificate is a new digest.
    digest: createHash('sha256')
      .update(JSON.stringify([context, clientAuth]))
      .digest('hex'),
  };
}

/** What OpenSSL makes of the settings (it parses the key): a ConfigError if they do not load. */
function checkSecureContext(settings: TlsServerSettings, file: string): void {
  try {
    tls.createSecureContext(settings.context);
  } catch (error) {
    // OpenSSL's reason ("key values mismatch", "no start line"): no key material in it.
    throw new ConfigError([`${file}: tls_server_config: the certificate, key or client CA does not load: ${(error as Error).message}`]);
  }
}

/** Go's cipher and curve names into OpenSSL's; empty lists keep OpenSSL's defaults, as Go keeps its own. */
function cipherOptions(settings: TlsServerConfig): tls.SecureContextOptions {
  const ciphers = (settings.cipher_suites ?? []).map((name) => GO_CIPHER_SUITES[name]).filter((name) => name !== undefined);
  const curves = (settings.curve_preferences ?? []).map((name) => GO_CURVES[name]);
  return { ...(ciphers.length > 0 && { ciphers: ciphers.join(':') }), ...(curves.length > 0 && { ecdhCurve: curves.join(':') }) };
}

/** Whether a finished handshake meets the client auth type, for the cases Node's two switches do not cover. */
function clientCertificateAccepted(socket: tls.TLSSocket, clientAuth: ClientAuthType): boolean {
  const presented = socket.getPeerX509Certificate() !== undefined;
  switch (clientAuth) {
    case 'RequireAnyClientCert':
    case 'RequireClientCert':
      return presented;
    case 'VerifyClientCertIfGiven':
      return !presented || socket.authorized;
    case 'RequireAndVerifyClientCert':
      return presented && socket.authorized;
    default:
      return true;
  }
}

/** The server options for `https.createServer` at start. */
export function tlsServerOptions(settings: TlsServerSettings): tls.TlsOptions {
  return { ...settings.context, requestCert: settings.requestCert, rejectUnauthorized: settings.rejectUnauthorized };
}

/**
 * Keeps `server` on the web config's current TLS settings. The check runs before Node wraps a new
 * TCP connection in TLS (so the connection gets the new context) and reads a handful of small
 * files synchronously, as Go's server does per handshake; only when what they hold differs from
 * the current settings does OpenSSL build (and so check) a new context. A broken file refuses new
 * connections, as exporter-toolkit does, rather than serving on with settings the file no longer says;
 * so does one that would turn TLS off or weaken client_auth_type below what it was at start (the
 * source `readConfig` reads through refuses those: see weakenings in web-config.ts).
 */
export function reloadTlsPerConnection(server: tls.Server, readConfig: () => WebConfig, file: string, initial: TlsServerSettings, logger: Logger): void {
  let current = initial;
  /** The settings OpenSSL last refused, so the same broken files are not parsed for every connection. */
  let refused: { digest: string; error: ConfigError } | undefined;
  let lastError: string | undefined;
  server.prependListener('connection', (socket: import('node:net').Socket) => {
    try {
      const next = readTlsSettings(readConfig(), file);
      if (next.digest !== current.digest) {
        if (next.digest === refused?.digest) throw refused.error;
        try {
          checkSecureContext(next, file);
        } catch (error) {
          if (error instanceof ConfigError) refused = { digest: next.digest, error };
          throw error;
        }
        server.setSecureContext(next.context);
        // Node reads these two from the server for each new connection; they have no setter.
        Object.assign(server, { requestCert: next.requestCert, rejectUnauthorized: next.rejectUnauthorized });
        current = next;
        refused = undefined;
        logger.info({ file, client_auth_type: next.clientAuth }, 'TLS settings reloaded from the web config');
      }
      lastError = undefined;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // Once per distinct problem, not once per refused connection.
      if (message !== lastError) logger.error({ file, err: message }, 'Web config is invalid, refusing new TLS connections');
      lastError = message;
      socket.destroy();
    }
  });
  server.prependListener('secureConnection', (socket: tls.TLSSocket) => {
    if (!clientCertificateAccepted(socket, current.clientAuth)) socket.destroy();
  });
}
