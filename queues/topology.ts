import type { Operation } from './operation.ts';

export const OPS_EXCHANGE = 'up.ops';
export const RESULTS_EXCHANGE = 'up.results';
export const DEAD_EXCHANGE = 'up.dead';
export const DEAD_QUEUE = 'up.dead';
export const RECORDER_QUEUE = 'up.results.recorder';

export const opQueue = (op: string) => `up.op.${op}`;
export const retryQueue = (op: string, delayMs: number) => `up.op.${op}.retry.${delayMs}`;

export interface ExchangeSpec {
  name: string;
  type: 'direct' | 'topic' | 'fanout';
}
export interface QueueSpec {
  name: string;
  arguments: Record<string, unknown>;
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

  for (const op of operations) {
    queues.push({
      name: opQueue(op.name),
      arguments: {
        'x-queue-type': 'quorum',
        'x-delivery-limit': op.queue.deliveryLimit,
        ...(op.queue.deadLetter ? { 'x-dead-letter-exchange': DEAD_EXCHANGE } : {}),
        ...(op.queue.messageTtlMs ? { 'x-message-ttl': op.queue.messageTtlMs } : {}),
      },
    });
    bindings.push({ exchange: OPS_EXCHANGE, queue: opQueue(op.name), routingKey: op.name });

    for (const delayMs of new Set(op.retry.tiersMs)) {
      // A parking queue: no consumer, messages expire back onto the op's queue.
      queues.push({
        name: retryQueue(op.name, delayMs),
        arguments: {
          'x-queue-type': 'classic',
          'x-message-ttl': delayMs,
          'x-dead-letter-exchange': OPS_EXCHANGE,
          'x-dead-letter-routing-key': op.name,
        },
      });
    }
  }
  return { exchanges, queues, bindings };
}

/** The delay before attempt `nextAttempt` (2 = first retry). */
export function retryDelay(op: Operation, nextAttempt: number): number {
  const tiers = op.retry.tiersMs;
  return tiers[Math.min(nextAttempt - 2, tiers.length - 1)];
}
