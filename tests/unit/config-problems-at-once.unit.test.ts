/**
 * `--config.check` fixes a file in one round: the schema's problems and the rules' problems
 * (a prober's validate, targets, references) are reported together, each where it lies, and
 * rules are not run on the parts the schema refused.
 */
import { builtInProbers } from '../../src/cli/probers';
import { parseConfig } from '../../src/config/load';
import { ConfigError } from '../../src/config/problems';

function problemsOf(text: string): string[] {
  try {
    parseConfig(text, 'c.yml', builtInProbers, { checkSecretSources: false });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

test('a schema error in one module and rule errors elsewhere are all reported in one run', () => {
  const text = [
    'modules:',
    '  broken:', // the schema refuses it: an unknown key
    '    prober: postgres',
    '    postgres: {user: probe, colour: blue}',
    '  clash:', // the schema passes it; a rule does not
    '    prober: postgres',
    '    postgres: {user: probe, password_file: /run/pw, password_env: PW}',
    'monitors:',
    '  - {name: a, module: clash, target: "mysql://db.example"}',
    '  - {name: a, module: broken, target: "mysql://db.example"}',
    '  - {name: c, module: missing, target: db.example}',
    '  - {name: d, module: clash}',
  ].join('\n');
  expect(problemsOf(text)).toEqual([
    'c.yml:4:29: modules.broken.postgres.colour: unknown key',
    'c.yml:7:67: modules.clash.postgres.password_env: password_file and password_env are mutually exclusive',
    'c.yml:9:38: monitors.0.target: target scheme "mysql" is not supported by the postgres prober (use postgres://, postgresql:// or host:port)',
    // A duplicate name is found; the target of a module the schema refused is not judged.
    'c.yml:10:12: monitors.1.name: duplicate monitor name "a"',
    'c.yml:11:23: monitors.2.module: unknown module "missing"',
    'c.yml:12:5: monitors.3: missing required key "target"',
  ]);
});

test('a config the schema passes gets the same rules as before', () => {
  expect(problemsOf('modules:\n  db:\n    prober: postgres\n    postgres: {user: probe}\nmonitors:\n  - {name: a, module: db, target: "postgres://db.example/app"}\n')).toEqual([]);
});

test('a module or label name that breaks its rule is refused where it is written, and its module is not judged further', () => {
  const text = [
    'modules:',
    '  "bad name":', // refused by name; its unknown prober is a schema problem, not a crash
    '    prober: nosuch',
    '  clash:',
    '    prober: postgres',
    '    postgres: {user: probe, password_file: /run/pw, password_env: PW}',
    'monitors:',
    '  - {name: a, module: clash, target: db.example, labels: {"bad-label": x}}',
  ].join('\n');
  expect(problemsOf(text)).toEqual([
    'c.yml:2:3: modules.bad name: invalid key "bad name": must match ^[A-Za-z0-9_.-]+$',
    'c.yml:3:13: modules.bad name.prober: "nosuch" is not one of: http, browser, docker, postgres, sftp, smtp',
    'c.yml:6:67: modules.clash.postgres.password_env: password_file and password_env are mutually exclusive',
    'c.yml:8:59: monitors.0.labels.bad-label: invalid key "bad-label": must match ^[a-zA-Z_][a-zA-Z0-9_]*$',
  ]);
});
