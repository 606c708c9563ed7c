/**
 * What `npm run build` makes and the image ships holds no test and no test helper: tsconfig.json
 * compiles src and exporters without their tests, the benchmarks (which import a test helper)
 * build on their own with tsconfig.bench.json (`npm run build:bench`), and the image's build
 * stage copies neither tests nor bench. Reads the dist/ the last build left (npm test builds
 * first); tsc's --listFilesOnly says what a config compiles, and so emits, without building.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const DIST = path.join(ROOT, 'dist');

/** The repository's own files a tsconfig compiles (tsc emits each into dist/ at the same relative path), relative to ROOT. */
function compiledFiles(tsconfig: string): string[] {
  const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', tsconfig, '--listFilesOnly'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  expect([tsc.status, tsc.stderr]).toEqual([0, '']);
  return tsc.stdout
    .split('\n')
    .filter((file) => file.startsWith(`${ROOT}/`) && !file.includes('/node_modules/'))
    .map((file) => path.relative(ROOT, file));
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(DIST, path.join(entry.parentPath, entry.name)));
}

const isTest = (file: string) => /\.test\.(ts|js|js\.map|d\.ts)$/.test(file);
const inTestsOrBench = (file: string) => /^(tests|bench)\//.test(file);

test('the checkpoint build compiles src and exporters, and no test, test helper or bench', () => {
  const files = compiledFiles('tsconfig.json');
  expect(files).toContain('src/cli/main.ts');
  expect(files).toContain('exporters/http/index.ts');
  expect(files.filter((file) => isTest(file) || inTestsOrBench(file) || (!/^(src|exporters)\//.test(file) && file !== 'package.json'))).toEqual([]);
}, 120_000);

test('the bench build adds the benches and the helpers they import, and no test', () => {
  const files = compiledFiles('tsconfig.bench.json');
  expect(files).toContain('bench/http-vs-blackbox.ts');
  expect(files.filter(isTest)).toEqual([]);
}, 120_000);

test('npm run build compiles tsconfig.json only, and every bench script builds the benches before running its own', () => {
  const scripts = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  expect(scripts.build).toBe('rm -rf dist && tsc -p tsconfig.json && node scripts/bundle.js');
  expect(scripts['build:bench']).toBe('npm run build && tsc -p tsconfig.bench.json');
  const benches = Object.entries(scripts).filter(([name]) => /^bench\b/.test(name));
  expect(benches.length).toBeGreaterThan(0);
  for (const [name, command] of benches) {
    const script = /^npm run build:bench && node dist\/bench\/([\w-]+)\.js\b/.exec(command)?.[1];
    expect([name, script !== undefined && existsSync(path.join(ROOT, 'bench', `${script}.ts`))]).toEqual([name, true]);
  }
});

test('dist/ holds no test, and nothing from tests/ or bench/ but what the bench build emits', () => {
  expect(existsSync(path.join(DIST, 'checkpoint.js'))).toBe(true);
  const files = filesUnder(DIST);
  expect(files.filter(isTest)).toEqual([]);
  const fromBenchBuild = new Set(compiledFiles('tsconfig.bench.json').map((file) => file.replace(/\.ts$/, '')));
  expect(files.filter((file) => inTestsOrBench(file) && !fromBenchBuild.has(file.replace(/\.js(\.map)?$/, '')))).toEqual([]);
}, 120_000);

test("the image's build stage copies no tests and no bench, and builds with npm run build", () => {
  const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const build = dockerfile.split(/^(?=FROM )/m).find((stage) => /^FROM \S+ AS build$/m.test(stage)) ?? '';
  const copied = [...build.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]?.split(' ') ?? []);
  expect(copied).toContain('tsconfig.json');
  expect(copied.filter((source) => /^(tests|bench)(\/|$)/.test(source) || (source.startsWith('tsconfig.') && source !== 'tsconfig.json'))).toEqual([]);
  expect(build).toMatch(/^RUN npm run build$/m);
});
