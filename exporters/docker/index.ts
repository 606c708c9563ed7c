/**
 * The docker prober as the runtime sees it: schema, extra rules and target parsing; the probe
 * function loads on first use. No targetHost: a target names containers of the module's engine,
 * not a host, so allowed_targets has nothing to check in it.
 */
import type { ProberDefinition } from '../../src/probe/prober';
import { DockerSettingsSchema } from './schema';
import { parseDockerTarget, type DockerTarget } from './target';
import { validateDockerSettings } from './validate';

export const dockerProber: ProberDefinition<typeof DockerSettingsSchema, DockerTarget> = {
  schema: DockerSettingsSchema,
  validate: validateDockerSettings,
  parseTarget: parseDockerTarget,
  load: async () => ({ probe: (await import('./prober')).probeDocker }),
};
