/**
 * The one table that maps a module's `prober:` to its implementation, as blackbox_exporter's
 * prober/handler.go does. The runtime knows probers only through this table.
 */
import { browserProber } from '../exporters/browser';
import { dockerProber } from '../exporters/docker';
import { httpProber } from '../exporters/http';
import { postgresProber } from '../exporters/postgres';
import { sftpProber } from '../exporters/sftp';
import { smtpProber } from '../exporters/smtp';
import type { TSchema } from '@sinclair/typebox';
import type { ProberDefinition } from './probe/prober';

export const PROBERS = {
  http: httpProber,
  browser: browserProber,
  docker: dockerProber,
  postgres: postgresProber,
  sftp: sftpProber,
  smtp: smtpProber,
} satisfies Record<string, ProberDefinition<any>>;

export type ProberName = keyof typeof PROBERS;
export const PROBER_NAMES = Object.keys(PROBERS) as ProberName[];

/** Lets every prober release what it keeps between probes. The process is ending: one that fails to close is not retried. */
export async function closeProbers(): Promise<void> {
  await Promise.allSettled(Object.values(PROBERS).map((definition: ProberDefinition<any>) => definition.close?.()));
}

/** The table entry without its specific settings type, for code that handles every prober alike. */
export function proberDefinition(name: ProberName): ProberDefinition<TSchema, unknown> {
  return PROBERS[name] as unknown as ProberDefinition<TSchema, unknown>;
}
