/**
 * The process logger: structured pino JSON lines, level from `LOG_LEVEL` (default `info`),
 * pretty-printed (pino-pretty) when stdout is a terminal. JSON lines to stdout are written
 * asynchronously (lines logged while a write is in flight go out together in the next one; pino
 * flushes what is left when the process exits) rather than with one synchronous write(2) per line:
 * under load the access log otherwise costs a blocking syscall on the event loop per request,
 * while an idle server still writes each line at once. Shared by every listener's app, the
 * runtime state and the reload loop; components add context with `child()`.
 */
import type { FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';

export interface LoggerOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Overrides the TTY detection. */
  readonly pretty?: boolean;
  /** Where JSON lines go (default stdout); ignored when pretty. */
  readonly destination?: NodeJS.WritableStream;
}

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** Creates the logger; an unknown `LOG_LEVEL` falls back to `info` (and says so). */
export function createLogger(options: LoggerOptions = {}): FastifyBaseLogger {
  const wanted = (options.env ?? process.env).LOG_LEVEL?.toLowerCase();
  const level = wanted && LEVELS.has(wanted) ? wanted : 'info';
  const pretty = options.pretty ?? (options.destination === undefined && process.stdout.isTTY === true);
  const base = { level, base: { pid: process.pid }, redact: { paths: ['req.headers.authorization'], remove: true } };
  const logger = pretty
    ? pino({
        ...base,
        transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid' } },
      })
    : options.destination
      ? pino(base, options.destination as pino.DestinationStream)
      : pino(base, pino.destination({ dest: 1, sync: false }));
  if (wanted && !LEVELS.has(wanted)) logger.warn({ LOG_LEVEL: wanted }, 'unknown LOG_LEVEL, using info');
  return logger as unknown as FastifyBaseLogger;
}

/** Query parameters whose values never reach a log line. */
const SECRET_PARAMS =
  /^(?:password|token|access_token|refresh_token|secret|signature|x-amz-signature|x-amz-credential|x-amz-security-token)$/i;

/** The URL for the access log: path kept, values of secret-looking query parameters replaced. */
export function redactUrl(url: string): string {
  const mark = url.indexOf('?');
  if (mark === -1) return url;
  const query = new URLSearchParams(url.slice(mark + 1));
  let changed = false;
  for (const key of [...new Set(query.keys())]) {
    if (SECRET_PARAMS.test(key)) {
      query.set(key, 'REDACTED');
      changed = true;
    }
  }
  return changed ? `${url.slice(0, mark)}?${query.toString()}` : url;
}
