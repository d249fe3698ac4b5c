import type { Logger } from 'pino';
import type { Executor } from '../../lib/exec/index.ts';
import type { HostRef } from '../../queues/host-ref.ts';
import type { Operation, PayloadOf, ResultOf } from '../../queues/operation.ts';

/** What a handler's `run` gets besides its payload. */
export interface HandlerContext {
  /** Aborted on timeout and on shutdown: pass it to everything that waits. */
  signal: AbortSignal;
  /** A child logger bound to the job (job id, op, attempt). */
  log: Logger;
  job: { id: string; attempt: number; tenant: string | null; actor: string; target: string | null; generation?: number };
  /** The executor for a host the message names: pooled per process, rate-limited per host. */
  connect(host: HostRef): Executor;
}

export interface Handler<O extends Operation = Operation> {
  op: O;
  run(payload: PayloadOf<O>, ctx: HandlerContext): Promise<ResultOf<O>>;
}

/**
 * A unit of work is a plain async function; its policy (timeout, retries, queue) lives
 * with the operation in the catalogue, and the runtime applies it. `run` is typed by the
 * operation here; the handler is then one of a list, whose payloads the runtime validates
 * against `op` before `run` sees them.
 */
export function defineHandler<O extends Operation>(handler: Handler<O>): Handler {
  return handler as unknown as Handler;
}
