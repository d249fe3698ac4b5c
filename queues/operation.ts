import type { Static, TSchema } from 'typebox';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** Fixed delays of the retry tiers, in order; the last one repeats. Each becomes a TTL queue. */
  tiersMs: readonly number[];
}

export interface QueueSettings {
  /** Broker-side limit of redeliveries (crashes, nacks) before dead-lettering. */
  deliveryLimit: number;
  /** Stale messages simply expire (health checks). */
  messageTtlMs?: number;
  /** Health checks are not worth keeping when they fail: no dead-lettering. */
  deadLetter: boolean;
}

/** One entry of the operation catalogue: the single source of an operation's shape. */
export interface Operation<P extends TSchema = TSchema, R extends TSchema = TSchema> {
  /** `resource.verb`; its queue is `up.op.<name>`. */
  name: string;
  /** Version of the payload schema; a changed payload gets a new version. */
  version: number;
  summary: string;
  payload: P;
  result: R;
  retry: RetryPolicy;
  timeoutMs: number;
  /** Messages in flight per handler process (its prefetch); work that waits on hosts wants few, pure work many. */
  concurrency: number;
  queue: QueueSettings;
  /**
   * What a user sees of the payload of their job (admins see it whole): their own resource,
   * never the infrastructure (hosts' addresses, ports, SSH users and keys, directories, DNS
   * servers and key names). Without one a user sees neither payload nor result.
   */
  tenantView?(payload: Static<P>): unknown;
}

export type PayloadOf<O extends Operation> = Static<O['payload']>;
export type ResultOf<O extends Operation> = Static<O['result']>;

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, tiersMs: [1_000, 5_000, 30_000] };
export const DEFAULT_QUEUE: QueueSettings = { deliveryLimit: 5, deadLetter: true };

type OperationInit<P extends TSchema, R extends TSchema> = Omit<
  Operation<P, R>,
  'retry' | 'queue' | 'version' | 'timeoutMs' | 'concurrency'
> &
  Partial<Pick<Operation<P, R>, 'retry' | 'version' | 'timeoutMs' | 'concurrency'>> & { queue?: Partial<QueueSettings> };

export function defineOperation<P extends TSchema, R extends TSchema>(init: OperationInit<P, R>): Operation<P, R> {
  return {
    version: 1,
    timeoutMs: 60_000,
    concurrency: 16,
    ...init,
    retry: init.retry ?? DEFAULT_RETRY,
    queue: { ...DEFAULT_QUEUE, ...init.queue },
  };
}
