/** Hides secrets before a module's config is shown (`?debug=true`, the status page), by the schema's marks. */
import { stringify } from 'yaml';
import { ModuleSchema, type ModuleConfig } from './schema';
import { redactSecrets } from './secrets';

export function redactModule(module: ModuleConfig): ModuleConfig {
  return redactSecrets(ModuleSchema, module) as ModuleConfig;
}

export function moduleAsYaml(module: ModuleConfig): string {
  return stringify(redactModule(module));
}
