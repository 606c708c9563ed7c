/** Hides secrets before a module's config is shown (`?debug=true`, the status page), by the schema's marks. */
import { stringify } from 'yaml';
import type { ProberTable } from '../probe/prober-table';
import { proberSettings, type ModuleConfig } from './schema';
import { redactSecrets } from './secrets';

/** Only the prober's section holds secrets: the keys every module has are none. */
export function redactModule(module: ModuleConfig, probers: ProberTable): ModuleConfig {
  return { ...module, [module.prober]: redactSecrets(probers.definition(module.prober).schema, proberSettings(module)) };
}

export function moduleAsYaml(module: ModuleConfig, probers: ProberTable): string {
  return stringify(redactModule(module, probers));
}
