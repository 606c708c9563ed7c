/**
 * The `docker:` section of a module: which engine to ask (a unix socket, or TCP with the shared
 * `tls_config` block for a remote engine) and how much to read. The container comes from the
 * target. Unknown keys are refused.
 */
import { Type, type Static } from '@sinclair/typebox';
import { IpProtocolKeys, StrictObject } from '../../src/config/schema-helpers';
import { TlsConfigSchema } from '../../src/net/tls-config';

export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';
/** The most containers one probe of a label selector reads; more fail the probe (see README). */
export const MAX_CONTAINERS_LIMIT = 1000;

export const DockerSettingsSchema = StrictObject({
  host: Type.String({
    minLength: 1,
    default: DEFAULT_DOCKER_HOST,
    description: 'the engine: unix:///path/to/docker.sock, or tcp://host:port (TLS when tls_config is set)',
  }),
  tls_config: Type.Optional(TlsConfigSchema),
  api_version: Type.Optional(
    Type.String({ pattern: '^1\\.\\d+$', patternMessage: 'must be an engine API version such as 1.41', description: "pin the API version (paths /v1.41/...); default: the engine's own" }),
  ),
  stats: Type.Boolean({ default: true, description: 'read CPU and memory use of running containers (one stats call per container)' }),
  max_containers: Type.Integer({ minimum: 1, maximum: MAX_CONTAINERS_LIMIT, default: 100, description: 'a label selector matching more containers fails the probe' }),
  ...IpProtocolKeys,
});

export type DockerSettings = Static<typeof DockerSettingsSchema>;
