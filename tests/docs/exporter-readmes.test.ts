/**
 * Each exporter's README shows an example module and a Prometheus alert that uses its metrics.
 * People copy these; they must be valid: the example config is loaded by the checkpoint's own
 * parser, and the alerting rules are checked by Debian's promtool.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { builtInProbers } from '../../src/cli/probers';
import { parseConfig } from '../../src/config/load';

const EXPORTERS = path.join(__dirname, '..', '..', 'exporters');
const READMES = readdirSync(EXPORTERS)
  .map((name) => path.join(EXPORTERS, name, 'README.md'))
  .filter((file) => {
    try {
      return readFileSync(file).length > 0;
    } catch {
      return false;
    }
  });

/** The fenced ```yaml blocks of a Markdown file, in order. */
function yamlBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].flatMap((match) => match[1] ?? []);
}

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(path.join(tmpdir(), 'readme-rules-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

test('every exporter has a README', () => {
  const documented = READMES.map((file) => path.basename(path.dirname(file)));
  expect(documented).toEqual(expect.arrayContaining(['http', 'browser', 'postgres', 'sftp', 'smtp', 'docker']));
});

describe.each(READMES.map((file) => [path.relative(EXPORTERS, file), file]))('%s', (_name, file) => {
  const blocks = yamlBlocks(readFileSync(file, 'utf8'));
  const configs = blocks.filter((block) => /^modules:/m.test(block));
  const rules = blocks.filter((block) => /^groups:/m.test(block));

  test('its example config loads', () => {
    expect(configs.length).toBeGreaterThan(0);
    for (const block of configs) expect(() => parseConfig(block, path.basename(file), builtInProbers, { checkSecretSources: false })).not.toThrow();
  });

  test('its alerting rules pass promtool check rules', async () => {
    expect(rules.length).toBeGreaterThan(0);
    const ruleFile = path.join(scratch, `${path.basename(path.dirname(file))}.rules.yml`);
    writeFileSync(ruleFile, rules.join('\n---\n'));
    const { stdout } = await promisify(execFile)('promtool', ['check', 'rules', ruleFile]);
    expect(stdout).toContain('SUCCESS');
  });
});
