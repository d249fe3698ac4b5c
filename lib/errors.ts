import { safeText } from './safe-text.ts';

/**
 * The error taxonomy every layer shares. Code that knows whether trying again can help
 * throws the matching class; the handler runtime alone turns that into queue mechanics.
 */
export class RetryableError extends Error {
  override readonly name = 'RetryableError';
  readonly retryable = true;
  constructor(message: string, options?: ErrorOptions & { code?: string }) {
    super(message, options);
    this.code = options?.code;
  }
  readonly code?: string;
}

export class PermanentError extends Error {
  override readonly name = 'PermanentError';
  readonly retryable = false;
  constructor(message: string, options?: ErrorOptions & { code?: string }) {
    super(message, options);
    this.code = options?.code;
  }
  readonly code?: string;
}

export type ErrorKind = 'retryable' | 'permanent' | 'unknown';

export function classify(error: unknown): ErrorKind {
  if (error instanceof PermanentError) return 'permanent';
  if (error instanceof RetryableError) return 'retryable';
  return 'unknown';
}

/**
 * A message that is safe to store and show: the error's own text (control characters and
 * unpaired surrogates escaped, see safeText), never its stack.
 */
export function describe(error: unknown): { kind: ErrorKind; message: string; code?: string } {
  const kind = classify(error);
  const message = safeText(error instanceof Error ? error.message : String(error));
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' ? { kind, message, code: safeText(code) } : { kind, message };
}

/** The host already holds a newer generation of this resource: the message is stale. */
export class SupersededError extends Error {
  override readonly name = 'SupersededError';
  constructor(message = 'a newer generation is already applied') {
    super(message);
  }
}

/**
 * Input that passed its schema but not a deeper rule (a name outside its zone, an upstream on
 * loopback). `field` is the JSON path the caller sent it in (`body/routes/0/upstream`); the
 * gateway answers `status` with the message, which starts with the field. 409 and 422 are
 * for rules about what exists, 403 for what only an admin may do, 400 for malformed input.
 */
export class InputError extends Error {
  override readonly name = 'InputError';
  constructor(
    readonly field: string,
    readonly problem: string,
    readonly status: 400 | 403 | 409 | 422 = 400,
  ) {
    super(`${field} ${problem}`);
  }
}
