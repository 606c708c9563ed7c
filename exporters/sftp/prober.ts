/**
 * The sftp prober: resolve, connect, SSH handshake with the host key pinned, login, then the
 * module's checks on the sftp channel. Every phase is timed, logged, and ends at the deadline.
 */
import { openConnection } from '../../src/net/connect';
import { resolveTarget } from '../../src/net/resolve';
import { ProbeFailure } from '../../src/probe/failure';
import type { ProbeContext } from '../../src/probe/prober';
import { checkFreshness, listDirectory, roundTrip, type CheckContext } from './checks';
import { readCredentials } from './credentials';
import { createSftpMetrics, SFTP_PHASES } from './metrics';
import { RemoteFiles } from './remote-files';
import type { SftpSettings } from './schema';
import { SshSession } from './ssh-session';
import type { SftpTarget } from './target';

export async function probeSftp(probe: ProbeContext<SftpSettings, SftpTarget>): Promise<boolean> {
  const { settings, log, signal, target } = probe;
  const metrics = createSftpMetrics(probe.registry, probe.phases('sftp', SFTP_PHASES));
  let session: SshSession | undefined;
  try {
    const credentials = await readCredentials(settings);

    log.info('Resolving target address', { host: target.host, ip_protocol: settings.preferred_ip_protocol });
    const resolved = await metrics.phases.time('resolve', () => resolveTarget(target.host, settings.preferred_ip_protocol, settings.ip_protocol_fallback, signal));
    log.info('Resolved target address', { host: target.host, ip: resolved.address });
    metrics.address.report(resolved);

    const connection = await metrics.phases.time('connect', () => openConnection({ address: resolved.address, port: target.port, signal }), { ip: resolved.address, port: target.port });
    log.info('Connected', { ip: resolved.address, port: target.port });

    session = await SshSession.open({
      socket: connection.socket,
      credentials,
      hostKeys: { pinned: settings.insecure_skip_host_key_check ? [] : settings.host_key_fingerprints },
      signal,
      log,
      metrics,
    });
    const files = new RemoteFiles(await session.sftp(), session, signal, settings.max_entries);
    return await runChecks(probe, { files, metrics, log, signal });
  } finally {
    session?.close();
  }
}

/**
 * Runs every configured check even after one fails on an assertion (a read-only account failing
 * the round trip still reports how old the backup is); the first failure is the probe's reason.
 * Any other failure means the session is gone and ends the probe.
 */
async function runChecks(probe: ProbeContext<SftpSettings, SftpTarget>, context: CheckContext): Promise<boolean> {
  const { settings } = probe;
  const checks: (() => Promise<void>)[] = [() => listDirectory(context, settings.directory)];
  const { round_trip: roundTripSettings, freshness } = settings;
  if (roundTripSettings) checks.push(() => roundTrip(context, roundTripSettings.directory));
  if (freshness) checks.push(() => checkFreshness(context, freshness));
  let success = true;
  for (const check of checks) {
    try {
      await check();
    } catch (error) {
      if (!(error instanceof ProbeFailure) || error.reason !== 'assertion' || context.signal.aborted) throw error;
      success = probe.fail(error.reason, error.message);
    }
  }
  return success;
}
