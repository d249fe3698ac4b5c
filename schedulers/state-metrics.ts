import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { outboxBacklog as countBacklog } from '../gateway/jobs-store.ts';
import {
  alarmsOpen,
  certificateExpiry,
  deadLetters,
  outboxBacklog,
  queueConsumers,
  queueMessagesReady,
  queueMessagesUnacked,
  readStateWith,
} from '../lib/metrics.ts';
import type { Bus } from '../queues/bus.ts';
import { describe } from '../lib/errors.ts';

export interface StateMetricsOptions {
  db: Knex;
  bus: Bus;
  log: Logger;
  /** A scrape within this long of the last read is answered from it (several Prometheus servers, retries). */
  maxAgeMs?: number;
}

const OP_QUEUE = /^up\.op\.(.+)$/;

/**
 * Reads what operators look at first, from the database and the broker, when this process is
 * scraped: queue depth and consumers per queue, the outbox backlog, dead letters not replayed,
 * open alarms and certificate expiry. One read serves every scrape within `maxAgeMs`; it costs
 * four grouped queries and one passive queue check per queue, all in parallel. A part that cannot
 * be read is left empty rather than stale, so that `absent()` alerts fire.
 */
export function reportStateMetrics(options: StateMetricsOptions): { stop(): void } {
  const { db, bus, log } = options;
  const maxAgeMs = options.maxAgeMs ?? 10_000;
  let readAt = -Infinity;
  let reading: Promise<void> | null = null;

  const parts: [string, () => Promise<void>, () => void][] = [
    ['queues', readQueues, () => [queueMessagesReady, queueMessagesUnacked, queueConsumers].forEach((g) => g.reset())],
    ['outbox backlog', async () => outboxBacklog.set(await countBacklog(db)), () => outboxBacklog.reset()],
    ['dead letters', readDeadLetters, () => deadLetters.reset()],
    ['alarms', readAlarms, () => alarmsOpen.reset()],
    ['certificates', readCertificates, () => certificateExpiry.reset()],
  ];

  async function readAll(): Promise<void> {
    await Promise.all(
      parts.map(([name, read, clear]) =>
        read().catch((error) => {
          clear();
          log.warn({ err: describe(error), part: name }, 'could not read state for metrics');
        }),
      ),
    );
    readAt = Date.now();
  }

  async function readQueues(): Promise<void> {
    if (!bus.isReady()) throw new Error('the broker is unavailable');
    const stats = await bus.queueStats();
    for (const gauge of [queueMessagesReady, queueMessagesUnacked, queueConsumers]) gauge.reset();
    for (const { queue, ready, unacked, consumers } of stats) {
      const labels = { queue, op: OP_QUEUE.exec(queue)?.[1] ?? '' };
      queueMessagesReady.set(labels, ready);
      queueConsumers.set(labels, consumers);
      if (unacked !== null) queueMessagesUnacked.set(labels, unacked);
    }
  }

  async function readDeadLetters(): Promise<void> {
    const rows: { op: string | null; n: string | number }[] = await db('dead_letters')
      .whereNull('replayed_at')
      .select('op')
      .count({ n: '*' })
      .groupBy('op');
    deadLetters.reset();
    for (const row of rows) deadLetters.set({ op: row.op ?? '' }, Number(row.n));
  }

  async function readAlarms(): Promise<void> {
    const rows: { resource_type: string; cause: string; n: string | number }[] = await db('alarms')
      .where({ status: 'open' })
      .select('resource_type', 'cause')
      .count({ n: '*' })
      .groupBy('resource_type', 'cause');
    alarmsOpen.reset();
    for (const row of rows) alarmsOpen.set({ resource_type: row.resource_type, cause: row.cause }, Number(row.n));
  }

  async function readCertificates(): Promise<void> {
    const rows: { id: string; kind: string; name: string; not_after: Date | string }[] = await db('certificates')
      .whereNotNull('not_after')
      .select('id', 'kind', 'name', 'not_after');
    certificateExpiry.reset();
    for (const row of rows)
      certificateExpiry.set({ id: row.id, kind: row.kind, name: row.name }, Math.floor(new Date(row.not_after).getTime() / 1000));
  }

  readStateWith(() => {
    if (reading) return reading;
    if (Date.now() - readAt < maxAgeMs) return Promise.resolve();
    reading = readAll().finally(() => (reading = null));
    return reading;
  });
  return {
    stop() {
      readStateWith(null);
    },
  };
}
