/**
 * The metrics of a docker probe. States and health statuses are state sets, as in
 * kube-state-metrics: one series per possible value, 1 for the current one and 0 for the others,
 * so `== 1` selects and no series vanishes when a container changes state (cAdvisor's do when it
 * stops). Registered up front: the phases and the count of matched containers; everything about a
 * container appears once it was read, because a 0 there would be a claim about a container we
 * could not see.
 */
import type { ProbeRegistry } from '../../src/probe/probe-registry';

export const DOCKER_PHASES = ['resolve', 'connect', 'tls', 'version', 'list', 'inspect', 'stats'] as const;
export type DockerPhase = (typeof DOCKER_PHASES)[number];

/** The engine's states (`State.Status`) and `missing`, for a named container that does not exist. */
export const CONTAINER_STATES = ['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead', 'missing'] as const;
export type ContainerState = (typeof CONTAINER_STATES)[number];

/** `State.Health.Status`, and `none` for a container without a health check. */
export const HEALTH_STATUSES = ['starting', 'healthy', 'unhealthy', 'none'] as const;
export type HealthStatus = (typeof HEALTH_STATUSES)[number];

export interface ContainerFacts {
  /** Without Docker's leading slash. */
  name: string;
  image: string;
  state: Exclude<ContainerState, 'missing'>;
  /** True for running, paused and restarting containers: the engine has a process for them. */
  running: boolean;
  health: HealthStatus;
  restartCount: number;
  oomKilled: boolean;
  exitCode: number;
  /** Unixtime of the last start; undefined if it never started. */
  startedAt: number | undefined;
  /** 0 when the container has no limit. */
  cpuLimitCores: number;
  memoryLimitBytes: number;
}

export interface ContainerUsage {
  /** Cumulative CPU time of the container's processes since it started. */
  cpuSeconds: number;
  /** As `docker stats` shows it: usage less the inactive page cache, which the kernel reclaims first. */
  memoryBytes: number;
}

export function createDockerMetrics(registry: ProbeRegistry) {
  const containers = registry.gauge('probe_docker_containers', 'Containers the target matched: 0 or 1 for a name or id, any number for a label selector');
  containers.set(0);
  // Created on first use, so a probe that never reached a container shows none of them.
  const perContainer = {
    info: once(() => registry.gauge('probe_docker_container_info', 'The image the container was created from', ['container', 'image'])),
    state: once(() =>
      registry.gauge('probe_docker_container_state', "The container's state: 1 for the current one, 0 for the others (missing: the named container does not exist)", ['container', 'state']),
    ),
    health: once(() => registry.gauge('probe_docker_container_health_status', "The health check's status: 1 for the current one, 0 for the others (none: no health check)", ['container', 'status'])),
    restartCount: once(() => registry.gauge('probe_docker_container_restart_count', 'Times the engine restarted the container under its restart policy since it was created', ['container'])),
    oomKilled: once(() => registry.gauge('probe_docker_container_oom_killed', "Whether the kernel killed the container's last run for memory", ['container'])),
    exitCode: once(() => registry.gauge('probe_docker_container_exit_code', "The exit code of the container's last run (0 while the first run goes on)", ['container'])),
    uptime: once(() => registry.gauge('probe_docker_container_uptime_seconds', 'Seconds since the container last started; 0 when it is not running', ['container'])),
    cpuLimit: once(() => registry.gauge('probe_docker_container_cpu_limit_cores', "The container's CPU limit in cores (NanoCpus, or CpuQuota/CpuPeriod); 0 for none", ['container'])),
    memoryLimit: once(() => registry.gauge('probe_docker_container_memory_limit_bytes', "The container's memory limit; 0 for none", ['container'])),
    cpuUsage: once(() =>
      registry.gauge('probe_docker_container_cpu_usage_seconds', "CPU time the container used since it started, from the engine's counters: rate() of it is the cores in use", ['container']),
    ),
    memoryUsage: once(() => registry.gauge('probe_docker_container_memory_usage_bytes', 'Memory in use, as docker stats shows it (page cache the kernel can reclaim left out)', ['container'])),
  };
  const stateSet = (container: string, state: ContainerState) => {
    const series = perContainer.state();
    for (const each of CONTAINER_STATES) series.labels(container, each).set(each === state ? 1 : 0);
  };
  return {
    containers,
    engine(version: string, apiVersion: string) {
      registry.gauge('probe_docker_engine_info', "The engine's version and API version", ['version', 'api_version']).labels(version, apiVersion).set(1);
    },
    missing(container: string) {
      stateSet(container, 'missing');
    },
    container(facts: ContainerFacts, now: number) {
      const { name } = facts;
      perContainer.info().labels(name, facts.image).set(1);
      stateSet(name, facts.state);
      const health = perContainer.health();
      for (const status of HEALTH_STATUSES) health.labels(name, status).set(status === facts.health ? 1 : 0);
      perContainer.restartCount().labels(name).set(facts.restartCount);
      perContainer
        .oomKilled()
        .labels(name)
        .set(facts.oomKilled ? 1 : 0);
      perContainer.exitCode().labels(name).set(facts.exitCode);
      const uptime = facts.running && facts.startedAt !== undefined ? Math.max(0, now - facts.startedAt) : 0;
      perContainer.uptime().labels(name).set(uptime);
      perContainer.cpuLimit().labels(name).set(facts.cpuLimitCores);
      perContainer.memoryLimit().labels(name).set(facts.memoryLimitBytes);
    },
    usage(name: string, usage: ContainerUsage) {
      perContainer.cpuUsage().labels(name).set(usage.cpuSeconds);
      perContainer.memoryUsage().labels(name).set(usage.memoryBytes);
    },
  };
}

/** Makes the value on the first call and returns the same one after: a gauge registered when first needed. */
function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => (made ??= { value: make() }).value;
}

export type DockerMetrics = ReturnType<typeof createDockerMetrics>;
