/** The postgres prober as the runtime sees it: schema, extra rules and target parsing; the probe function loads on first use. */
import type { ProberDefinition } from '../../src/probe/prober';
import { PostgresSettingsSchema } from './schema';
import { parsePostgresTarget, type PostgresTarget } from './target';
import { validatePostgresSettings } from './validate';

export const postgresProber: ProberDefinition<typeof PostgresSettingsSchema, PostgresTarget> = {
  schema: PostgresSettingsSchema,
  validate: validatePostgresSettings,
  parseTarget: parsePostgresTarget,
  targetHost: (target) => target.host,
  load: async () => ({ probe: (await import('./prober')).probePostgres }),
};
