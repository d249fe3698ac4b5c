import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Fields that must never reach a log line, wherever they appear. */
const REDACT = ['*.password', '*.secret', '*.token', '*.privateKey', 'req.headers.authorization', 'headers.authorization'];

/** A logger writing JSON lines to stdout (or, for tests that read what was logged, to `destination`). */
export function createLogger(level = process.env.UP_LOG_LEVEL ?? 'info', name = 'up', destination?: DestinationStream): Logger {
  const options = { name, level, redact: { paths: REDACT, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}
