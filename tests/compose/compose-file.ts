/**
 * What the compose files' static tests share (tests/compose/compose.test.ts for compose.yaml,
 * compose-site.test.ts for compose.site.yaml): the parts of a compose file they read, and
 * helpers over services without Docker.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** The repository, and one of its files as text. */
export const ROOT = path.join(__dirname, '..', '..');
export const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');

export type Healthcheck = { test?: string[] | string; disable?: boolean; interval?: string };
export type SecretRef = string | { source: string; target?: string };
export type Service = {
  image?: string;
  build?: string | { context: string };
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string | number>;
  volumes?: string[];
  secrets?: SecretRef[];
  ports?: string[];
  user?: string;
  read_only?: boolean;
  tmpfs?: string[];
  cap_drop?: string[];
  security_opt?: string[];
  networks?: string[];
  healthcheck?: Healthcheck;
  depends_on?: Record<string, unknown>;
  privileged?: boolean;
};
export type Compose = {
  name: string;
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
  networks: Record<string, { internal?: boolean } | null>;
  secrets: Record<string, { file: string }>;
};

/** Compose's interpolation with nothing set in the environment: `${VAR:-default}` is the default, `$$` a `$`, a required `${VAR:?message}` empty. */
export function interpolate(value: string): string {
  return value.replace(/\$\$|\$\{([A-Z0-9_]+)(?::?([-?])([^}]*))?\}/g, (match, _name: string, kind?: string, fallback?: string) => (match === '$$' ? '$' : kind === '-' ? (fallback ?? '') : ''));
}
export function secretNames(service: Service): { source: string; target: string }[] {
  return (service.secrets ?? []).map((ref) => (typeof ref === 'string' ? { source: ref, target: ref } : { source: ref.source, target: ref.target ?? ref.source }));
}
export type Mount = { source: string; target: string; options: string[] };
/** A `source:target[:options]` volume of a service, its variables set to their defaults; the compose files have no anonymous (target-only) ones. */
export function mounts(service: Service): Mount[] {
  return (service.volumes ?? []).map((spec) => {
    const [source, target, options = ''] = interpolate(spec).split(':');
    if (source === undefined || target === undefined) throw new Error(`compose.yaml: volume "${spec}" is not source:target[:options]`);
    return { source, target, options: options.split(',').filter(Boolean) };
  });
}
export function bindMounts(service: Service): Mount[] {
  return mounts(service).filter((mount) => mount.source.startsWith('.') || mount.source.startsWith('/'));
}
export function namedVolumes(service: Service): Mount[] {
  return mounts(service).filter((mount) => !mount.source.startsWith('.') && !mount.source.startsWith('/'));
}
/**
 * The repository file (under `root`) a path inside a service's container comes from: a secret of
 * `compose`, or a bind mount of the file or of a directory above it; undefined for none.
 */
export function repoFileIn(root: string, compose: Compose, service: Service, containerPath: string): string | undefined {
  for (const { source, target } of secretNames(service)) {
    const secret = compose.secrets[source];
    if (secret && containerPath === `/run/secrets/${target}`) return path.join(root, interpolate(secret.file));
  }
  for (const mount of bindMounts(service)) {
    if (!mount.source.startsWith('.')) continue;
    const target = mount.target.replace(/\/$/, '');
    if (containerPath === target) return path.join(root, mount.source);
    if (containerPath.startsWith(`${target}/`)) return path.join(root, mount.source, containerPath.slice(target.length + 1));
  }
  return undefined;
}
export function healthcheckText(service: Service): string {
  const test = service.healthcheck?.test;
  return Array.isArray(test) ? test.join(' ') : (test ?? '');
}
export function commandText(service: Service): string {
  const part = (value: string[] | string | undefined) => (Array.isArray(value) ? value.join(' ') : (value ?? ''));
  return `${part(service.entrypoint)} ${part(service.command)}`;
}
/** Every `key: value` in a parsed YAML tree, with its path. */
export function* entries(node: unknown, at: string[] = []): Generator<{ path: string[]; key: string; value: unknown }> {
  if (Array.isArray(node)) {
    for (const [index, item] of node.entries()) yield* entries(item, [...at, String(index)]);
  } else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      yield { path: [...at, key], key, value };
      yield* entries(value, [...at, key]);
    }
  }
}
/** The service keys of the Compose Specification (schema/compose-spec.json): a typo is not one. */
export const SERVICE_KEYS = new Set(
  (
    'develop deploy annotations attach build blkio_config cap_add cap_drop cgroup cgroup_parent command configs container_name cpu_count cpu_percent ' +
    'cpu_shares cpu_quota cpu_period cpu_rt_period cpu_rt_runtime cpus cpuset credential_spec depends_on device_cgroup_rules devices dns dns_opt ' +
    'dns_search domainname entrypoint env_file label_file environment expose extends provider external_links extra_hosts gpus group_add healthcheck ' +
    'hostname image init ipc isolation labels links logging mac_address mem_limit mem_reservation mem_swappiness memswap_limit network_mode models ' +
    'networks oom_kill_disable oom_score_adj pid pids_limit platform ports post_start pre_stop privileged profiles pull_policy pull_refresh_after ' +
    'read_only restart runtime scale security_opt shm_size secrets sysctls stdin_open stop_grace_period stop_signal storage_opt tmpfs tty ulimits ' +
    'use_api_socket user uts userns_mode volumes volumes_from working_dir'
  ).split(' '),
);
export const HEALTHCHECK_KEYS = new Set(['disable', 'interval', 'retries', 'test', 'timeout', 'start_period', 'start_interval']);

/** An image pinned to a version: major.minor.patch; PostgreSQL and Debian releases have two numbers (15.10, 12.8), and that is all of it. */
export const PINNED_IMAGE = /^[a-z0-9./_-]+:v?\d+\.\d+\.\d+(-[a-z0-9.-]+)?$|^(postgres|debian):\d+\.\d+-(alpine|slim)$/;
