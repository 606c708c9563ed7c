/**
 * The lines one probe writes about itself, kept for `?debug=true`, `/logs?id=` and the status
 * page, and forwarded to the process log at debug level.
 */
import type { Logger } from 'pino';

export type ProbeLogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, string | number | boolean | undefined>;

export interface ProbeLogLine {
  time: Date;
  level: ProbeLogLevel;
  msg: string;
  fields: LogFields;
}

export class ProbeLog {
  readonly lines: ProbeLogLine[] = [];

  constructor(private readonly processLog?: Logger) {}

  debug(msg: string, fields: LogFields = {}): void {
    this.add('debug', msg, fields);
  }
  info(msg: string, fields: LogFields = {}): void {
    this.add('info', msg, fields);
  }
  warn(msg: string, fields: LogFields = {}): void {
    this.add('warn', msg, fields);
  }
  error(msg: string, fields: LogFields = {}): void {
    this.add('error', msg, fields);
  }

  private add(level: ProbeLogLevel, msg: string, fields: LogFields): void {
    this.lines.push({ time: new Date(), level, msg, fields });
    this.processLog?.debug({ ...fields, probe_level: level }, msg);
  }

  /** logfmt, one line each, as blackbox_exporter prints a probe's log. */
  toText(): string {
    return this.lines.map(formatLine).join('\n');
  }
}

export function formatLine(line: ProbeLogLine): string {
  const pairs: [string, unknown][] = [
    ['ts', line.time.toISOString()],
    ['level', line.level],
    ['msg', line.msg],
  ];
  for (const [key, value] of Object.entries(line.fields)) if (value !== undefined) pairs.push([key, value]);
  return pairs.map(([key, value]) => `${key}=${logfmtValue(value)}`).join(' ');
}

export function logfmtValue(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return /^[^\s"=\\]+$/.test(text) ? text : JSON.stringify(text);
}
