/**
 * What the prober reads from the engine's answers, checked field by field: whatever answers on
 * the socket (a proxy, a different service) must either look like the Docker API or fail the
 * probe with `protocol`, never yield NaN metrics.
 */
import { ProbeFailure } from '../../src/probe/failure';
import { CONTAINER_STATES, HEALTH_STATUSES, type ContainerFacts, type ContainerState, type ContainerUsage, type HealthStatus } from './metrics';

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const numberOr = (value: unknown, fallback: number): number => (typeof value === 'number' && Number.isFinite(value) ? value : fallback);
/** Go's zero time.Time, which the engine reports for a container that never started. */
const GO_ZERO_TIME = /^0001-01-01T/;

function notDocker(what: string): ProbeFailure {
  return new ProbeFailure('protocol', `the answer to ${what} is not what the Docker engine API returns: is host an engine or a socket proxy?`);
}

export function readVersion(answer: unknown): { version: string; apiVersion: string } {
  if (!isObject(answer) || typeof answer.Version !== 'string' || typeof answer.ApiVersion !== 'string') throw notDocker('GET /version');
  return { version: answer.Version, apiVersion: answer.ApiVersion };
}

/** The ids of listed containers, ordered by name so the probe log reads the same each time. */
export function readContainerList(answer: unknown): { id: string; name: string }[] {
  if (!Array.isArray(answer)) throw notDocker('GET /containers/json');
  return answer
    .map((entry: unknown) => {
      if (!isObject(entry) || typeof entry.Id !== 'string') throw notDocker('GET /containers/json');
      const names = Array.isArray(entry.Names) ? entry.Names.filter((name): name is string => typeof name === 'string') : [];
      return { id: entry.Id, name: (names[0] ?? entry.Id).replace(/^\//, '') };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

export function readInspection(answer: unknown): ContainerFacts {
  const what = 'GET /containers/{id}/json';
  if (!isObject(answer) || typeof answer.Name !== 'string' || !isObject(answer.State)) throw notDocker(what);
  const state = answer.State;
  const status = state.Status;
  if (typeof status !== 'string' || status === 'missing' || !(CONTAINER_STATES as readonly string[]).includes(status)) throw notDocker(what);
  const healthStatus = isObject(state.Health) ? state.Health.Status : undefined;
  const health: HealthStatus = typeof healthStatus === 'string' && (HEALTH_STATUSES as readonly string[]).includes(healthStatus) ? (healthStatus as HealthStatus) : 'none';
  const hostConfig = isObject(answer.HostConfig) ? answer.HostConfig : {};
  const config = isObject(answer.Config) ? answer.Config : {};
  const startedAt = typeof state.StartedAt === 'string' && !GO_ZERO_TIME.test(state.StartedAt) ? Date.parse(state.StartedAt) / 1000 : undefined;
  return {
    name: answer.Name.replace(/^\//, ''),
    image: typeof config.Image === 'string' ? config.Image : '',
    state: status as Exclude<ContainerState, 'missing'>,
    running: state.Running === true,
    health,
    restartCount: numberOr(answer.RestartCount, 0),
    oomKilled: state.OOMKilled === true,
    exitCode: numberOr(state.ExitCode, 0),
    startedAt: startedAt !== undefined && Number.isFinite(startedAt) ? startedAt : undefined,
    cpuLimitCores: cpuLimitCores(hostConfig),
    memoryLimitBytes: numberOr(hostConfig.Memory, 0),
  };
}

/** `--cpus` sets NanoCpus; `--cpu-quota` with `--cpu-period` (100 ms by default) is the older way to say the same. */
function cpuLimitCores(hostConfig: Json): number {
  const nanoCpus = numberOr(hostConfig.NanoCpus, 0);
  if (nanoCpus > 0) return nanoCpus / 1e9;
  const quota = numberOr(hostConfig.CpuQuota, 0);
  const period = numberOr(hostConfig.CpuPeriod, 0) || 100_000;
  return quota > 0 ? quota / period : 0;
}

/**
 * CPU and memory from one stats sample. The CPU counter is cumulative, so one sample is enough
 * (no second sample for a percentage, which is what makes a plain stats call take a second).
 * Memory as the docker CLI computes it: cgroup v1 reports the inactive page cache as
 * total_inactive_file, cgroup v2 as inactive_file.
 */
export function readUsage(answer: unknown): ContainerUsage {
  if (!isObject(answer) || !isObject(answer.cpu_stats) || !isObject(answer.cpu_stats.cpu_usage) || !isObject(answer.memory_stats)) throw notDocker('GET /containers/{id}/stats');
  const totalUsage = answer.cpu_stats.cpu_usage.total_usage;
  if (typeof totalUsage !== 'number') throw notDocker('GET /containers/{id}/stats');
  const memory = answer.memory_stats;
  const detail = isObject(memory.stats) ? memory.stats : {};
  const inactiveFile = numberOr(detail.total_inactive_file, numberOr(detail.inactive_file, 0));
  const usage = numberOr(memory.usage, 0);
  return { cpuSeconds: totalUsage / 1e9, memoryBytes: Math.max(0, usage - (inactiveFile < usage ? inactiveFile : 0)) };
}
