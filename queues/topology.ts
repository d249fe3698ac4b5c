import type { Operation } from './operation.ts';

export const OPS_EXCHANGE = 'up.ops';
export const RESULTS_EXCHANGE = 'up.results';
export const DEAD_EXCHANGE = 'up.dead';
export const DEAD_QUEUE = 'up.dead';
export const RECORDER_QUEUE = 'up.results.recorder';

export const opQueue = (op: string) => `up.op.${op}`;
/**
 * A retry tier, shared by every operation that waits that long: a fanout exchange and its quorum
 * queue `up.delay.<ms>`, which parks the next attempt for `delayMs`. The attempt is published with
 * its op as routing key; when it expires the queue dead-letters it to the ops exchange with that
 * same key (the queue sets no dead-letter routing key), so it lands on its op's queue again.
 * One queue per distinct delay rather than per op and delay: each quorum queue is a Raft group of
 * its own, and 29 ops × 2–3 tiers made 58 of them, idle almost always. Earlier versions parked in
 * `up.op.<op>.retry.<ms>` (classic) and `up.op.<op>.delay.<ms>` (quorum, per op) queues; those
 * still expire back onto their op's queue and can be deleted once empty (deploy/rabbitmq/README.md).
 */
export const delayQueue = (delayMs: number) => `up.delay.${delayMs}`;
export const delayExchange = delayQueue;

/**
 * Dead-letters leave a quorum queue only once the target queue confirmed them (RabbitMQ ≥ 3.10):
 * a broker restart between expiry and delivery to the target loses nothing. RabbitMQ requires
 * `reject-publish` overflow for it; without a length limit that never rejects anything.
 */
const AT_LEAST_ONCE = { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' };

export interface ExchangeSpec {
  name: string;
  type: 'direct' | 'topic' | 'fanout';
}
export interface QueueSpec {
  name: string;
  arguments: Record<string, unknown>;
  /**
   * Arguments an existing queue may still have from an earlier version: the broker refuses to
   * change a queue's arguments, so such a queue is used as it is (a policy can add the rest).
   */
  earlierArguments?: Record<string, unknown>;
}
export interface BindingSpec {
  exchange: string;
  queue: string;
  routingKey: string;
}
export interface Topology {
  exchanges: ExchangeSpec[];
  queues: QueueSpec[];
  bindings: BindingSpec[];
}

/** Everything the broker must hold, derived from the catalogue alone (Rascal's "topology is data"). */
export function topologyFor(operations: readonly Operation[]): Topology {
  const exchanges: ExchangeSpec[] = [
    { name: OPS_EXCHANGE, type: 'direct' },
    { name: RESULTS_EXCHANGE, type: 'topic' },
    { name: DEAD_EXCHANGE, type: 'fanout' },
  ];
  const queues: QueueSpec[] = [
    { name: DEAD_QUEUE, arguments: { 'x-queue-type': 'quorum' } },
    { name: RECORDER_QUEUE, arguments: { 'x-queue-type': 'quorum' } },
  ];
  const bindings: BindingSpec[] = [
    { exchange: DEAD_EXCHANGE, queue: DEAD_QUEUE, routingKey: '' },
    { exchange: RESULTS_EXCHANGE, queue: RECORDER_QUEUE, routingKey: 'job.#' },
  ];

  for (const delayMs of new Set(operations.flatMap((op) => op.retry.tiersMs))) {
    exchanges.push({ name: delayExchange(delayMs), type: 'fanout' });
    // A parking queue: no consumer, messages expire back onto their op's queue.
    queues.push({
      name: delayQueue(delayMs),
      arguments: { 'x-queue-type': 'quorum', 'x-message-ttl': delayMs, 'x-dead-letter-exchange': OPS_EXCHANGE, ...AT_LEAST_ONCE },
    });
    bindings.push({ exchange: delayExchange(delayMs), queue: delayQueue(delayMs), routingKey: '' });
  }

  for (const op of operations) {
    const base = {
      'x-queue-type': 'quorum',
      'x-delivery-limit': op.queue.deliveryLimit,
      ...(op.queue.deadLetter ? { 'x-dead-letter-exchange': DEAD_EXCHANGE } : {}),
      ...(op.queue.messageTtlMs ? { 'x-message-ttl': op.queue.messageTtlMs } : {}),
    };
    queues.push(
      op.queue.deadLetter
        ? { name: opQueue(op.name), arguments: { ...base, ...AT_LEAST_ONCE }, earlierArguments: base }
        : { name: opQueue(op.name), arguments: base },
    );
    bindings.push({ exchange: OPS_EXCHANGE, queue: opQueue(op.name), routingKey: op.name });
  }
  return { exchanges, queues, bindings };
}

/** The delay before attempt `nextAttempt` (2 = first retry). */
export function retryDelay(op: Operation, nextAttempt: number): number {
  const tiers = op.retry.tiersMs;
  return tiers[Math.min(nextAttempt - 2, tiers.length - 1)];
}
