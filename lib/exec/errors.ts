/**
 * Executor failures, sorted by whether trying again can help: a command that ran and failed
 * is permanent; losing the connection, a timeout, exit 255 (ssh's own failure code) or a busy
 * lock are retryable.
 */
import { PermanentError, RetryableError } from '../errors.ts';
import { safeText } from '../safe-text.ts';

const TAIL_CHARS = 2000;

/** The end of a command's output, fit for a message: a host may print anything (NUL bytes, escapes). */
export function tail(text: string, chars = TAIL_CHARS): string {
  const trimmed = text.trimEnd();
  return safeText(trimmed.length > chars ? `…${trimmed.slice(-chars)}` : trimmed);
}

/** The base classes fix `name` to their own; subclasses still want theirs in logs and asserts. */
function rename(error: Error, name: string): void {
  Object.defineProperty(error, 'name', { value: name, enumerable: false, configurable: true });
}

export interface CommandOutcome {
  readonly host: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
}

function outcomeMessage(outcome: CommandOutcome, what: string): string {
  const how = outcome.exitCode !== null ? `exited ${outcome.exitCode}` : `was killed by ${outcome.signal ?? 'a signal'}`;
  const stderr = tail(outcome.stderr);
  return `${outcome.host}: ${what} ${how}${stderr ? `: ${stderr}` : ''}`;
}

/** The command ran and failed: running it again will fail the same way. */
export class CommandError extends PermanentError implements CommandOutcome {
  readonly host: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  constructor(outcome: CommandOutcome, what = 'command') {
    super(outcomeMessage(outcome, what), { code: 'COMMAND_FAILED' });
    rename(this, 'CommandError');
    ({ host: this.host, exitCode: this.exitCode, signal: this.signal, stdout: this.stdout, stderr: this.stderr } = outcome);
  }
}

export type TransientCode =
  | 'CONNECT_FAILED'
  | 'CONNECTION_LOST'
  | 'TIMEOUT'
  | 'EXIT_255'
  | 'LOCK_BUSY'
  | 'LOCK_LOST'
  | 'CHANNEL_REFUSED'
  | 'CLOSED';

/** Something between us and the command failed; the same command may well succeed later. */
export class TransientExecError extends RetryableError {
  readonly host: string;
  readonly exitCode: number | null;
  readonly stderr: string;
  declare readonly code: TransientCode;
  constructor(
    host: string,
    code: TransientCode,
    message: string,
    options: { cause?: unknown; exitCode?: number | null; stderr?: string } = {},
  ) {
    const stderr = tail(options.stderr ?? '');
    super(`${host}: ${message}${stderr ? `: ${stderr}` : ''}`, { code, cause: options.cause });
    rename(this, 'TransientExecError');
    this.host = host;
    this.exitCode = options.exitCode ?? null;
    this.stderr = options.stderr ?? '';
  }
}

/** The host offered a key other than the pinned one: never connect, a human must look. */
export class HostKeyMismatchError extends PermanentError {
  readonly host: string;
  readonly expected: string;
  readonly actual: string;
  constructor(host: string, expected: string, actual: string) {
    // What to do is part of the message: a person reads it in the job, the alarm or the CLI; a script, in the API.
    super(
      `${host}: host key mismatch: pinned ${expected}, offered ${actual}. If the host was reinstalled and you have checked the new key on its console, pin it: up hosts repin ${host} --fingerprint ${actual} (API: PATCH /v1/hosts/${host} {"hostKeySha256": "${actual}", "rekey": true})`,
      { code: 'HOST_KEY_MISMATCH' },
    );
    rename(this, 'HostKeyMismatchError');
    this.host = host;
    this.expected = expected;
    this.actual = actual;
  }
}

/** The host refused our key: configuration, not luck, has to change. */
export class AuthenticationError extends PermanentError {
  readonly host: string;
  constructor(host: string, username: string, cause?: unknown) {
    super(`${host}: authentication as ${username} failed`, { code: 'AUTH_FAILED', cause });
    rename(this, 'AuthenticationError');
    this.host = host;
  }
}
