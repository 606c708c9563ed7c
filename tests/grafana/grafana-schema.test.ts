/**
 * Every dashboard against Grafana's own dashboard schema, since no Grafana runs here to load them:
 * the `Dashboard` type @grafana/schema publishes for the dashboard JSON (raw/dashboard/x, the
 * classic JSON model Grafana's file provisioning reads), turned into a JSON schema by
 * ts-json-schema-generator and checked with ajv. Unknown keys are refused, so a misspelt or
 * misplaced key fails here instead of being dropped by Grafana without a word.
 *
 * One key is allowed beyond the type: a query variable's `definition`, which Grafana's own
 * variable editor writes (the query as shown in the list of variables) and the type leaves out.
 * It must then say what the variable queries.
 */
import path from 'node:path';
import Ajv from 'ajv';
import { createGenerator } from 'ts-json-schema-generator';
import { loadDashboards } from '../support/dashboards';

const TYPES = path.join(path.dirname(require.resolve('@grafana/schema/package.json')), 'dist', 'types', 'raw', 'dashboard', 'x', 'types.gen.d.ts');

const schema = createGenerator({ path: TYPES, type: 'Dashboard', skipTypeCheck: true, additionalProperties: false, expose: 'all', topRef: true }).createSchema('Dashboard');
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

interface Variable {
  name: string;
  definition?: string;
  query?: string | { query?: string };
}

const dashboards = loadDashboards();

test('the schema is the dashboard model, and there are dashboards to check', () => {
  expect(Object.keys((schema.definitions?.Dashboard as { properties?: object })?.properties ?? {})).toEqual(expect.arrayContaining(['panels', 'templating', 'uid', 'title', 'schemaVersion']));
  expect(dashboards.length).toBeGreaterThanOrEqual(5);
});

test.each(dashboards.map((dashboard) => [dashboard.file, dashboard] as const))('%s is a dashboard as Grafana defines one', (_file, { file: _name, ...dashboard }) => {
  const copy = structuredClone(dashboard) as { templating?: { list?: Variable[] } };
  for (const variable of copy.templating?.list ?? []) {
    if (variable.definition === undefined) continue;
    const query = typeof variable.query === 'string' ? variable.query : variable.query?.query;
    expect([variable.name, variable.definition]).toEqual([variable.name, query]);
    delete variable.definition;
  }
  const valid = validate(copy);
  expect(valid ? [] : validate.errors?.map((error) => `${error.instancePath} ${error.message} ${JSON.stringify(error.params)}`)).toEqual([]);
});
