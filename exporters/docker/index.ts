/** The docker prober as the runtime sees it: schema, extra rules, target check and probe function. */
import type { ProberDefinition } from '../../src/probe/prober';
import { probeDocker } from './prober';
import { DockerSettingsSchema } from './schema';
import { parseDockerTarget } from './target';
import { validateDockerSettings } from './validate';

export const dockerProber: ProberDefinition<typeof DockerSettingsSchema> = {
  schema: DockerSettingsSchema,
  validate: validateDockerSettings,
  checkTarget: (target) => {
    const parsed = parseDockerTarget(target);
    return 'problem' in parsed ? parsed.problem : undefined;
  },
  probe: probeDocker,
};
