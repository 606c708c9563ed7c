/**
 * The files a journey names, read before it starts so a missing one fails with `config` before
 * the browser is touched: the secrets of `fill.value_file` steps and the journey scripts.
 */
import { readSecretFile } from '../../src/probe/config-files';
import { ProbeFailure } from '../../src/probe/failure';
import type { JourneyStep } from './journey-step';
import type { JourneyScript } from './steps';

export interface JourneyFiles {
  /** The secret of each fill step with value_file, by step index (1-based, as in the journey). */
  secrets: Map<number, string>;
  scripts: Map<number, JourneyScript>;
}

/** `steps` are the module's, without step 0 (loading the target). */
export async function readJourneyFiles(steps: JourneyStep[]): Promise<JourneyFiles> {
  const files: JourneyFiles = { secrets: new Map(), scripts: new Map() };
  for (const [offset, step] of steps.entries()) {
    const index = offset + 1;
    if (step.action === 'fill' && typeof step.value !== 'string') files.secrets.set(index, await readSecretFile(step.value.file, `steps.${offset}.fill.value_file`));
    if (step.action === 'script') files.scripts.set(index, loadScript(step.file, `steps.${offset}.script`));
  }
  return files;
}

/**
 * A CommonJS file whose export (or `default` export) is `async (page, context, journey) => void`.
 * Loaded afresh at every probe, so an edited script is used without a reload.
 */
function loadScript(file: string, key: string): JourneyScript {
  let exported: unknown;
  try {
    delete require.cache[require.resolve(file)];
    exported = require(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ProbeFailure('config', `cannot load ${key} ${file}: ${code === 'MODULE_NOT_FOUND' ? 'no such file' : String((error as Error).message ?? error).split('\n')[0]}`);
  }
  const fn = typeof exported === 'function' ? exported : (exported as { default?: unknown } | null)?.default;
  if (typeof fn !== 'function') throw new ProbeFailure('config', `${key} ${file} does not export a function (module.exports = async (page, context) => { ... })`);
  return fn as JourneyScript;
}
