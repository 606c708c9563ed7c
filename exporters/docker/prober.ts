/**
 * The docker prober: connect to the engine, ask its version, find the target's containers (one
 * by name or id, or those a label selector lists), inspect each, read CPU and memory of the
 * running ones, and succeed when every container found runs and is healthy if it has a health
 * check. Only read calls (GET) are made, so a socket proxy that allows nothing else suffices.
 */
import type { ProbeContext } from '../../src/probe/prober';
import { ProbeFailure } from '../../src/probe/failure';
import { registerTlsMetrics } from '../../src/net/tls-facts';
import { parseDockerEndpoint } from './endpoint';
import { openEngine, type EngineSession } from './engine';
import { readContainerList, readInspection, readUsage, readVersion } from './engine-answers';
import { classifyRequestError } from './errors';
import { createDockerMetrics, DOCKER_PHASES, type ContainerFacts, type DockerMetrics } from './metrics';
import type { DockerSettings } from './schema';
import type { DockerTarget } from './target';

export async function probeDocker(probe: ProbeContext<DockerSettings, DockerTarget>): Promise<boolean> {
  const { settings, log, signal, target } = probe;
  const metrics = createDockerMetrics(probe.registry);
  const timer = probe.phases('docker', DOCKER_PHASES);
  // validate() refused a host that does not parse when the config loaded; this reads its parts again.
  const endpoint = parseDockerEndpoint(settings.host, settings.tls_config !== undefined);
  if ('problem' in endpoint) return probe.fail('config', endpoint.problem);

  // openEngine closes what it opened when it fails; from here on the finally below does.
  const engine = await openEngine({ endpoint, settings, timer, log, signal, onTls: (facts) => facts && registerTlsMetrics(probe.registry, facts) });
  try {
    const { docker } = engine;
    // dockerode's types leave out abortSignal on version(), which it passes on like the others.
    const versionAnswer = await timer.time('version', () => (docker.version as (options: object) => Promise<unknown>)({ abortSignal: signal }).catch(rethrowAs('version', 'GET /version')));
    const engineVersion = readVersion(versionAnswer);
    metrics.engine(engineVersion.version, engineVersion.apiVersion);
    log.info('Engine answered', { version: engineVersion.version, api_version: engineVersion.apiVersion });

    let candidates: { id: string; name: string }[];
    if (target.kind === 'labels') {
      const listed = await timer.time('list', () => docker.listContainers({ all: true, filters: { label: target.filters }, abortSignal: signal }).catch(rethrowAs('list', 'GET /containers/json')), {
        label: target.filters.join(','),
      });
      candidates = readContainerList(listed);
      log.info('Containers listed', { matched: candidates.length, names: candidates.map((each) => each.name).join(',') });
      if (candidates.length > settings.max_containers) {
        return probe.fail('config', `the label selector matches ${candidates.length} containers, more than max_containers (${settings.max_containers}): narrow it or raise the limit`);
      }
    } else {
      candidates = [{ id: target.name, name: target.name }];
    }

    const inspected = await timer.time('inspect', () =>
      Promise.all(
        candidates.map(async ({ id, name }) => {
          try {
            return readInspection(await docker.getContainer(id).inspect({ abortSignal: signal }));
          } catch (error) {
            const failure = classifyRequestError(error, 'inspect', name);
            // Removed between the list and its inspection: gone, like one never listed.
            if (failure.reason === 'not_found' && target.kind === 'labels') return undefined;
            throw failure;
          }
        }),
      ).catch((error: unknown) => {
        // A named container that does not exist still gets its state set: `missing`.
        if (target.kind === 'container' && error instanceof ProbeFailure && error.reason === 'not_found') metrics.missing(target.name);
        throw error;
      }),
    );
    const found = inspected.filter((facts): facts is ContainerFacts => facts !== undefined);
    metrics.containers.set(found.length);
    if (found.length === 0) return probe.fail('not_found', `no container carries the labels ${target.kind === 'labels' ? target.filters.join(',') : ''}`);

    const now = Date.now() / 1000;
    for (const facts of found) {
      metrics.container(facts, now);
      log.info('Container inspected', { container: facts.name, state: facts.state, health: facts.health, restart_count: facts.restartCount, exit_code: facts.exitCode, oom_killed: facts.oomKilled });
    }

    const running = found.filter((facts) => facts.running);
    if (settings.stats && running.length > 0) await timer.time('stats', () => Promise.all(running.map((facts) => readStats(probe, engine, facts.name, metrics))));

    const unwell = found.filter((facts) => facts.state !== 'running' || (facts.health !== 'none' && facts.health !== 'healthy'));
    if (unwell.length > 0) {
      const described = unwell.map(
        (facts) =>
          `${facts.name} is ${facts.state}${facts.health !== 'none' && facts.health !== 'healthy' ? ` and ${facts.health}` : ''}${facts.state === 'exited' ? ` (exit code ${facts.exitCode}${facts.oomKilled ? ', OOM-killed' : ''})` : ''}`,
      );
      return probe.fail('assertion', `${unwell.length} of ${found.length} container(s) not running and healthy: ${described.join('; ')}`);
    }
    return true;
  } finally {
    engine.close();
  }
}

function rethrowAs(request: 'version' | 'list', what: string) {
  return (error: unknown): never => {
    throw classifyRequestError(error, request, what);
  };
}

/**
 * CPU and memory are extras: the probe asks whether the containers run, so a stats call that fails
 * (a container stopping in between, a proxy that does not allow it) is logged and its metrics left
 * out, and the probe's result stands. Only the deadline fails the probe here. `one-shot` (API
 * 1.41) answers at once instead of sampling twice a second apart.
 */
async function readStats(probe: ProbeContext<DockerSettings, DockerTarget>, engine: EngineSession, name: string, metrics: DockerMetrics): Promise<void> {
  try {
    const answer: unknown = await engine.docker.getContainer(name).stats({ stream: false, 'one-shot': true, abortSignal: probe.signal } as { stream: false });
    const usage = readUsage(answer);
    metrics.usage(name, usage);
    probe.log.info('Container stats read', { container: name, cpu_seconds: usage.cpuSeconds, memory_bytes: usage.memoryBytes });
  } catch (error) {
    if (probe.signal.aborted) throw error;
    const failure = classifyRequestError(error, 'stats', name);
    probe.log.warn('Container stats failed; its CPU and memory metrics are left out, the probe result does not depend on them', { container: name, reason: failure.reason, err: failure.message });
  }
}
