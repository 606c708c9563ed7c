/** `checkpoint`: serves /probe, /metrics, /sd and the status page until SIGINT or SIGTERM; SIGHUP reloads. */
import { Checkpoint } from '../checkpoint';
import { builtInProbers } from './probers';
import { defaultConfigFile } from '../config/default-config';
import { loadConfigFile } from '../config/load';
import { fileSource, type ConfigSource } from '../config/source';
import type { Logger } from 'pino';
import { createLogger } from '../observability/logger';
import { createApp } from '../server/app';
import { listen, loadWebConfig } from '../server/listen';
import { VERSION } from '../version';
import { helpText, listenAddress, logFormat, logLevel, parseFlags, positiveNumber, timeoutDuration, SERVER_FLAGS, UsageError } from './flags';

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
  const configUrl = flags['config.url'];
  if (configUrl && flags['config.file']) throw new UsageError('--config.url and --config.file exclude each other: a checkpoint runs either a signed config from the central place or a local file');
  const configFile = flags['config.file'] ?? defaultConfigFile();
  // Checked before the checkpoint starts, so a bad file exits 2 with nothing left running.
  const webConfigFile = flags['web.config.file'];
  const webConfig = webConfigFile ? loadWebConfig(webConfigFile) : undefined;
  const pollSeconds = configUrl ? timeoutDuration('config.poll-interval', flags['config.poll-interval']) : 0;
  if (flags['config.check'] && !configUrl) {
    const config = await loadConfigFile(configFile, builtInProbers);
    process.stdout.write(`${configFile}: OK (${Object.keys(config.modules).length} modules, ${config.monitors.length} monitors)\n`);
    if (webConfigFile) process.stdout.write(`${webConfigFile}: OK\n`);
    return 0;
  }
  const address = listenAddress(flags['web.listen-address']);
  const logger = createLogger(logLevel(flags['log.level']), logFormat(flags['log.format']));
  const source = configUrl ? await urlSource(configUrl, flags, logger) : fileSource(configFile, builtInProbers);
  const checkpoint = await Checkpoint.start({
    source,
    probers: builtInProbers,
    timeoutOffsetSeconds: positiveNumber('timeout-offset', flags['timeout-offset']),
    maxTimeoutSeconds: timeoutDuration('probe.max-timeout', flags['probe.max-timeout']),
    maxConcurrentProbes: positiveNumber('probe.max-concurrent', flags['probe.max-concurrent'], true),
    historyLimit: positiveNumber('history.limit', flags['history.limit'], true),
    logger,
  });
  logger.info({ version: VERSION, ...checkpoint.loadedFrom, modules: Object.keys(checkpoint.config.modules).length, monitors: checkpoint.config.monitors.length }, 'Starting checkpoint');
  if (flags['config.check']) {
    process.stdout.write(`${source.location}: OK (${Object.keys(checkpoint.config.modules).length} modules, ${checkpoint.config.monitors.length} monitors)\n`);
    return 0;
  }
  // The central place's config, fetched again every poll (a 304 when unchanged); SIGHUP or
  // POST /-/reload fetch at once.
  if (configUrl) setInterval(() => void checkpoint.reload(), pollSeconds * 1000).unref();

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

/** The signed config at `url`, with the flags that go with it (src/config/url-source.ts). */
async function urlSource(url: string, flags: ReturnType<typeof parseFlags<typeof SERVER_FLAGS>>, logger: Logger): Promise<ConfigSource> {
  if (!url.startsWith('https://')) throw new UsageError(`--config.url must be an https:// URL: ${url}`);
  // The URL is in every log line about the config: a login goes in --config.url.bearer-token-file.
  if (new URL(url).username || new URL(url).password) throw new UsageError('--config.url holds a login: put a token in --config.url.bearer-token-file instead (the URL is logged)');
  const publicKeyFiles = flags['config.public-key'] ?? [];
  if (publicKeyFiles.length === 0) throw new UsageError('--config.url needs at least one --config.public-key: a checkpoint runs only what a key it trusts signed');
  // Loaded only here: undici (its HTTP client) is a cost the checkpoints that read a file never pay.
  const { signedUrlSource } = await import('../config/url-source');
  return signedUrlSource({
    url,
    publicKeyFiles,
    caFile: flags['config.url.ca-file'],
    bearerTokenFile: flags['config.url.bearer-token-file'],
    cacheDir: flags['config.cache-dir'],
    probers: builtInProbers,
    logger,
  });
}
