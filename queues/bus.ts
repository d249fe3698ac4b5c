import { Batcher } from '../lib/batcher.ts';
import { timedPublish } from '../lib/metrics.ts';
import type { Envelope } from './envelope.ts';
import type { Operation } from './operation.ts';
import { resultRoutingKey, type ReportedStatus, type ResultEvent } from './result-event.ts';
import {
  DEAD_EXCHANGE,
  DEAD_QUEUE,
  OPS_EXCHANGE,
  RECORDER_QUEUE,
  RESULTS_EXCHANGE,
  delayExchange,
  opQueue,
  topologyFor,
} from './topology.ts';
import type { Consumer, Delivery, QueueStats, Transport } from './transport.ts';

/** Header on dead letters that `up` itself routed there: why it gave up. */
export const DEAD_REASON_HEADER = 'x-up-dead-reason';
export const DEAD_OP_HEADER = 'x-up-op';
/** Header on an attempt the watchdog sent again: how many times it did (see schedulers/watchdog.ts). */
export const RESENT_HEADER = 'x-up-resent';

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

/** The messaging vocabulary of `up`, on top of either transport. */
export class Bus {
  /** Per status: outcomes finishing together travel in one message and one confirm. */
  private readonly resultBatches = new Map<ReportedStatus, Batcher<ResultEvent, void>>();

  constructor(
    readonly transport: Transport,
    readonly operations: readonly Operation[],
  ) {}

  start(): Promise<void> {
    return this.transport.start(topologyFor(this.operations));
  }

  close(): Promise<void> {
    return this.transport.close();
  }

  isReady(): boolean {
    return this.transport.isReady();
  }

  /** `resent`: the watchdog sends an overdue attempt again (its runs then count on from there). */
  publishOp(envelope: Envelope, options: { resent?: number } = {}): Promise<void> {
    const headers = options.resent ? { [RESENT_HEADER]: options.resent } : undefined;
    return this.transport.publish(OPS_EXCHANGE, envelope.op, json(envelope), { messageId: envelope.id, headers });
  }

  /** Park the next attempt in the retry tier of `delayMs`; it expires back onto the op's queue. */
  publishRetry(envelope: Envelope, delayMs: number): Promise<void> {
    return this.transport.publish(delayExchange(delayMs), envelope.op, json(envelope), { messageId: envelope.id });
  }

  publishDead(content: Buffer, op: string, reason: string): Promise<void> {
    return this.transport.publish(DEAD_EXCHANGE, '', content, { headers: { [DEAD_REASON_HEADER]: reason, [DEAD_OP_HEADER]: op } });
  }

  /**
   * Resolves once the broker confirmed the event. A message holds one event, or an array of
   * events with the same status when several were reported while a publish was in flight.
   * One publish in flight per status: outcomes wait at most one confirm (about a millisecond),
   * and at moderate rates they go out together instead of one message each.
   */
  publishResult(event: ResultEvent): Promise<void> {
    let batcher = this.resultBatches.get(event.status);
    if (!batcher) {
      const key = resultRoutingKey(event.status);
      batcher = new Batcher<ResultEvent, void>(
        async (events) => {
          const content = json(events.length === 1 ? events[0] : events);
          await timedPublish('result', () => this.transport.publish(RESULTS_EXCHANGE, key, content));
          return events.map((): void => undefined);
        },
        { maxBatch: 500, maxInFlight: 1 },
      );
      this.resultBatches.set(event.status, batcher);
    }
    return batcher.add(event);
  }

  consumeOp(op: string, prefetch: number, onDelivery: (d: Delivery) => void): Promise<Consumer> {
    return this.transport.consume(opQueue(op), { prefetch }, onDelivery);
  }

  consumeResults(prefetch: number, onDelivery: (d: Delivery) => void): Promise<Consumer> {
    return this.transport.consume(RECORDER_QUEUE, { prefetch }, onDelivery);
  }

  consumeDead(prefetch: number, onDelivery: (d: Delivery) => void): Promise<Consumer> {
    return this.transport.consume(DEAD_QUEUE, { prefetch }, onDelivery);
  }

  queueStats(): Promise<QueueStats[]> {
    return Promise.all([...this.operations.map((op) => opQueue(op.name)), DEAD_QUEUE].map((q) => this.transport.queueStats(q)));
  }
}
