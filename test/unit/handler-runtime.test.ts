/** The handler runtime's timeout and shutdown on the in-process bus (same semantics as AMQP). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { Type } from 'typebox';
import { defineHandler, type HandlerContext } from '../../handlers/runtime/define.ts';
import { startHandlers } from '../../handlers/runtime/runtime.ts';
import { newJobId } from '../../lib/ids.ts';
import { Bus } from '../../queues/bus.ts';
import { ENVELOPE_VERSION, type Envelope } from '../../queues/envelope.ts';
import { MemoryTransport } from '../../queues/memory-transport.ts';
import { defineOperation } from '../../queues/operation.ts';
import type { ResultEvent } from '../../queues/result-event.ts';
import type { Delivery } from '../../queues/transport.ts';

const slow = defineOperation({
  name: 'test.slow',
  summary: 'waits for its signal, or ignores it',
  payload: Type.Object({ ignoreSignal: Type.Boolean() }),
  result: Type.Object({}),
  timeoutMs: 200,
  retry: { maxAttempts: 2, tiersMs: [60_000] },
});

async function started(run: (payload: { ignoreSignal: boolean }, ctx: HandlerContext) => Promise<object>) {
  const bus = new Bus(new MemoryTransport(), [slow]);
  await bus.start();
  const events: ResultEvent[] = [];
  await bus.consumeResults(100, (d) => {
    const value = JSON.parse(d.content.toString());
    events.push(...(Array.isArray(value) ? value : [value]));
    d.ack();
  });
  const runtime = await startHandlers({
    bus,
    handlers: [defineHandler({ op: slow, run })],
    log: pino({ level: 'silent' }),
    shutdownGraceMs: 100,
  });
  const submit = async (ignoreSignal: boolean) => {
    const id = newJobId();
    const now = new Date().toISOString();
    await bus.publishOp({
      v: ENVELOPE_VERSION,
      id,
      op: slow.name,
      payloadVersion: 1,
      tenant: null,
      actor: 't',
      attempt: 1,
      correlationId: id,
      requestedAt: now,
      deadline: null,
      payload: { ignoreSignal },
    });
    return id;
  };
  const outcome = async (id: string) => {
    for (let i = 0; i < 200; i++) {
      const final = events.find((e) => e.jobId === id && e.status !== 'running');
      if (final) return final;
      await sleep(10);
    }
    throw new Error(`no outcome for ${id}`);
  };
  return { bus, runtime, submit, outcome };
}

/** Resolves when the signal aborts; never, when asked to ignore it. */
const waitForSignal = ({ ignoreSignal }: { ignoreSignal: boolean }, ctx: HandlerContext) =>
  new Promise<object>((_, reject) => {
    if (ignoreSignal) return;
    ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
  });

describe('handler runtime', () => {
  it('ends an attempt at its timeout, whether the handler listens to its signal or not', async () => {
    const seen: AbortSignal[] = [];
    const { bus, runtime, submit, outcome } = await started((payload, ctx) => {
      if (!payload.ignoreSignal) seen.push(ctx.signal);
      return waitForSignal(payload, ctx);
    });
    try {
      const started = Date.now();
      const [listening, deaf] = await Promise.all([submit(false), submit(true)]);
      const [a, b] = await Promise.all([outcome(listening), outcome(deaf)]);
      for (const event of [a, b]) {
        assert.equal(event.status, 'retrying');
        assert.match(event.error!.message, /timed out after 200 ms/);
      }
      assert.ok(Date.now() - started < 2_000, 'both ended at their timeout');
      assert.equal(seen[0].aborted, true, 'the signal the handler holds is aborted');
    } finally {
      await runtime.stop();
      await bus.close();
    }
  });

  it('on shutdown waits for the grace period, then aborts the attempts in flight', async () => {
    const { bus, runtime, submit, outcome } = await started(waitForSignal);
    try {
      const id = await submit(true);
      await sleep(50);
      const stop = runtime.stop();
      const event = await outcome(id);
      await stop;
      assert.equal(event.status, 'retrying');
      // Its own timeout (200 ms) would say "timed out": the 100 ms grace ran out first.
      assert.match(event.error!.message, /handler shutting down/);
    } finally {
      await bus.close();
    }
  });

  it('holds few messages until it has finished some, then grows to its concurrency: a process that dies at once takes few down', async () => {
    const wide = defineOperation({
      name: 'test.wide',
      summary: 'many at once',
      payload: Type.Object({}),
      result: Type.Object({}),
      concurrency: 1024,
    });
    const bus = new Bus(new MemoryTransport(), [wide]);
    await bus.start();
    const outcomes: ResultEvent[] = [];
    await bus.consumeResults(1000, (d) => {
      const value = JSON.parse(d.content.toString());
      outcomes.push(...(Array.isArray(value) ? value : [value]));
      d.ack();
    });
    for (let i = 0; i < 300; i++) {
      const id = newJobId();
      await bus.publishOp({
        v: ENVELOPE_VERSION,
        id,
        op: wide.name,
        payloadVersion: 1,
        tenant: null,
        actor: 't',
        attempt: 1,
        correlationId: id,
        requestedAt: new Date().toISOString(),
        deadline: null,
        payload: {},
      });
    }
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const runtime = await startHandlers({
      bus,
      handlers: [defineHandler({ op: wide, run: async () => (await gate, {}) })],
      log: pino({ level: 'silent' }),
    });
    try {
      await sleep(50);
      // Were it to die now, 16 messages would count a delivery against their limit, not 300.
      const [held] = await bus.queueStats();
      assert.deepEqual([held.ready, held.unacked], [284, 16]);
      open();
      for (let i = 0; i < 300 && outcomes.length < 300; i++) await sleep(10);
      assert.equal(outcomes.filter((e) => e.status === 'succeeded').length, 300);
      assert.ok(
        outcomes.every((e) => e.delivery === undefined),
        'nothing was given back on the way',
      );
    } finally {
      await runtime.stop();
      await bus.close();
    }
  });

  it('says which run of its attempt reported: handed out again by the broker, or sent again by the watchdog', async () => {
    const bus = new Bus(new MemoryTransport(), [slow]);
    await bus.start();
    const events: ResultEvent[] = [];
    await bus.consumeResults(100, (d) => {
      const value = JSON.parse(d.content.toString());
      events.push(...(Array.isArray(value) ? value : [value]));
      d.ack();
    });
    const envelope = (id: string): Envelope => ({
      v: ENVELOPE_VERSION,
      id,
      op: slow.name,
      payloadVersion: 1,
      tenant: null,
      actor: 't',
      attempt: 1,
      correlationId: id,
      requestedAt: new Date().toISOString(),
      deadline: null,
      payload: { ignoreSignal: false },
    });
    const [first, returned, resent, both] = [newJobId(), newJobId(), newJobId(), newJobId()];
    // A consumer that gives back what it holds (as one that dies does): the broker counts it.
    const held: Delivery[] = [];
    const crashing = await bus.consumeOp(slow.name, 10, (d) => held.push(d));
    await bus.publishOp(envelope(returned));
    await bus.publishOp(envelope(resent), { resent: 1 });
    await bus.publishOp(envelope(both), { resent: 2 });
    for (let i = 0; i < 100 && held.length < 3; i++) await sleep(10);
    await crashing.cancel();
    held.forEach((d) => d.nack({ requeue: true }));
    await bus.publishOp(envelope(first));
    const runtime = await startHandlers({
      bus,
      handlers: [defineHandler({ op: slow, run: async () => ({}) })],
      log: pino({ level: 'silent' }),
    });
    try {
      for (let i = 0; i < 200 && events.length < 4; i++) await sleep(10);
      const delivery = (id: string) => events.find((e) => e.jobId === id)?.delivery;
      assert.equal(delivery(first), undefined, 'a first run says nothing (the common case stays small)');
      assert.equal(delivery(returned), 2);
      assert.equal(delivery(resent), 3, 'sent again once, and returned once');
      assert.equal(delivery(both), 4);
    } finally {
      await runtime.stop();
      await bus.close();
    }
  });
});
