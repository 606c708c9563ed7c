/**
 * The metrics of an smtp probe. Registered up front at 0, so a failed probe still shows them:
 * the phases, the last reply code, whether STARTTLS was used, and the address facts. Present only
 * when known: the EHLO extensions, the SIZE limit, the TLS facts and the delivery time (a 0 there
 * would read as "fast", not as "never arrived").
 */
import type { ProbeRegistry } from '../../src/probe/probe-registry';
import { createAddressMetrics } from '../../src/net/address-metrics';
import type { PhaseTimer } from '../../src/probe/phases';

export const SMTP_PHASES = ['resolve', 'connect', 'tls', 'banner', 'ehlo', 'starttls', 'auth', 'mail', 'rcpt', 'data', 'quit', 'delivery'] as const;
export type SmtpPhase = (typeof SMTP_PHASES)[number];

/** A bound on the info metric's series: a server listing hundreds of keywords must not blow up the answer. */
const MAX_EXTENSIONS = 50;

/** `timer` is the probe's timer of SMTP_PHASES (`probe.phases`). */
export function createSmtpMetrics(registry: ProbeRegistry, timer: PhaseTimer<SmtpPhase>) {
  const metrics = {
    timer,
    statusCode: registry.gauge('probe_smtp_status_code', 'The code of the last SMTP reply, 0 before any'),
    starttls: registry.gauge('probe_smtp_starttls', 'Whether the session was upgraded with STARTTLS'),
    address: createAddressMetrics(registry),
    extensions(keywords: string[]) {
      const info = registry.gauge('probe_smtp_extension_info', 'An extension the server announced in its (last) EHLO reply', ['extension']);
      for (const keyword of keywords.slice(0, MAX_EXTENSIONS)) info.labels(keyword).set(1);
    },
    maxMessageSize(bytes: number) {
      registry.gauge('probe_smtp_max_message_size_bytes', 'The message size limit the server announced with SIZE (0: no limit)').set(bytes);
    },
    deliverySeconds(seconds: number) {
      registry.gauge('probe_smtp_delivery_duration_seconds', 'From the end of DATA to the test message being seen in the mailbox over IMAP').set(seconds);
    },
  };
  for (const series of [metrics.statusCode, metrics.starttls]) series.set(0);
  return metrics;
}

export type SmtpMetrics = ReturnType<typeof createSmtpMetrics>;
