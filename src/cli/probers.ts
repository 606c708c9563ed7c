/**
 * The probers this checkpoint is built with: the only place outside exporters/ that imports them.
 * Each exporter's index.ts is its light definition (schema, rules, target check); its probe
 * function and protocol library load on the first probe that needs them.
 */
import { browserProber } from '../../exporters/browser';
import { dockerProber } from '../../exporters/docker';
import { httpProber } from '../../exporters/http';
import { postgresProber } from '../../exporters/postgres';
import { sftpProber } from '../../exporters/sftp';
import { smtpProber } from '../../exporters/smtp';
import type { ModuleConfig } from '../config/schema';
import { ProberTable, type SettingsOf } from '../probe/prober-table';

const definitions = {
  http: httpProber,
  browser: browserProber,
  docker: dockerProber,
  postgres: postgresProber,
  sftp: sftpProber,
  smtp: smtpProber,
};

export const builtInProbers = new ProberTable(definitions);

/** A module of the built-in probers: `module.prober === 'http'` makes `module.http` the http settings. */
export type BuiltInModuleConfig = ModuleConfig<SettingsOf<typeof definitions>>;
