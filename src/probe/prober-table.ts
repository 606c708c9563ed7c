/**
 * The probers a checkpoint knows, by the name a module gives in `prober:`, as blackbox_exporter's
 * prober table. Built once in src/cli/probers.ts and handed to the config loader and the
 * checkpoint, so that nothing in the runtime imports a protocol. Each implementation is imported
 * on its first probe and kept; `close` releases those that were loaded.
 */
import type { TSchema } from '@sinclair/typebox';
import { firstLine } from './failure';
import type { Prober, ProberDefinition, ProberImplementation } from './prober';

/**
 * A definition without its specific settings and target types, for code that handles every
 * prober alike. Any definition is one: its methods take their settings and target as method
 * parameters, which TypeScript compares both ways.
 */
export type AnyProberDefinition = ProberDefinition<TSchema, unknown, unknown>;

/** The settings type of each prober of a table, by name: what a module's section holds. */
export type SettingsOf<Definitions extends Record<string, AnyProberDefinition>> = {
  [Name in keyof Definitions]: Definitions[Name] extends ProberDefinition<TSchema, unknown, infer Settings> ? Settings : never;
};

interface Loaded {
  implementation: ProberImplementation<unknown, unknown>;
  /** Made once, so every probe of this prober calls the same function. */
  probe: Prober;
}

export class ProberTable<Definitions extends Record<string, AnyProberDefinition> = Record<string, AnyProberDefinition>> {
  private readonly definitions: ReadonlyMap<string, AnyProberDefinition>;
  private readonly loaded = new Map<string, Promise<Loaded>>();

  constructor(definitions: Definitions) {
    this.definitions = new Map(Object.entries(definitions));
  }

  get names(): string[] {
    return [...this.definitions.keys()];
  }

  has(name: string): boolean {
    return this.definitions.has(name);
  }

  /** The definition of a prober a validated config names. */
  definition(name: string): AnyProberDefinition {
    const definition = this.definitions.get(name);
    if (!definition) throw new Error(`unknown prober "${name}"`);
    return definition;
  }

  /**
   * The probe function, imported on first use. One that cannot be imported (a package missing
   * from a broken install) gives a probe that fails with `internal` saying so, and is tried
   * again on the next probe.
   */
  async prober(name: string): Promise<Prober> {
    let loading = this.loaded.get(name);
    if (!loading) {
      loading = this.definition(name)
        .load()
        .then((implementation) => ({ implementation, probe: (probe) => implementation.probe(probe) }));
      this.loaded.set(name, loading);
      loading.catch(() => this.loaded.delete(name));
    }
    try {
      return (await loading).probe;
    } catch (error) {
      const message = `the ${name} prober could not be loaded: ${firstLine(error)}`;
      return async (probe) => probe.fail('internal', message);
    }
  }

  /** Lets every loaded prober release what it keeps between probes. The process is ending: one that fails to close is not retried. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.loaded.values()].map(async (loading) => (await loading).implementation.close?.()));
  }
}
