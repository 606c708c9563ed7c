/** Debian's promtool, run from the repository's root (scripts/install-test-deps.sh installs it). */
import { execFile } from 'node:child_process';
import { ROOT } from './stack-config';

/** Runs promtool; resolves with its output, or fails the test with everything it said. */
export function promtool(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('promtool', args, { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      if (error) reject(new Error(`promtool ${args.join(' ')} failed:\n${output}`));
      else resolve(output);
    });
  });
}
