/** `checkpoint probe`: one probe from the shell, its log on stderr, its metrics on stdout, exit 0 or 1 by probe_success. */
import { Checkpoint } from '../checkpoint';
import { builtInProbers } from './probers';
import { defaultConfigFile } from '../config/default-config';
import { fileSource } from '../config/source';
import { createLogger } from '../observability/logger';
import { helpText, logFormat, logLevel, parseFlags, positiveNumber, timeoutDuration, PROBE_FLAGS, UsageError } from './flags';

export async function runProbeCommand(args: string[]): Promise<number> {
  const flags = parseFlags(PROBE_FLAGS, args);
  if (flags.help) {
    process.stdout.write(helpText('Usage: checkpoint probe --module=M --target=T [--config.file=F]', PROBE_FLAGS));
    return 0;
  }
  if (!flags.target) throw new UsageError('--target is required');
  const checkpoint = await Checkpoint.start({
    source: fileSource(flags['config.file'] ?? defaultConfigFile(), builtInProbers),
    probers: builtInProbers,
    timeoutOffsetSeconds: positiveNumber('timeout-offset', flags['timeout-offset']),
    maxTimeoutSeconds: timeoutDuration('probe.max-timeout', flags['probe.max-timeout']),
    maxConcurrentProbes: 1,
    historyLimit: 1,
    logger: createLogger(logLevel(flags['log.level']), logFormat(flags['log.format'])),
  });
  const outcome = await checkpoint.probe({ module: flags.module, target: flags.target, hostname: flags.hostname }).finally(() => builtInProbers.close());
  if ('refused' in outcome) throw new UsageError(outcome.message);
  process.stderr.write(`${outcome.ran.log.toText()}\n`);
  process.stdout.write(outcome.ran.registry.metrics());
  return outcome.ran.success ? 0 : 1;
}
