/** The docker rules a JSON Schema cannot say: an engine address that parses, TLS keys that mean something. */
import type { ConfigPath, ConfigProblem } from '../../src/config/problems';
import { tlsConfigProblems } from '../../src/net/tls-config';
import { parseDockerEndpoint } from './endpoint';
import type { DockerSettings } from './schema';

export function validateDockerSettings(settings: DockerSettings, path: ConfigPath): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const endpoint = parseDockerEndpoint(settings.host, settings.tls_config !== undefined);
  if ('problem' in endpoint) problems.push({ path: [...path, 'host'], message: endpoint.problem });
  if (settings.tls_config !== undefined) problems.push(...tlsConfigProblems(settings.tls_config, [...path, 'tls_config']));
  return problems;
}
