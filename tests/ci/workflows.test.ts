/**
 * .github/workflows/: the CI a user's fork runs. Each file passes GitHub's workflow schema (the
 * SchemaStore schema, through @action-validator/core, offline), ci.yml runs the README's test
 * command where the tests can run it, and compose-smoke.yml runs the compose smoke test and keeps
 * the services' logs when it fails. GitHub itself is not reached from here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { validateWorkflow } from '@action-validator/core';
import { parse } from 'yaml';
import { PINNED_IMAGE } from '../compose/compose-file';

const ROOT = path.join(__dirname, '..', '..');
const WORKFLOWS = path.join(ROOT, '.github', 'workflows');
const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Workflow {
  name: string;
  on: { push?: { branches?: string[] }; pull_request?: unknown };
  permissions?: Record<string, string>;
  jobs: Record<string, { 'runs-on': string; 'timeout-minutes'?: number; container?: { image: string; options?: string }; steps: Step[] }>;
}
const workflow = (name: string): Workflow => parse(read(`.github/workflows/${name}`)) as Workflow;
const onlyJob = (flow: Workflow) => {
  const jobs = Object.values(flow.jobs);
  expect(jobs).toHaveLength(1);
  return jobs[0]!;
};

test('there are the two workflows, and each passes GitHub’s workflow schema', () => {
  expect(readdirSync(WORKFLOWS).sort()).toEqual(['ci.yml', 'compose-smoke.yml']);
  // The validator warns that it does not check `paths:` globs; that is all it leaves out.
  const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  try {
    for (const file of readdirSync(WORKFLOWS)) expect([file, validateWorkflow(read(`.github/workflows/${file}`)).errors]).toEqual([file, []]);
  } finally {
    warn.mockRestore();
  }
});

test('every workflow runs on pushes to main and on pull requests, reads the repository and nothing more, and is bounded in time', () => {
  for (const file of readdirSync(WORKFLOWS)) {
    const flow = workflow(file);
    expect([file, flow.on.push?.branches]).toEqual([file, ['main']]);
    expect([file, 'pull_request' in flow.on]).toEqual([file, true]);
    expect([file, flow.permissions]).toEqual([file, { contents: 'read' }]);
    const job = onlyJob(flow);
    expect([file, job['timeout-minutes']]).toEqual([file, expect.any(Number)]);
    // Every action at a major version of its own, never a moving branch.
    for (const step of job.steps.filter((s) => s.uses)) expect([file, step.uses]).toEqual([file, expect.stringMatching(/^actions\/[a-z-]+@v\d+$/)]);
  }
});

test("ci.yml runs the README's test command as root in Debian, where the tests can install and start their servers", () => {
  const readmeTest = /Run every test[\s\S]*?```sh\n(.+)\n```/.exec(read('README.md'))?.[1];
  expect(readmeTest).toBe('npm test');
  const job = onlyJob(workflow('ci.yml'));
  expect(job.steps.at(-1)?.run).toBe(readmeTest);
  // .ci/run calls the same command.
  expect(read('.ci/run')).toMatch(/^npm test$/m);
  expect(job.container?.image).toMatch(PINNED_IMAGE);
  expect(job.container?.image).toMatch(/^debian:12\./);
  expect(job.container?.options).toBe('--privileged');
  expect(job.steps.map((step) => step.uses).filter(Boolean)).toEqual(['actions/checkout@v4', 'actions/setup-node@v4']);
  expect(job.steps.find((step) => step.uses === 'actions/setup-node@v4')?.with).toEqual({ 'node-version': 20 });
});

test('compose-smoke.yml runs the smoke script with compose v2, and keeps the logs it writes on a failure as an artifact', () => {
  const job = onlyJob(workflow('compose-smoke.yml'));
  const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
  const smoke = job.steps.find((step) => step.run === 'npm run smoke:compose');
  expect(scripts['smoke:compose']).toBe('bash scripts/smoke-compose.sh');
  expect(job.steps.some((step) => step.run === 'docker compose version')).toBe(true);
  const logs = smoke?.env?.SMOKE_LOGS_DIR;
  expect(read('scripts/smoke-compose.sh')).toContain('SMOKE_LOGS_DIR');
  const upload = job.steps.find((step) => step.uses?.startsWith('actions/upload-artifact@'));
  expect(upload).toMatchObject({ if: 'failure()', with: { path: logs } });
  // The smoke test starts the whole stack: a pull request that changes any of it runs it.
  const paths = (workflow('compose-smoke.yml').on.pull_request as { paths: string[] }).paths;
  for (const part of ['compose.yaml', 'compose/**', 'Dockerfile', 'prometheus/**', 'alertmanager/**', 'grafana/**', 'scripts/smoke-compose.sh']) expect(paths).toContain(part);
});
