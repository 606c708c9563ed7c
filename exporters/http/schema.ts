/**
 * The `http:` section of a module: blackbox_exporter's keys, accepted as they are, with its
 * defaults. Unknown keys are refused, as blackbox_exporter refuses them.
 */
import { Type, type Static } from '@sinclair/typebox';
import { IpProtocolKeys, StrictObject, StringEnum } from '../../src/config/schema-helpers';
import { TlsConfigSchema } from '../../src/net/tls-config';
import { SecretFile, SecretUrl, SecretValue, secretKeysMark } from '../../src/config/secrets';

/** Credential headers: secrets even when written as plain strings, dropped on a redirect to another host. */
export const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization', 'x-api-key'] as const;

/** A header value that is a secret: `{ secret_file: /run/secrets/token }`, or `{ secret: ... }` inline. */
const SecretHeaderValue = StrictObject(
  { secret: Type.Optional(SecretValue()), secret_file: Type.Optional(SecretFile()) },
  { minProperties: 1, maxProperties: 1, description: 'exactly one of secret or secret_file' },
);

/**
 * An http:// forward proxy (https targets go through it with CONNECT). Credentials in it
 * (`http://user:pass@proxy:3128`) are sent as Proxy-Authorization; the password is a secret.
 */
const ProxyUrl = SecretUrl({ pattern: '^http://', patternMessage: 'must be an http:// forward proxy URL (https targets go through it with CONNECT)' });

const HeaderMatch = StrictObject({
  header: Type.String({ minLength: 1 }),
  regexp: Type.String(),
  allow_missing: Type.Boolean({ default: false }),
});

export const HttpSettingsSchema = StrictObject({
  valid_status_codes: Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { default: [], description: 'empty means any 2xx' }),
  valid_http_versions: Type.Array(StringEnum(['HTTP/1.0', 'HTTP/1.1', 'HTTP/2.0']), { default: [] }),
  method: Type.String({ pattern: '^[A-Za-z]+$', patternMessage: 'must be an HTTP method such as GET or POST', default: 'GET' }),
  headers: Type.Record(Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" }), Type.Union([Type.String(), SecretHeaderValue]), {
    default: {},
    ...secretKeysMark(CREDENTIAL_HEADERS),
  }),
  body: Type.Optional(Type.String()),
  body_file: Type.Optional(Type.String({ minLength: 1 })),
  compression: StringEnum(['', 'gzip', 'br', 'deflate', 'identity'], { default: '' }),
  follow_redirects: Type.Boolean({ default: true }),
  fail_if_ssl: Type.Boolean({ default: false }),
  fail_if_not_ssl: Type.Boolean({ default: false }),
  fail_if_body_matches_regexp: Type.Array(Type.String(), { default: [] }),
  fail_if_body_not_matches_regexp: Type.Array(Type.String(), { default: [] }),
  fail_if_header_matches: Type.Array(HeaderMatch, { default: [] }),
  fail_if_header_not_matches: Type.Array(HeaderMatch, { default: [] }),
  tls_config: Type.Optional(TlsConfigSchema),
  basic_auth: Type.Optional(
    StrictObject({
      username: Type.String(),
      password: Type.Optional(SecretValue({ description: 'accepted for blackbox_exporter compatibility; prefer password_file' })),
      password_file: Type.Optional(SecretFile()),
    }),
  ),
  bearer_token: Type.Optional(SecretValue({ description: 'accepted for blackbox_exporter compatibility; prefer bearer_token_file' })),
  bearer_token_file: Type.Optional(SecretFile()),
  authorization: Type.Optional(
    StrictObject({
      type: Type.String({ minLength: 1, default: 'Bearer' }),
      credentials: Type.Optional(SecretValue({ description: 'accepted for blackbox_exporter compatibility; prefer credentials_file' })),
      credentials_file: Type.Optional(SecretFile()),
    }),
  ),
  oauth2: Type.Optional(
    StrictObject({
      client_id: Type.String({ minLength: 1 }),
      client_secret: Type.Optional(SecretValue({ description: 'accepted for blackbox_exporter compatibility; prefer client_secret_file' })),
      client_secret_file: Type.Optional(SecretFile()),
      token_url: Type.String({ pattern: '^https?://', patternMessage: 'must be an http:// or https:// URL' }),
      scopes: Type.Array(Type.String(), { default: [] }),
      endpoint_params: Type.Record(Type.String(), Type.String(), { default: {} }),
      tls_config: Type.Optional(TlsConfigSchema),
      proxy_url: Type.Optional(ProxyUrl),
    }),
  ),
  proxy_url: Type.Optional(ProxyUrl),
  /** Headers of the CONNECT request only; their values are secrets, as in blackbox_exporter. */
  proxy_connect_header: Type.Optional(Type.Record(Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" }), Type.Array(SecretValue()))),
  ...IpProtocolKeys,
  enable_http2: Type.Boolean({ default: true }),
  body_size_limit: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: '^\\d+(B|KB|KiB|MB|MiB|GB|GiB)?$', patternMessage: 'must be a size such as 512KiB or 10MB' })])),
});

export type HttpSettings = Static<typeof HttpSettingsSchema>;
export type OAuth2Settings = NonNullable<HttpSettings['oauth2']>;
export type HeaderMatchSettings = Static<typeof HeaderMatch>;
