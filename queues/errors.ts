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

/** A message that is safe to store and show: the error's own text, never its stack. */
export function describe(error: unknown): { kind: ErrorKind; message: string; code?: string } {
  const kind = classify(error);
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' ? { kind, message, code } : { kind, message };
}

/** The host already holds a newer generation of this resource: the message is stale. */
export class SupersededError extends Error {
  override readonly name = 'SupersededError';
  constructor(message = 'a newer generation is already applied') {
    super(message);
  }
}
