/** The process log (pino), in logfmt like the Prometheus tools or in JSON, on stderr. */
import pino, { type Logger } from 'pino';
import { logfmtValue } from '../probe/probe-log';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export const LOG_FORMATS = ['logfmt', 'json'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = (typeof LOG_FORMATS)[number];

export function createLogger(level: LogLevel, format: LogFormat, destination: NodeJS.WritableStream = process.stderr): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  if (format === 'json') return pino(options, destination);
  return pino(options, { write: (line: string) => destination.write(`${jsonLineToLogfmt(line)}\n`) });
}

function jsonLineToLogfmt(line: string): string {
  const { time, level, msg, ...fields } = JSON.parse(line) as Record<string, unknown>;
  return Object.entries({ ts: time, level, msg, ...fields })
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${logfmtValue(value)}`)
    .join(' ');
}
