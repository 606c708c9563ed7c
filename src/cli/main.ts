#!/usr/bin/env node
/**
 * `checkpoint`: the exporter (default), `checkpoint --config.check`,
 * `checkpoint probe --module M --target T` for one probe from the shell, and
 * `checkpoint config keygen|sign|verify` for signed configs.
 * Exit codes: 0 fine, 1 probe failed, 2 bad flags or config.
 */
import { ConfigError } from '../config/problems';
import { runConfigCommand } from './config-command';
import { UsageError } from './flags';
import { runProbeCommand } from './probe-command';
import { runServerCommand } from './server-command';

async function main(args: string[]): Promise<number> {
  try {
    if (args[0] === 'probe') return await runProbeCommand(args.slice(1));
    if (args[0] === 'config') return await runConfigCommand(args.slice(1));
    return await runServerCommand(args);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`checkpoint: ${error.message}\nTry --help.\n`);
      return 2;
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`checkpoint: invalid configuration:\n${error.message}\n`);
      return 2;
    }
    process.stderr.write(`checkpoint: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
}

// void: main turns every error into an exit code, so this promise never rejects.
void main(process.argv.slice(2)).then((code) => {
  // The server resolves -1 and keeps running until a signal stops it.
  if (code >= 0) process.exitCode = code;
});
