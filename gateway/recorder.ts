import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { isDatabaseUnavailable } from '../lib/db/connect.ts';
import { applyResultEvents, recordDeadLetter, type JobRow } from '../lib/db/jobs.ts';
import { jobsTotal } from '../lib/metrics.ts';
import { DEAD_OP_HEADER, DEAD_REASON_HEADER, type Bus } from '../queues/bus.ts';
import { describe } from '../queues/errors.ts';
import { isFinal } from '../queues/job-status.ts';
import { ResultEvent } from '../queues/result-event.ts';
import type { Consumer, Delivery } from '../queues/transport.ts';
import { validator } from '../queues/validate.ts';
import { observers, resultObservers } from './observers.ts';

const resultValidator = validator<ResultEvent>(ResultEvent);

export interface RecorderOptions {
  db: Knex;
  bus: Bus;
  log: Logger;
  /** Events written per transaction at most. */
  batchSize?: number;
}

export interface Recorder {
  stop(): Promise<void>;
}

/**
 * Writes what handlers report into PostgreSQL: result events (batched, one transaction
 * per batch, acked only after commit) and dead letters.
 */
export async function startRecorder(options: RecorderOptions): Promise<Recorder> {
  const { db, bus, log } = options;
  const batchSize = options.batchSize ?? 500;
  let stopping = false;
  /** Deliveries with their events (a delivery holds one event or a handler's batch of them). */
  let pending: { delivery: Delivery; events: ResultEvent[] }[] = [];
  let writing: Promise<void> | null = null;

  // Fewer deliveries than events in flight: under load each one carries up to 500 events.
  const results = await bus.consumeResults(Math.max(16, Math.round(batchSize / 2)), (delivery) => {
    const events = parseEvents(delivery.content);
    if (!events) log.warn({ routingKey: delivery.routingKey }, 'dropping a malformed result message');
    pending.push({ delivery, events: events ?? [] });
    if (!writing) writing = writeLoop();
  });
  const dead = await bus.consumeDead(16, (delivery) => void keepDeadLetter(delivery));
  const consumers: Consumer[] = [results, dead];
  log.info('recorder consuming results and dead letters');

  async function writeLoop(): Promise<void> {
    try {
      while (pending.length > 0 && !stopping) {
        // About batchSize events per transaction, and at least one delivery.
        let take = 0;
        for (let events = 0; take < pending.length && (take === 0 || events + pending[take].events.length <= batchSize); take++) {
          events += pending[take].events.length;
        }
        await writeBatch(pending.splice(0, take));
      }
    } finally {
      writing = null;
    }
  }

  async function writeBatch(items: { delivery: Delivery; events: ResultEvent[] }[]): Promise<void> {
    const batch = items.map((item) => item.delivery);
    const events = items.flatMap((item) => item.events);
    for (let wait = 200; ; wait = Math.min(wait * 2, 5_000)) {
      try {
        // The resources first: a job that reads as finished has its observed state in place.
        await observeResources(events);
        await applyResultEvents(db, events);
        break;
      } catch (error) {
        if (!isDatabaseUnavailable(error)) {
          // Not an outage: find the events that cannot be written, and keep the rest.
          await applyOneByOne(events);
          break;
        }
        if (stopping) {
          batch.forEach((d) => d.nack({ requeue: true }));
          return;
        }
        log.warn({ err: describe(error), retryInMs: wait }, 'could not record results; retrying');
        await sleep(wait);
      }
    }
    for (const event of events) if (isFinal(event.status)) jobsTotal.inc({ op: event.op, outcome: event.status });
    await observeChecks(events);
    batch.forEach((d) => d.ack());
  }

  /** Hands final outcomes of checks to the health observers (they read repair jobs' outcomes, so after the write). */
  async function observeChecks(events: ResultEvent[]): Promise<void> {
    for (const event of events.filter((e) => isFinal(e.status) && resultObservers[e.op])) {
      await resultObservers[event.op](db, event).catch((error) =>
        log.error({ jobId: event.jobId, op: event.op, err: describe(error) }, 'could not record the outcome of a check'),
      );
    }
  }

  /**
   * Hands final outcomes to the observers of their operations (observed resource state). An
   * outage is thrown, so that the batch is retried; other failures are logged.
   */
  async function observeResources(events: ResultEvent[]): Promise<void> {
    const observed = events.filter((e) => isFinal(e.status) && observers[e.op]);
    if (observed.length === 0) return;
    const jobs = new Map<string, JobRow>((await db('jobs').whereIn('id', observed.map((e) => e.jobId))).map((j: JobRow) => [j.id, j]));
    for (const event of observed) {
      const job = jobs.get(event.jobId);
      if (!job) continue;
      await observers[event.op](db, job, event).catch((error) => {
        if (isDatabaseUnavailable(error)) throw error;
        log.error({ jobId: event.jobId, op: event.op, err: describe(error) }, 'could not record the observed state of a job');
      });
    }
  }

  async function applyOneByOne(events: ResultEvent[]): Promise<void> {
    for (const event of events) {
      for (;;) {
        try {
          await applyResultEvents(db, [event]);
          break;
        } catch (error) {
          if (isDatabaseUnavailable(error) && !stopping) {
            await sleep(1_000);
            continue;
          }
          log.error({ jobId: event.jobId, status: event.status, err: describe(error) }, 'dropping a result event that cannot be recorded');
          break;
        }
      }
    }
  }

  async function keepDeadLetter(delivery: Delivery): Promise<void> {
    const content = delivery.content.toString('utf8');
    // Handlers that give up say why, and report the job's outcome themselves.
    const byHandler = typeof delivery.headers[DEAD_REASON_HEADER] === 'string';
    const reason = byHandler ? String(delivery.headers[DEAD_REASON_HEADER]) : brokerReason(delivery.headers);
    const { jobId, op } = identify(content, delivery.headers);
    for (let wait = 200; ; wait = Math.min(wait * 2, 5_000)) {
      try {
        await recordDeadLetter(db, { id: letterId(content, reason), job_id: jobId, op, reason, content }, { markJobDead: !byHandler });
        delivery.ack();
        log.warn({ jobId, op, reason }, 'dead letter recorded');
        return;
      } catch (error) {
        if (stopping) return delivery.nack({ requeue: true });
        log.warn({ err: describe(error), retryInMs: wait }, 'could not record a dead letter; retrying');
        await sleep(wait);
      }
    }
  }

  return {
    async stop() {
      await Promise.all(consumers.map((c) => c.cancel().catch(() => undefined)));
      if (writing) await writing;
      stopping = true;
      pending.forEach((item) => item.delivery.nack({ requeue: true }));
      pending = [];
    },
  };
}

/** One event, or the array a handler sends when several finished together (see Bus.publishResult). */
function parseEvents(content: Buffer): ResultEvent[] | null {
  try {
    const value: unknown = JSON.parse(content.toString('utf8'));
    const events = Array.isArray(value) ? value : [value];
    return events.length > 0 && events.every((event) => resultValidator.check(event)) ? (events as ResultEvent[]) : null;
  } catch {
    return null;
  }
}

/** A dead letter's job and op, when its content is a readable envelope. */
function identify(content: string, headers: Record<string, unknown>): { jobId: string | null; op: string | null } {
  let jobId: string | null = null;
  let op = typeof headers[DEAD_OP_HEADER] === 'string' ? (headers[DEAD_OP_HEADER] as string) : null;
  try {
    const parsed = JSON.parse(content) as { id?: unknown; op?: unknown };
    if (typeof parsed.id === 'string' && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(parsed.id)) jobId = parsed.id;
    if (!op && typeof parsed.op === 'string') op = parsed.op.slice(0, 200);
  } catch {
    // A poison message: kept as it came.
  }
  return { jobId, op };
}

/** Dead-lettered by the broker itself (delivery limit, expiry), not by a handler. */
function brokerReason(headers: Record<string, unknown>): string {
  const reason = headers['x-first-death-reason'] ?? (headers['x-death'] as { reason?: string }[] | undefined)?.[0]?.reason;
  return reason === 'delivery_limit' ? 'delivery limit reached (the handler crashed or gave the message back too often)' : `dead-lettered by the broker (${String(reason ?? 'unknown')})`;
}

/** The same dead letter seen twice (a redelivery) is one row. */
function letterId(content: string, reason: string): string {
  const h = createHash('sha256').update(reason).update('\0').update(content).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
