/** The prober table (src/probe/prober-table.ts): implementations load once, on first use; a broken one fails its probes cleanly. */
import { Type } from '@sinclair/typebox';
import type { ProberDefinition, ProberImplementation } from '../../src/probe/prober';
import { ProberTable } from '../../src/probe/prober-table';
import { runProbe } from '../../src/probe/run';

function fakeDefinition(load: () => Promise<ProberImplementation<unknown, unknown>>): ProberDefinition {
  return { schema: Type.Object({}), validate: () => [], parseTarget: (target) => ({ target }), load };
}

test('an implementation is imported on its first probe, once, and only its own', async () => {
  const loads: string[] = [];
  const table = new ProberTable({
    used: fakeDefinition(async () => (loads.push('used'), { probe: async () => true })),
    unused: fakeDefinition(async () => (loads.push('unused'), { probe: async () => true })),
  });
  expect(table.names).toEqual(['used', 'unused']);
  expect(loads).toEqual([]);
  const [first, second] = await Promise.all([table.prober('used'), table.prober('used')]);
  expect(first).toBe(second);
  await table.prober('used');
  expect(loads).toEqual(['used']);
});

test('close() releases the loaded implementations only, and a failing close does not stop the others', async () => {
  const closed: string[] = [];
  const implementation =
    (name: string, fails = false) =>
    async () => ({
      probe: async () => true,
      close: async () => {
        closed.push(name);
        if (fails) throw new Error('close failed');
      },
    });
  const table = new ProberTable({ a: fakeDefinition(implementation('a', true)), b: fakeDefinition(implementation('b')), never: fakeDefinition(implementation('never')) });
  await table.prober('a');
  await table.prober('b');
  await table.close();
  expect(closed.sort()).toEqual(['a', 'b']);
});

test('an implementation that cannot be imported fails each probe as `internal` saying why, and is tried again', async () => {
  let attempts = 0;
  const table = new ProberTable({
    broken: fakeDefinition(async () => {
      attempts++;
      throw new Error("Cannot find module 'some-protocol-library'");
    }),
  });
  const result = await runProbe({ moduleName: 'm', module: { prober: 'broken', retries: 0 }, prober: await table.prober('broken'), target: 't', parsedTarget: 't', deadlineSeconds: 5 });
  expect(result.success).toBe(false);
  expect(result.failure).toEqual({ reason: 'internal', message: "the broken prober could not be loaded: Cannot find module 'some-protocol-library'" });
  await table.prober('broken');
  expect(attempts).toBe(2);
});

test('a prober the table does not have is a programming error, not a silent miss', () => {
  expect(() => new ProberTable({}).definition('http')).toThrow('unknown prober "http"');
});
