/** The postgres prober as the runtime sees it: schema, extra rules and target check; the probe function loads on first use. */
import type { ProberDefinition } from '../../src/probe/prober';
import { PostgresSettingsSchema } from './schema';
import { parsePostgresTarget } from './target';
import { validatePostgresSettings } from './validate';

export const postgresProber: ProberDefinition<typeof PostgresSettingsSchema> = {
  schema: PostgresSettingsSchema,
  validate: validatePostgresSettings,
  checkTarget: (target) => {
    const parsed = parsePostgresTarget(target);
    return 'problem' in parsed ? parsed.problem : undefined;
  },
  targetHost: (target) => {
    const parsed = parsePostgresTarget(target);
    return 'problem' in parsed ? undefined : parsed.host;
  },
  load: async () => ({ probe: (await import('./prober')).probePostgres }),
};
