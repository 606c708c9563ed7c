/** `checkpoint`: serves /probe, /metrics, /sd and the status page until SIGINT or SIGTERM; SIGHUP reloads. */
import { Checkpoint } from '../checkpoint';
import { builtInProbers } from './probers';
import { defaultConfigFile } from '../config/default-config';
import { loadConfigFile } from '../config/load';
import { createLogger } from '../observability/logger';
import { createApp } from '../server/app';
import { listen, loadWebConfig } from '../server/listen';
import { VERSION } from '../version';
import { helpText, listenAddress, logFormat, logLevel, parseFlags, positiveNumber, timeoutDuration, SERVER_FLAGS } from './flags';

export async function runServerCommand(args: string[]): Promise<number> {
  const flags = parseFlags(SERVER_FLAGS, args);
  if (flags.help) {
    process.stdout.write(
      helpText(
        'Usage: checkpoint [flags]\n       checkpoint probe --module=M --target=T   (see checkpoint probe --help)\n       checkpoint config keygen|sign|verify     (see checkpoint config --help)',
        SERVER_FLAGS,
      ),
    );
    return 0;
  }
  if (flags.version) {
    process.stdout.write(`checkpoint, version ${VERSION} (node ${process.version})\n`);
    return 0;
  }
  const configFile = flags['config.file'] ?? defaultConfigFile();
  // Checked before the checkpoint starts, so a bad file exits 2 with nothing left running.
  const webConfigFile = flags['web.config.file'];
  const webConfig = webConfigFile ? loadWebConfig(webConfigFile) : undefined;
  if (flags['config.check']) {
    const config = await loadConfigFile(configFile, builtInProbers);
    process.stdout.write(`${configFile}: OK (${Object.keys(config.modules).length} modules, ${config.monitors.length} monitors)\n`);
    if (webConfigFile) process.stdout.write(`${webConfigFile}: OK\n`);
    return 0;
  }
  const address = listenAddress(flags['web.listen-address']);
  const logger = createLogger(logLevel(flags['log.level']), logFormat(flags['log.format']));
  const checkpoint = await Checkpoint.start({
    configFile,
    probers: builtInProbers,
    timeoutOffsetSeconds: positiveNumber('timeout-offset', flags['timeout-offset']),
    maxTimeoutSeconds: timeoutDuration('probe.max-timeout', flags['probe.max-timeout']),
    maxConcurrentProbes: positiveNumber('probe.max-concurrent', flags['probe.max-concurrent'], true),
    historyLimit: positiveNumber('history.limit', flags['history.limit'], true),
    logger,
  });
  logger.info({ version: VERSION, config: configFile, modules: Object.keys(checkpoint.config.modules).length, monitors: checkpoint.config.monitors.length }, 'Starting checkpoint');

  const server = await listen(createApp(checkpoint, { enableLifecycle: flags['web.enable-lifecycle'] }), { ...address, webConfig, logger });

  process.on('SIGHUP', () => void checkpoint.reload());
  const stop = (signal: string) => {
    logger.info({ signal }, 'Shutting down');
    server.close(() => void builtInProbers.close().finally(() => process.exit(0)));
    // Probes in flight end at their deadline at the latest; do not wait on keep-alive clients.
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return -1;
}
