import { pino, type Logger } from 'pino';

export type { Logger };

/** Fields that must never reach a log line, wherever they appear. */
const REDACT = ['*.password', '*.secret', '*.token', '*.privateKey', 'req.headers.authorization', 'headers.authorization'];

export function createLogger(level = process.env.UP_LOG_LEVEL ?? 'info', name = 'up'): Logger {
  return pino({ name, level, redact: { paths: REDACT, censor: '[redacted]' } });
}
