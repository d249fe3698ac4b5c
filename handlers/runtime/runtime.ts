import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { RESENT_HEADER, type Bus } from '../../queues/bus.ts';
import { Envelope } from '../../queues/envelope.ts';
import { SupersededError, classify, describe } from '../../lib/errors.ts';
import type { HostRef } from '../../queues/host-ref.ts';
import type { Operation } from '../../queues/operation.ts';
import type { ReportedStatus, ResultEvent } from '../../queues/result-event.ts';
import { retryDelay } from '../../queues/topology.ts';
import type { Consumer, Delivery } from '../../queues/transport.ts';
import { validator, type Validator } from '../../queues/validate.ts';
import { handlerDuration, timedPublish } from '../../lib/metrics.ts';
import { HostConnector } from './connector.ts';
import type { Handler, HandlerContext } from './define.ts';
import { isUuid } from '../../lib/ids.ts';

export interface HandlerRuntimeOptions {
  bus: Bus;
  handlers: readonly Handler[];
  /** Messages in flight per operation (the consumer's prefetch); default: the operation's own. */
  concurrency?: number;
  log: Logger;
  /** How long shutdown waits for work in flight before aborting it. */
  shutdownGraceMs?: number;
  /** Reaches hosts; default: SSH with UP_SSH_KEY_FILE, or locally for `local` hosts. */
  connector?: HostConnector;
}

export interface HandlerRuntime {
  /** Stop consuming, let work in flight finish (then abort it), and return. */
  stop(): Promise<void>;
}

const envelopeValidator = validator<Envelope>(Envelope);
/** Attempts that last longer than this report `running` while they work. */
const RUNNING_REPORT_DELAY_MS = 100;
/**
 * A handler process holds this many messages at first, and GROWTH times more each time it has
 * finished as many as it may hold, up to its concurrency. The broker counts every message a
 * dying consumer held against the delivery limit: a process that crashes soon after it starts,
 * again and again (a poison message, a bad release), must not take a thousand innocent messages
 * to the dead letters with it. Operations of at most this concurrency are not affected.
 */
export const FIRST_PREFETCH = 16;
const PREFETCH_GROWTH = 8;
const self = { host: hostname(), pid: process.pid };

class InvalidMessage extends Error {}

/**
 * One attempt in flight. It ends when the handler settles or when it is aborted (timeout,
 * shutdown), whichever comes first: a handler that ignores its signal still loses the race.
 * The AbortSignal is made only when the handler asks for it.
 */
class Attempt {
  private controller: AbortController | null = null;
  private reason: Error | null = null;
  private fail: ((reason: Error) => void) | null = null;

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.reason) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  abort(reason: Error): void {
    if (this.reason) return;
    this.reason = reason;
    this.controller?.abort(reason);
    this.fail?.(reason);
  }

  race<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.reason) reject(this.reason);
      this.fail = reject;
      work.then(resolve, reject);
    });
  }
}

/**
 * A result event of this handler process; the caller adds what the outcome carries. `run` > 1:
 * this attempt ran before (redelivered, or sent again by the watchdog), which its history shows.
 */
function report(envelope: Envelope, status: ReportedStatus, run: number): ResultEvent {
  const event: ResultEvent = {
    v: 1,
    jobId: envelope.id,
    op: envelope.op,
    status,
    attempt: envelope.attempt,
    at: new Date().toISOString(),
    handler: self,
    target: envelope.target ?? null,
  };
  if (run > 1) event.delivery = run;
  return event;
}

/** Which run of its attempt a delivery is: 1 + the broker's returns + the watchdog's resends. */
function runOf(delivery: Delivery): number {
  const resent = Number(delivery.headers[RESENT_HEADER] ?? 0);
  return 1 + delivery.deliveryCount + (Number.isInteger(resent) && resent > 0 ? resent : 0);
}

interface Compiled {
  handler: Handler;
  op: Operation;
  payload: Validator<unknown>;
  result: Validator<unknown>;
}

/** Consumes the queues of the given handlers until stopped. Handlers never see queue mechanics. */
export async function startHandlers(options: HandlerRuntimeOptions): Promise<HandlerRuntime> {
  const { bus, log } = options;
  let shuttingDown = false;
  const attempts = new Set<Attempt>();
  const inFlight = new Set<Promise<void>>();
  const consumers: Consumer[] = [];
  const connector = options.connector ?? new HostConnector();

  for (const handler of options.handlers) {
    const compiled: Compiled = { handler, op: handler.op, payload: validator(handler.op.payload), result: validator(handler.op.result) };
    const concurrency = options.concurrency ?? handler.op.concurrency;
    let prefetch = Math.min(concurrency, FIRST_PREFETCH);
    let finished = 0;
    let consumer: Consumer | null = null;
    consumer = await bus.consumeOp(handler.op.name, prefetch, (delivery) => {
      const work = processDelivery(compiled, delivery).finally(() => {
        inFlight.delete(work);
        if (consumer && prefetch < concurrency && ++finished >= prefetch) {
          finished = 0;
          prefetch = Math.min(concurrency, prefetch * PREFETCH_GROWTH);
          consumer
            .setPrefetch(prefetch)
            .catch((error) => log.warn({ op: handler.op.name, err: describe(error) }, 'could not raise the prefetch'));
        }
      });
      inFlight.add(work);
    });
    consumers.push(consumer);
  }
  log.info({ ops: options.handlers.map((h) => h.op.name), concurrency: options.concurrency ?? 'per operation' }, 'handlers consuming');

  async function processDelivery(c: Compiled, delivery: Delivery): Promise<void> {
    let envelope: Envelope;
    try {
      envelope = parse(c, delivery.content);
    } catch (error) {
      await deadLetterInvalid(c, delivery, (error as Error).message);
      return;
    }
    // A child logger per job is made only when something is logged: most quick jobs log nothing.
    let child: Logger | undefined;
    const jobLog = () => (child ??= log.child({ jobId: envelope.id, op: envelope.op, attempt: envelope.attempt }));
    const started = performance.now();
    const run = runOf(delivery);
    const attempt = new Attempt();
    attempts.add(attempt);
    if (shuttingDown) attempt.abort(new Error('handler shutting down'));

    // "running" is for people watching long work: a job that ends quickly reports only its
    // outcome (which names the handler too), halving result traffic on the hot path.
    const running = setTimeout(() => {
      bus
        .publishResult(report(envelope, 'running', run))
        .catch((error) => jobLog().warn({ err: describe(error) }, 'could not report running'));
    }, RUNNING_REPORT_DELAY_MS);
    const timeout = setTimeout(() => attempt.abort(new Error(`timed out after ${c.op.timeoutMs} ms`)), c.op.timeoutMs);
    try {
      let outcome: ResultEvent;
      let deadReason: string | null = null;
      try {
        const result = await attempt.race(c.handler.run(envelope.payload as never, contextOf(envelope, attempt, jobLog)));
        if (!c.result.check(result)) throw new InvalidMessage(`handler returned an invalid result: ${c.result.errors(result).join('; ')}`);
        outcome = report(envelope, 'succeeded', run);
        outcome.result = result;
      } catch (error) {
        const err = describe(error);
        if (error instanceof SupersededError) {
          outcome = report(envelope, 'superseded', run);
          outcome.error = { ...err, kind: 'permanent' };
        } else if (classify(error) === 'permanent' || error instanceof InvalidMessage) {
          outcome = report(envelope, 'failed', run);
          outcome.error = { ...err, kind: 'permanent' };
          deadReason = `failed: ${err.message}`;
        } else if (envelope.attempt < c.op.retry.maxAttempts) {
          const delay = retryDelay(c.op, envelope.attempt + 1);
          await timedPublish('retry', () => bus.publishRetry({ ...envelope, attempt: envelope.attempt + 1 }, delay));
          outcome = report(envelope, 'retrying', run);
          outcome.error = err;
          outcome.retryInMs = delay;
        } else {
          outcome = report(envelope, 'dead', run);
          outcome.error = err;
          deadReason = `retries exhausted after ${envelope.attempt} attempts: ${err.message}`;
        }
      } finally {
        clearTimeout(running);
        clearTimeout(timeout);
        attempts.delete(attempt);
      }
      outcome.durationMs = performance.now() - started;
      if (deadReason && c.op.queue.deadLetter) await timedPublish('dead', () => bus.publishDead(delivery.content, envelope.op, deadReason));
      await bus.publishResult(outcome);
      handlerDuration.observe({ op: envelope.op, outcome: outcome.status }, outcome.durationMs / 1000);
      // Every outcome is in the job's history already; the log keeps the unusual ones at info.
      if (outcome.status !== 'succeeded' || log.isLevelEnabled('debug')) {
        jobLog()[outcome.status === 'succeeded' ? 'debug' : 'warn'](
          { status: outcome.status, durationMs: Math.round(outcome.durationMs), error: outcome.error?.message },
          'job attempt finished',
        );
      }
      delivery.ack();
    } catch (error) {
      // Could not hand the outcome over (broker gone): let the broker deliver it again.
      jobLog().error({ err: describe(error) }, 'could not publish the outcome; message returned to the queue');
      delivery.nack({ requeue: true });
    }
  }

  function contextOf(envelope: Envelope, attempt: Attempt, jobLog: () => Logger): HandlerContext {
    return {
      // Made when the handler asks for it: most quick jobs never wait on anything abortable.
      get signal() {
        return attempt.signal;
      },
      get log() {
        return jobLog();
      },
      job: {
        id: envelope.id,
        attempt: envelope.attempt,
        tenant: envelope.tenant,
        actor: envelope.actor,
        target: envelope.target ?? null,
        ...(envelope.generation !== undefined ? { generation: envelope.generation } : {}),
      },
      connect: (host: HostRef) => connector.connect(host),
    };
  }

  async function deadLetterInvalid(c: Compiled, delivery: Delivery, reason: string): Promise<void> {
    try {
      if (c.op.queue.deadLetter) await bus.publishDead(delivery.content, c.op.name, `invalid message: ${reason}`);
      const id = jobIdOf(delivery.content);
      if (id) {
        await bus.publishResult({
          v: 1,
          jobId: id,
          op: c.op.name,
          status: 'dead',
          attempt: 1,
          at: new Date().toISOString(),
          handler: self,
          error: { kind: 'invalid', message: reason },
        });
      }
      log.warn({ op: c.op.name, reason }, 'invalid message sent to dead letters');
      delivery.ack();
    } catch (error) {
      log.error({ err: describe(error) }, 'could not dead-letter an invalid message');
      delivery.nack({ requeue: true });
    }
  }

  return {
    async stop() {
      await Promise.all(consumers.map((c) => c.cancel().catch(() => undefined)));
      const grace = options.shutdownGraceMs ?? 30_000;
      const drained = Promise.allSettled([...inFlight]);
      const timer = new Promise((resolve) => setTimeout(resolve, grace).unref());
      if ((await Promise.race([drained.then(() => 'drained'), timer])) !== 'drained') {
        shuttingDown = true;
        for (const attempt of attempts) attempt.abort(new Error('handler shutting down'));
        await drained;
      }
      if (!options.connector) await connector.close();
      log.info('handlers stopped');
    },
  };
}

function parse(c: Compiled, content: Buffer): Envelope {
  let value: unknown;
  try {
    value = JSON.parse(content.toString('utf8'));
  } catch {
    throw new InvalidMessage('not JSON');
  }
  if (!envelopeValidator.check(value)) throw new InvalidMessage(`bad envelope: ${envelopeValidator.errors(value).join('; ')}`);
  if (value.op !== c.op.name) throw new InvalidMessage(`operation ${value.op} on the queue of ${c.op.name}`);
  if (value.payloadVersion !== c.op.version) {
    throw new InvalidMessage(`payload version ${value.payloadVersion} is not supported by this handler (it reads ${c.op.version})`);
  }
  if (!c.payload.check(value.payload)) throw new InvalidMessage(`bad payload: ${c.payload.errors(value.payload).join('; ')}`);
  if (value.deadline && Date.parse(value.deadline) < Date.now()) throw new InvalidMessage(`deadline ${value.deadline} has passed`);
  return value;
}

function jobIdOf(content: Buffer): string | null {
  try {
    const id = (JSON.parse(content.toString('utf8')) as { id?: unknown }).id;
    return isUuid(id) ? id : null;
  } catch {
    return null;
  }
}
