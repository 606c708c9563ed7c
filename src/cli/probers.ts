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
import { ProberTable } from '../probe/prober-table';

export const builtInProbers = new ProberTable({
  http: httpProber,
  browser: browserProber,
  docker: dockerProber,
  postgres: postgresProber,
  sftp: sftpProber,
  smtp: smtpProber,
});
