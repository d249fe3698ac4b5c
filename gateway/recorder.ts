import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { isDataError, isDatabaseUnavailable } from '../lib/db/connect.ts';
import { Batcher } from '../lib/batcher.ts';
import { notifyJobsFinished } from '../lib/db/job-finished.ts';
import { applyResultEvents, recordDeadLetter, type JobRow } from './jobs-store.ts';
import { jobFinished } from '../lib/metrics.ts';
import { DEAD_OP_HEADER, DEAD_REASON_HEADER, type Bus } from '../queues/bus.ts';
import { describe } from '../lib/errors.ts';
import { isFinal } from '../queues/job-status.ts';
import { ResultEvent } from '../queues/result-event.ts';
import { mayNeedSafeText, safeText, safeValue } from '../lib/safe-text.ts';
import type { Consumer, Delivery } from '../queues/transport.ts';
import { validator } from '../queues/validate.ts';
import { domains } from './domains.ts';
import type { ObserverContext } from './observe.ts';
import { observers, resultObservers } from './observers.ts';
import { Outbox } from './outbox.ts';
import { isUuid } from '../lib/ids.ts';

const resultValidator = validator<ResultEvent>(ResultEvent);
/** Retries of a write that failed for a reason other than its data wait at most this long between tries. */
const MAX_RETRY_WAIT_MS = 30_000;
const INT4_MAX = 2_147_483_647;

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
  // Follow-ups that observers write are published as the API's jobs are (the reconciler covers a crash).
  const followUps = new Outbox(db, bus, log.child({ component: 'outbox' }));
  const context: ObserverContext = { domains, publish: (jobs) => followUps.publish(jobs) };
  const batchSize = options.batchSize ?? 500;
  let stopping = false;
  const stopped = new AbortController();
  /** Waits before trying a write again; false when the recorder stops meanwhile. */
  const pause = (ms: number) => sleep(ms, true, { signal: stopped.signal }).catch(() => false);
  // The jobs that finish while one NOTIFY is being sent share the next. No linger: a client
  // waiting on its job (`--wait`) hears of it at once, and under load the batches form anyway.
  const announcements = new Batcher<string[], void>(async (lists) => {
    await notifyJobsFinished(db, lists.flat());
    return lists.map(() => undefined);
  });
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
          // Not an outage: find the events that cannot be written as they are, and keep the rest.
          if (await applyOneByOne(events)) break;
        } else if (!stopping) {
          log.warn({ err: describe(error), retryInMs: wait }, 'could not record results; retrying');
          if (await pause(wait)) continue;
        }
        // Stopping: the broker delivers these again to whoever records next.
        batch.forEach((d) => d.nack({ requeue: true }));
        return;
      }
    }
    for (const event of events) if (isFinal(event.status)) jobFinished(event);
    await observeChecks(events);
    batch.forEach((d) => d.ack());
    announceFinished(events.filter((e) => isFinal(e.status)).map((e) => e.jobId));
  }

  /** Wakes the long polls waiting for these jobs, in every gateway; a missed word costs them a slower poll only. */
  function announceFinished(jobIds: string[]): void {
    if (jobIds.length === 0) return;
    announcements.add(jobIds).catch((error) => log.debug({ err: describe(error) }, 'could not announce finished jobs'));
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
    const jobs = new Map<string, JobRow>(
      (
        await db('jobs').whereIn(
          'id',
          observed.map((e) => e.jobId),
        )
      ).map((j: JobRow) => [j.id, j]),
    );
    for (const event of observed) {
      const job = jobs.get(event.jobId);
      if (!job) continue;
      await observers[event.op](db, job, event, context).catch((error) => {
        if (isDatabaseUnavailable(error)) throw error;
        log.error({ jobId: event.jobId, op: event.op, err: describe(error) }, 'could not record the observed state of a job');
      });
    }
  }

  /**
   * Writes events one at a time. An outcome is never dropped for an error that is not about
   * its data: an outage, or anything unknown, is tried again with backoff, as long as it
   * takes. One whose data PostgreSQL refuses (class 22) is written as a placeholder that ends
   * the job all the same. False when the recorder stops before all are written.
   */
  async function applyOneByOne(events: ResultEvent[]): Promise<boolean> {
    for (const event of events) {
      let attempt = event;
      for (let wait = 200; ; wait = Math.min(wait * 2, MAX_RETRY_WAIT_MS)) {
        try {
          await applyResultEvents(db, [attempt]);
          break;
        } catch (error) {
          if (isDataError(error)) {
            const err = describe(error);
            if (attempt !== event) {
              // Even the placeholder is refused: nothing of it names a job this database can hold.
              log.error(
                { jobId: safeText(event.jobId), status: event.status, err },
                'dropping a result event that names no job this database can hold',
              );
              break;
            }
            log.error(
              { jobId: event.jobId, status: event.status, err },
              'a result event cannot be stored as reported; recording its outcome with a placeholder',
            );
            attempt = placeholderOf(event, err.code);
            continue;
          }
          if (stopping) return false;
          const outage = isDatabaseUnavailable(error);
          log[outage ? 'warn' : 'error'](
            { jobId: event.jobId, status: event.status, err: describe(error), retryInMs: wait },
            'could not record a result event; retrying',
          );
          if (!(await pause(wait))) return false;
        }
      }
    }
    return true;
  }

  async function keepDeadLetter(delivery: Delivery): Promise<void> {
    // The bytes as they came: a message need not be text at all.
    const content = delivery.content;
    const text = content.toString('utf8');
    // Handlers that give up say why, and report the job's outcome themselves.
    const byHandler = typeof delivery.headers[DEAD_REASON_HEADER] === 'string';
    const reason = safeText(byHandler ? String(delivery.headers[DEAD_REASON_HEADER]) : brokerReason(delivery.headers));
    const { jobId, op } = identify(text, delivery.headers);
    let letter = { id: letterId(content, reason), job_id: jobId, op, reason, content };
    let placeholder = false;
    for (let wait = 200; ; wait = Math.min(wait * 2, MAX_RETRY_WAIT_MS)) {
      try {
        await recordDeadLetter(db, letter, { markJobDead: !byHandler });
        delivery.ack();
        log.warn({ jobId, op, reason }, 'dead letter recorded');
        if (jobId && !byHandler) announceFinished([jobId]);
        return;
      } catch (error) {
        if (stopping) return delivery.nack({ requeue: true });
        if (isDataError(error)) {
          const err = describe(error);
          if (placeholder) {
            log.error({ jobId, err }, 'dropping a dead letter that cannot be stored');
            return delivery.ack();
          }
          // Keep what can be kept: the bytes, and a reason that says what was lost.
          log.error({ jobId, err }, 'a dead letter cannot be stored as it came; keeping its content with a placeholder reason');
          letter = { ...letter, op: null, reason: `(the reason could not be stored: PostgreSQL ${err.code ?? 'data error'})` };
          placeholder = true;
          continue;
        }
        log[isDatabaseUnavailable(error) ? 'warn' : 'error'](
          { err: describe(error), retryInMs: wait },
          'could not record a dead letter; retrying',
        );
        if (!(await pause(wait))) return delivery.nack({ requeue: true });
      }
    }
  }

  return {
    async stop() {
      await Promise.all(consumers.map((c) => c.cancel().catch(() => undefined)));
      // A write under way finishes; one that waits for the database gives up and is delivered again.
      stopping = true;
      stopped.abort();
      if (writing) await writing;
      pending.forEach((item) => item.delivery.nack({ requeue: true }));
      pending = [];
      await announcements.idle();
      await followUps.drain();
    },
  };
}

/**
 * One event, or the array a handler sends when several finished together (see Bus.publishResult),
 * with its text made fit to store (a host's output may hold anything).
 */
function parseEvents(content: Buffer): ResultEvent[] | null {
  try {
    const text = content.toString('utf8');
    const value: unknown = JSON.parse(text);
    const events = Array.isArray(value) ? value : [value];
    if (events.length === 0 || !events.every((event) => resultValidator.check(event))) return null;
    return mayNeedSafeText(text) ? (events as ResultEvent[]).map(safeValue) : (events as ResultEvent[]);
  } catch {
    return null;
  }
}

/**
 * What can certainly be written of an outcome PostgreSQL refused: its job, status and attempt,
 * and a note in place of the handler's message and result. The job ends as reported.
 */
function placeholderOf(event: ResultEvent, code: string | undefined): ResultEvent {
  const note = `the handler's report could not be stored (PostgreSQL ${code ?? 'data error'}); the recorder's log has it`;
  const at = Date.parse(event.at);
  return {
    v: 1,
    jobId: event.jobId,
    op: event.op,
    status: event.status,
    attempt: Math.min(event.attempt, INT4_MAX),
    at: Number.isFinite(at) && at > 0 && at < Date.UTC(9999, 0) ? new Date(at).toISOString() : new Date().toISOString(),
    handler: { host: event.handler.host, pid: Math.max(0, Math.min(event.handler.pid, INT4_MAX)) },
    ...(event.error ? { error: { kind: event.error.kind, message: note } } : {}),
    ...(event.result !== undefined ? { result: { unrecorded: note } } : {}),
  };
}

/** A dead letter's job and op, when its content is a readable envelope. */
function identify(content: string, headers: Record<string, unknown>): { jobId: string | null; op: string | null } {
  let jobId: string | null = null;
  let op = typeof headers[DEAD_OP_HEADER] === 'string' ? safeText((headers[DEAD_OP_HEADER] as string).slice(0, 200)) : null;
  try {
    const parsed = JSON.parse(content) as { id?: unknown; op?: unknown };
    if (isUuid(parsed.id)) jobId = parsed.id;
    if (!op && typeof parsed.op === 'string') op = safeText(parsed.op.slice(0, 200));
  } catch {
    // A poison message: kept as it came.
  }
  return { jobId, op };
}

/** Dead-lettered by the broker itself (delivery limit, expiry), not by a handler. */
function brokerReason(headers: Record<string, unknown>): string {
  const reason = headers['x-first-death-reason'] ?? (headers['x-death'] as { reason?: string }[] | undefined)?.[0]?.reason;
  return reason === 'delivery_limit'
    ? 'delivery limit reached (the handler crashed or gave the message back too often)'
    : `dead-lettered by the broker (${String(reason ?? 'unknown')})`;
}

/** The same dead letter seen twice (a redelivery) is one row. */
function letterId(content: Buffer, reason: string): string {
  const h = createHash('sha256').update(reason).update('\0').update(content).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
