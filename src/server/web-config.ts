/**
 * `--web.config.file`: the Prometheus exporter-toolkit web configuration (TLS, basic auth,
 * response headers), so the file users already have for node_exporter and blackbox_exporter
 * works here as it is. Parsing and the rules that need no file I/O live here; reading the
 * certificates is in web-tls.ts, the per-request checks in web-guard.ts.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import Ajv from 'ajv';
import { Type, type Static } from '@sinclair/typebox';
import { ConfigError, dottedPath, type ConfigProblem } from '../config/problems';
import { StrictObject, StringEnum } from '../config/schema-helpers';
import { parseYamlFile } from '../config/yaml-file';
import { TLS_VERSIONS } from '../net/tls-config';

/** Go's crypto/tls names; RequireClientCert is exporter-toolkit's old name for RequireAnyClientCert. */
const CLIENT_AUTH_TYPES = ['NoClientCert', 'RequestClientCert', 'RequireAnyClientCert', 'RequireClientCert', 'VerifyClientCertIfGiven', 'RequireAndVerifyClientCert'] as const;
export type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];
/** The types that check a client certificate against a CA, so they need one. */
const VERIFYING_CLIENT_AUTH_TYPES: readonly ClientAuthType[] = ['VerifyClientCertIfGiven', 'RequireAndVerifyClientCert'];

/** The TLS 1.2 suites Go's tls.CipherSuites() accepts, by Go name, with their OpenSSL names. Go ignores the list for TLS 1.3, and so does OpenSSL. */
export const GO_CIPHER_SUITES = {
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  // TLS 1.3 names are accepted by Go and have no effect there.
  TLS_AES_128_GCM_SHA256: undefined,
  TLS_AES_256_GCM_SHA384: undefined,
  TLS_CHACHA20_POLY1305_SHA256: undefined,
} as const;

/** exporter-toolkit's curve names with OpenSSL's. */
export const GO_CURVES = { CurveP256: 'P-256', CurveP384: 'P-384', CurveP521: 'P-521', X25519: 'X25519' } as const;

/** $2$, $2a$, $2b$ and $2y$ hashes with a cost of 4 to 31: what Go's bcrypt and bcryptjs both read. */
const BCRYPT_HASH = /^\$2[aby]?\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;
/** Never the value itself in the message: it is a password hash. */
const NOT_A_BCRYPT_HASH = 'not a bcrypt hash (make one with: htpasswd -nBC 10 "" | tr -d \':\\n\')';

/** The top-level sections that, left empty, are Go's zero value: no TLS, no headers, no users. */
const SECTIONS = ['tls_server_config', 'http_server_config', 'basic_auth_users'];

/** exporter-toolkit allows only these response headers, and for two of them only these values. */
const HeadersSchema = StrictObject({
  'Strict-Transport-Security': Type.Optional(Type.String()),
  'X-Content-Type-Options': Type.Optional(StringEnum(['nosniff'] as const)),
  'X-Frame-Options': Type.Optional(StringEnum(['deny', 'sameorigin'] as const)),
  'X-XSS-Protection': Type.Optional(Type.String()),
  'Content-Security-Policy': Type.Optional(Type.String()),
});

const TlsServerSchema = StrictObject({
  cert_file: Type.Optional(Type.String({ minLength: 1 })),
  key_file: Type.Optional(Type.String({ minLength: 1 })),
  client_auth_type: Type.Optional(StringEnum(CLIENT_AUTH_TYPES)),
  client_ca_file: Type.Optional(Type.String({ minLength: 1 })),
  min_version: StringEnum(TLS_VERSIONS, { default: 'TLS12' }),
  max_version: StringEnum(TLS_VERSIONS, { default: 'TLS13' }),
  cipher_suites: Type.Optional(Type.Array(StringEnum(Object.keys(GO_CIPHER_SUITES) as (keyof typeof GO_CIPHER_SUITES)[]))),
  curve_preferences: Type.Optional(Type.Array(StringEnum(Object.keys(GO_CURVES) as (keyof typeof GO_CURVES)[]))),
  prefer_server_cipher_suites: Type.Boolean({ default: true }),
});

const WebConfigSchema = StrictObject({
  tls_server_config: Type.Optional(TlsServerSchema),
  http_server_config: Type.Optional(
    StrictObject({
      // Accepted for compatibility; the checkpoint serves HTTP/1.1 only (see docs/reference.md).
      http2: Type.Boolean({ default: true }),
      headers: Type.Optional(HeadersSchema),
    }),
  ),
  // Every hash problem (a user with no hash at all too) is the schema's, so they come with the others.
  basic_auth_users: Type.Optional(Type.Record(Type.String(), Type.String({ pattern: BCRYPT_HASH.source }))),
});

export type WebConfig = Static<typeof WebConfigSchema>;
export type TlsServerConfig = Static<typeof TlsServerSchema>;

/** exporter-toolkit keys the checkpoint does not implement: refused by name rather than as unknown. */
const UNSUPPORTED_KEYS: Record<string, string[]> = {
  '': ['rate_limit'],
  tls_server_config: ['cert', 'key', 'client_ca', 'client_allowed_sans'],
};

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
const validateSchema = ajv.compile<WebConfig>(WebConfigSchema);

/**
 * The file's text into a checked config; every problem at once, each `file:line:col: key.path: message`.
 * Relative paths are taken from the file's directory, as exporter-toolkit does.
 */
export function parseWebConfig(text: string, file: string): WebConfig {
  const config = parseYamlFile(text, file, {
    validate: validateSchema,
    // An empty file is Go's zero value: no TLS, no users, no headers.
    notAMapping: 'the web config must be a mapping',
    beforeSchema(raw) {
      // So is a whole section left empty. Nothing deeper: `alice:` with no hash is a user nobody
      // can log in as for exporter-toolkit, and here a problem, never a list without that user.
      for (const section of SECTIONS) if (raw[section] === null) delete raw[section];
      return [];
    },
    describeSchemaError(error, at) {
      if (at.length === 2 && at[0] === 'basic_auth_users') return { path: at, message: NOT_A_BCRYPT_HASH };
      if (error.keyword === 'additionalProperties') {
        const key = error.params.additionalProperty as string;
        if (UNSUPPORTED_KEYS[dottedPath(at)]?.includes(key)) return { path: [...at, key], message: 'exporter-toolkit key the checkpoint does not support', atKey: true };
      }
      return undefined;
    },
    afterSchema: ruleProblems,
  });
  return resolvePaths(config, path.dirname(file));
}

/** Whether the config asks for TLS at all (exporter-toolkit's rule: any TLS key set). */
export function tlsWanted(config: WebConfig): config is WebConfig & { tls_server_config: TlsServerConfig } {
  const tls = config.tls_server_config;
  return Boolean(tls && (tls.cert_file || tls.key_file || tls.client_ca_file || tls.client_auth_type));
}

/** The rules exporter-toolkit applies beyond the shape of the file. */
function ruleProblems(config: WebConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const tls = config.tls_server_config;
  if (tls && tlsWanted(config)) {
    if (!tls.cert_file) problems.push({ path: ['tls_server_config'], message: 'cert_file is missing; TLS needs cert_file and key_file together' });
    if (!tls.key_file) problems.push({ path: ['tls_server_config'], message: 'key_file is missing; TLS needs cert_file and key_file together' });
    const clientAuth = tls.client_auth_type ?? 'NoClientCert';
    if (VERIFYING_CLIENT_AUTH_TYPES.includes(clientAuth) && !tls.client_ca_file) {
      problems.push({ path: ['tls_server_config', 'client_auth_type'], message: `${clientAuth} needs client_ca_file to verify client certificates against` });
    }
    if (tls.client_ca_file && clientAuth === 'NoClientCert') {
      problems.push({ path: ['tls_server_config', 'client_ca_file'], message: 'set, but client_auth_type asks for no client certificate' });
    }
    if (TLS_VERSIONS.indexOf(tls.min_version) > TLS_VERSIONS.indexOf(tls.max_version)) {
      problems.push({ path: ['tls_server_config', 'min_version'], message: `${tls.min_version} is above max_version ${tls.max_version}` });
    }
  }
  return problems;
}

function resolvePaths(config: WebConfig, dir: string): WebConfig {
  const tls = config.tls_server_config;
  if (!tls) return config;
  const resolve = (file: string | undefined) => (file === undefined ? undefined : path.resolve(dir, file));
  return { ...config, tls_server_config: { ...tls, cert_file: resolve(tls.cert_file), key_file: resolve(tls.key_file), client_ca_file: resolve(tls.client_ca_file) } };
}

/**
 * What a web config enforces, as far as a re-read may not lower it while running: a file
 * truncated and rewritten in place is empty for a moment, and one cut off after `key_file` is a
 * valid file without client certificates, so either would otherwise serve every request without
 * the login the checkpoint started with.
 */
export interface WebConfigStrength {
  basicAuth: boolean;
  tls: boolean;
  /** A client certificate is required to connect at all. */
  requiresClientCert: boolean;
  /** A client certificate that is presented is verified against the client CA. */
  verifiesClientCert: boolean;
  clientAuth: ClientAuthType;
}

/** The types that refuse a client without a certificate. */
const REQUIRING_CLIENT_AUTH_TYPES: readonly ClientAuthType[] = ['RequireAnyClientCert', 'RequireClientCert', 'RequireAndVerifyClientCert'];

export function webConfigStrength(config: WebConfig): WebConfigStrength {
  const tls = tlsWanted(config);
  const clientAuth = (tls && config.tls_server_config.client_auth_type) || 'NoClientCert';
  return {
    basicAuth: Object.keys(config.basic_auth_users ?? {}).length > 0,
    tls,
    requiresClientCert: REQUIRING_CLIENT_AUTH_TYPES.includes(clientAuth),
    verifiesClientCert: VERIFYING_CLIENT_AUTH_TYPES.includes(clientAuth),
    clientAuth,
  };
}

/**
 * How `config` falls short of what was enforced at start, one problem each. The client auth types
 * are ordered by what they refuse, and two properties say it: requiring a certificate and verifying
 * one; a type that drops either admits a client the start's type refused (RequireAnyClientCert and
 * VerifyClientCertIfGiven are each weaker than the other). Fewer users, other hashes, another
 * certificate or client CA are not weaker.
 */
export function weakenings(atStart: WebConfigStrength, config: WebConfig): string[] {
  const now = webConfigStrength(config);
  const problems: string[] = [];
  const restart = 'restart the checkpoint to do that';
  if (atStart.basicAuth && !now.basicAuth) problems.push(`the web config would turn basic auth off; ${restart}`);
  if (atStart.tls && !now.tls) problems.push(`the web config would turn TLS off; ${restart}`);
  else if ((atStart.requiresClientCert && !now.requiresClientCert) || (atStart.verifiesClientCert && !now.verifiesClientCert)) {
    problems.push(`the web config would weaken client_auth_type from ${atStart.clientAuth} to ${now.clientAuth}; ${restart}`);
  }
  return problems;
}

/**
 * The file re-read for every use, parsed again only when its text changed: requests and new TLS
 * connections see an edit at once without paying for YAML and the schema each time. With
 * `atStart`, a file that would enforce less than that is invalid (see weakenings): requests get
 * 500 and new TLS connections are refused until the file is back to at least that strength.
 * Both readers are closures (no `this`), handed to the request guard and the TLS reload as they are.
 */
export function webConfigSource(file: string, atStart?: WebConfigStrength): { read: () => Promise<WebConfig>; readSync: () => WebConfig } {
  let last: { text: string; result: WebConfig | ConfigError } | undefined;
  const parsed = (text: string): WebConfig => {
    if (last?.text !== text) {
      let result: WebConfig | ConfigError;
      try {
        result = parseWebConfig(text, file);
        const weaker = atStart ? weakenings(atStart, result) : [];
        if (weaker.length > 0) result = new ConfigError(weaker.map((problem) => `${file}: ${problem}`));
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        result = error;
      }
      last = { text, result };
    }
    if (last.result instanceof ConfigError) throw last.result;
    return last.result;
  };
  const unreadable = (error: unknown) => new ConfigError([`${file}: cannot read web config file: ${(error as NodeJS.ErrnoException).code ?? String(error)}`]);
  return {
    read: () => readFile(file, 'utf8').then(parsed, (error: unknown) => Promise.reject(unreadable(error))),
    readSync() {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (error) {
        throw unreadable(error);
      }
      return parsed(text);
    },
  };
}
