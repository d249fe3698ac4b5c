import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Type } from 'typebox';
import { RetryableError } from '../../lib/errors.ts';
import { defineOperation } from '../../queues/operation.ts';
import { delayExchange, delayQueue, opQueue, topologyFor, type Topology } from '../../queues/topology.ts';
import type { Delivery, Transport } from '../../queues/transport.ts';

export type MakeTransport = () => Promise<{ transport: Transport; cleanup(): Promise<void> }>;

/** Long enough for a broker to hand out whatever it was going to hand out. */
const QUIET_MS = 300;
const RETRY_TIER_MS = 300;
const QUORUM = { 'x-queue-type': 'quorum' };

let sequence = 0;
/** A name no other test of this run uses, so no test sees another's leftovers. */
const unique = (label: string) => `contract.${label}.${process.pid}.${++sequence}`;

const text = (body: string) => Buffer.from(body);
const bodies = (deliveries: Delivery[]) => deliveries.map((d) => d.content.toString());

const oneQueue = (name: string, args: Record<string, unknown> = {}): Topology => ({
  exchanges: [],
  queues: [{ name, arguments: args }],
  bindings: [],
});

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** The transport semantics `up` relies on, run identically against every Transport. */
export function transportContract(name: string, makeTransport: MakeTransport): void {
  async function started(t: TestContext, topology: Topology): Promise<Transport> {
    const { transport, cleanup } = await makeTransport();
    t.after(cleanup);
    await transport.start(topology);
    return transport;
  }

  describe(name, () => {
    it('is ready once started and not after close', async () => {
      const { transport, cleanup } = await makeTransport();
      assert.equal(transport.isReady(), false);
      await transport.start(oneQueue(unique('ready')));
      assert.equal(transport.isReady(), true);
      await transport.close();
      assert.equal(transport.isReady(), false);
      await cleanup();
    });

    it('delivers through a direct exchange by exact routing key', async (t) => {
      const exchange = unique('direct');
      const queue = unique('greetings');
      const transport = await started(t, {
        exchanges: [{ name: exchange, type: 'direct' }],
        queues: [{ name: queue, arguments: {} }],
        bindings: [{ exchange, queue, routingKey: 'greet' }],
      });
      const received: Delivery[] = [];
      await transport.consume(queue, { prefetch: 10 }, (d) => received.push(d));

      await transport.publish(exchange, 'greet.loudly', text('not routed'));
      await transport.publish(exchange, 'greet', text('{"hello":"world"}'), { headers: { 'x-up-attempt': 1 }, messageId: 'm-1' });
      await until(() => received.length >= 1, 'the greeting');

      assert.deepEqual(bodies(received), ['{"hello":"world"}']);
      const [greeting] = received;
      assert.equal(greeting.routingKey, 'greet');
      assert.equal(greeting.headers['x-up-attempt'], 1);
      assert.equal(greeting.deliveryCount, 0);
      greeting.ack();
    });

    it('routes a topic exchange with * and #', async (t) => {
      const exchange = unique('topic');
      const allJobs = unique('all-jobs');
      const doneJobs = unique('done-jobs');
      const transport = await started(t, {
        exchanges: [{ name: exchange, type: 'topic' }],
        queues: [
          { name: allJobs, arguments: {} },
          { name: doneJobs, arguments: {} },
        ],
        bindings: [
          { exchange, queue: allJobs, routingKey: 'job.#' },
          { exchange, queue: doneJobs, routingKey: 'job.*.done' },
        ],
      });
      const all: Delivery[] = [];
      const done: Delivery[] = [];
      await transport.consume(allJobs, { prefetch: 10 }, (d) => all.push(d));
      await transport.consume(doneJobs, { prefetch: 10 }, (d) => done.push(d));

      // The last key matches both patterns: once it arrived, everything before it did.
      for (const key of ['job.1.done', 'job.1.running', 'job', 'job.1.2.done', 'other.1.done', 'job.last.done']) {
        await transport.publish(exchange, key, text(key));
      }
      await until(() => all.at(-1)?.routingKey === 'job.last.done' && done.at(-1)?.routingKey === 'job.last.done', 'the last job');

      assert.deepEqual(bodies(all), ['job.1.done', 'job.1.running', 'job', 'job.1.2.done', 'job.last.done']);
      assert.deepEqual(bodies(done), ['job.1.done', 'job.last.done']);
    });

    it('copies a fanout message to every bound queue whatever the key', async (t) => {
      const exchange = unique('fanout');
      const left = unique('left');
      const right = unique('right');
      const transport = await started(t, {
        exchanges: [{ name: exchange, type: 'fanout' }],
        queues: [
          { name: left, arguments: {} },
          { name: right, arguments: {} },
        ],
        bindings: [
          { exchange, queue: left, routingKey: '' },
          { exchange, queue: right, routingKey: '' },
        ],
      });
      const received: Delivery[] = [];
      await transport.consume(left, { prefetch: 10 }, (d) => received.push(d));
      await transport.consume(right, { prefetch: 10 }, (d) => received.push(d));

      await transport.publish(exchange, 'any.key', text('broadcast'));
      await until(() => received.length >= 2, 'both copies');

      assert.deepEqual(bodies(received), ['broadcast', 'broadcast']);
      assert.deepEqual(
        received.map((d) => d.routingKey),
        ['any.key', 'any.key'],
      );
    });

    it('publishes to a queue by name through the default exchange', async (t) => {
      const queue = unique('by-name');
      const transport = await started(t, oneQueue(queue));
      const received: Delivery[] = [];
      await transport.consume(queue, { prefetch: 10 }, (d) => received.push(d));

      await transport.publish('', queue, text('straight in'));
      await until(() => received.length >= 1, 'the message');

      assert.deepEqual(bodies(received), ['straight in']);
      assert.equal(received[0].routingKey, queue);
    });

    it('keeps at most prefetch messages in flight per consumer', async (t) => {
      const queue = unique('prefetch');
      const transport = await started(t, oneQueue(queue, QUORUM));
      for (const n of ['1', '2', '3', '4', '5']) await transport.publish('', queue, text(n));
      const received: Delivery[] = [];
      await transport.consume(queue, { prefetch: 2 }, (d) => received.push(d));

      await until(() => received.length >= 2, 'two deliveries');
      await sleep(QUIET_MS);
      assert.deepEqual(bodies(received), ['1', '2']);

      received[0].ack();
      await until(() => received.length >= 3, 'a third delivery');
      await sleep(QUIET_MS);
      assert.deepEqual(bodies(received), ['1', '2', '3']);
    });

    it('ignores settling a delivery twice', async (t) => {
      const queue = unique('settle-twice');
      const transport = await started(t, oneQueue(queue, QUORUM));
      const received: Delivery[] = [];
      await transport.consume(queue, { prefetch: 2 }, (d) => received.push(d));
      await transport.publish('', queue, text('first'));
      await transport.publish('', queue, text('second'));
      await until(() => received.length >= 2, 'both messages');

      const [first, second] = received;
      first.ack();
      first.ack();
      first.nack({ requeue: true });
      // Had the broker seen a second ack, it would have closed the channel, and `second` would come back.
      await sleep(QUIET_MS);
      second.ack();
      await sleep(QUIET_MS);

      assert.deepEqual(bodies(received), ['first', 'second']);
      const stats = await transport.queueStats(queue);
      assert.equal(stats.ready, 0);
      assert.equal(stats.consumers, 1);
    });

    it('settles out of order: acks of later messages never settle an earlier one still in flight', async (t) => {
      const queue = unique('out-of-order');
      const transport = await started(t, oneQueue(queue, QUORUM));
      for (const n of ['1', '2', '3', '4', '5']) await transport.publish('', queue, text(n));
      const received: Delivery[] = [];
      await transport.consume(queue, { prefetch: 5 }, (d) => received.push(d));
      await until(() => received.length >= 5, 'five deliveries');

      // 1 stays in flight (a long job); 2 and 4 finish; 3 is given back; 5 finishes last.
      received[1].ack();
      received[3].ack();
      received[2].nack({ requeue: true });
      await until(() => received.length >= 6, 'the message given back');
      received[4].ack();
      received[5].ack();
      await sleep(QUIET_MS);
      // Still ours to give back: had an ack of a later message covered it, the broker would
      // refuse this (unknown delivery tag, channel closed) and the message would be gone.
      received[0].nack({ requeue: true });
      await until(() => received.length >= 7, 'message 1 again');
      received[6].ack();
      await sleep(QUIET_MS);
      assert.deepEqual(bodies(received), ['1', '2', '3', '4', '5', '3', '1']);
      assert.equal(received[6].deliveryCount, 1);
      const stats = await transport.queueStats(queue);
      assert.equal(stats.ready, 0);
      assert.equal(stats.consumers, 1, 'the channel is still open');
    });

    it('redelivers a message nacked with requeue, counting the delivery', async (t) => {
      const queue = unique('requeue');
      const transport = await started(t, oneQueue(queue, QUORUM));
      const received: Delivery[] = [];
      await transport.consume(queue, { prefetch: 1 }, (d) => received.push(d));
      await transport.publish('', queue, text('again'));

      await until(() => received.length >= 1, 'the first delivery');
      assert.equal(received[0].deliveryCount, 0);
      received[0].nack();
      await until(() => received.length >= 2, 'the redelivery');

      assert.deepEqual(bodies(received), ['again', 'again']);
      assert.equal(received[1].deliveryCount, 1);
      received[1].ack();
    });

    it('dead-letters a message whose returns exceed the delivery limit', async (t) => {
      const deadExchange = unique('dlx');
      const limited = unique('limited');
      const dead = unique('dead');
      const transport = await started(t, {
        exchanges: [{ name: deadExchange, type: 'fanout' }],
        queues: [
          { name: limited, arguments: { ...QUORUM, 'x-delivery-limit': 2, 'x-dead-letter-exchange': deadExchange } },
          { name: dead, arguments: {} },
        ],
        bindings: [{ exchange: deadExchange, queue: dead, routingKey: '' }],
      });
      const attempts: number[] = [];
      await transport.consume(limited, { prefetch: 1 }, (d) => {
        attempts.push(d.deliveryCount);
        d.nack();
      });
      const letters: Delivery[] = [];
      await transport.consume(dead, { prefetch: 10 }, (d) => letters.push(d));

      await transport.publish('', limited, text('poison'));
      await until(() => letters.length >= 1, 'the dead letter');
      await sleep(QUIET_MS);

      // Limit 2: handed out three times (counts 0, 1, 2); the third return is one too many.
      assert.deepEqual(attempts, [0, 1, 2]);
      assert.deepEqual(bodies(letters), ['poison']);
      assert.equal(letters[0].routingKey, limited);
      assert.equal(letters[0].headers['x-first-death-reason'], 'delivery_limit');
      assert.equal(letters[0].headers['x-first-death-queue'], limited);
    });

    it('parks a retry in its TTL tier until it expires back onto the operation queue', async (t) => {
      const op = defineOperation({
        name: unique('retry'),
        summary: 'an operation of the contract test',
        payload: Type.Object({}),
        result: Type.Object({}),
        retry: { maxAttempts: 3, tiersMs: [RETRY_TIER_MS] },
      });
      const transport = await started(t, topologyFor([op]));
      const received: Delivery[] = [];
      await transport.consume(opQueue(op.name), { prefetch: 1 }, (d) => received.push(d));

      const parkedAt = Date.now();
      await transport.publish(delayExchange(RETRY_TIER_MS), op.name, text('attempt 2'), { headers: { 'x-up-attempt': 2 } });
      await until(() => received.length >= 1, 'the retry to come back');
      const waited = Date.now() - parkedAt;

      assert.ok(waited >= RETRY_TIER_MS * 0.9, `came back after ${waited} ms`);
      const [retry] = received;
      assert.equal(retry.content.toString(), 'attempt 2');
      assert.equal(retry.routingKey, op.name);
      assert.equal(retry.headers['x-up-attempt'], 2);
      assert.equal(retry.headers['x-first-death-reason'], 'expired');
      assert.equal(retry.deliveryCount, 0);
      assert.equal((await transport.queueStats(delayQueue(RETRY_TIER_MS))).ready, 0);
      retry.ack();
    });

    it('changes the prefetch of a live consumer without giving back anything it holds', async (t) => {
      const queue = unique('prefetch');
      const transport = await started(t, oneQueue(queue, QUORUM));
      for (let i = 0; i < 10; i++) await transport.publish('', queue, text(`m${i}`));
      const held: Delivery[] = [];
      const consumer = await transport.consume(queue, { prefetch: 2 }, (d) => held.push(d));
      await until(() => held.length >= 2, 'two deliveries');
      await sleep(QUIET_MS);
      assert.equal(held.length, 2);

      await consumer.setPrefetch(5);
      await until(() => held.length >= 5, 'five deliveries');
      await sleep(QUIET_MS);
      // AMQP fixes a consumer's prefetch at its start: the new one may take 5 beside the 2 held.
      assert.ok(held.length <= 2 + 5, `${held.length} held`);
      // Settled on whichever channel they came: the rest flows, nothing comes back.
      const all = [...held];
      held.splice(0).forEach((d) => d.ack());
      await until(() => all.length + held.length >= 10, 'the rest');
      held.forEach((d) => d.ack());
      await sleep(QUIET_MS);
      all.push(...held);
      assert.deepEqual(bodies(all).sort(), Array.from({ length: 10 }, (_, i) => `m${i}`).sort(), 'each once');
      assert.ok(
        all.every((d) => d.deliveryCount === 0),
        'nothing was handed out twice',
      );
      assert.equal((await transport.queueStats(queue)).ready, 0);
    });

    it('stops delivering on cancel, while deliveries in flight can still be settled', async (t) => {
      const queue = unique('cancel');
      const transport = await started(t, oneQueue(queue, QUORUM));
      for (const body of ['a', 'b', 'c', 'd']) await transport.publish('', queue, text(body));
      const first: Delivery[] = [];
      const consumer = await transport.consume(queue, { prefetch: 3 }, (d) => first.push(d));
      await until(() => first.length >= 3, 'three deliveries');

      await consumer.cancel();
      first[0].ack();
      first[1].nack();
      await sleep(QUIET_MS);
      assert.deepEqual(bodies(first), ['a', 'b', 'c'], 'nothing new after cancel');

      first[2].ack(); // the last one in flight: now the consumer is gone
      const settled = async () => {
        const stats = await transport.queueStats(queue);
        return stats.ready === 2 && stats.consumers === 0;
      };
      await until(settled, 'b and d ready, and no consumer');
      const second: Delivery[] = [];
      await transport.consume(queue, { prefetch: 3 }, (d) => second.push(d));
      await until(() => second.length >= 2, 'the remaining messages');
      // A quorum queue may hand out a requeued message after newer ones: compare without order.
      const countsByBody = Object.fromEntries(second.map((d) => [d.content.toString(), d.deliveryCount]));
      assert.deepEqual(countsByBody, { b: 1, d: 0 });
    });

    it('drops a cancelled consumer with nothing in flight at once', async (t) => {
      const queue = unique('cancel-idle');
      const transport = await started(t, oneQueue(queue, QUORUM));
      const consumer = await transport.consume(queue, { prefetch: 1 }, () => {});
      assert.equal((await transport.queueStats(queue)).consumers, 1);

      await consumer.cancel();

      assert.equal((await transport.queueStats(queue)).consumers, 0);
    });

    it('reports ready messages and consumers of a queue', async (t) => {
      const queue = unique('stats');
      const transport = await started(t, oneQueue(queue, QUORUM));
      for (const body of ['1', '2', '3']) await transport.publish('', queue, text(body));

      const idle = await transport.queueStats(queue);
      assert.equal(idle.queue, queue);
      assert.equal(idle.ready, 3);
      assert.equal(idle.consumers, 0);
      assert.ok(idle.unacked === 0 || idle.unacked === null);

      const received: Delivery[] = [];
      await transport.consume(queue, { prefetch: 1 }, (d) => received.push(d));
      await until(() => received.length >= 1, 'a delivery');
      await until(async () => (await transport.queueStats(queue)).ready === 2, 'two ready');
      const busy = await transport.queueStats(queue);
      assert.equal(busy.consumers, 1);
      assert.ok(busy.unacked === 1 || busy.unacked === null);
    });

    it('rejects a publish to an unknown exchange, and keeps publishing afterwards', async (t) => {
      const queue = unique('after-unknown');
      const transport = await started(t, oneQueue(queue));

      await assert.rejects(transport.publish(unique('missing'), 'key', text('lost')), RetryableError);

      const received: Delivery[] = [];
      await transport.consume(queue, { prefetch: 1 }, (d) => received.push(d));
      await transport.publish('', queue, text('kept'));
      await until(() => received.length >= 1, 'the next message');
      assert.deepEqual(bodies(received), ['kept']);
    });
  });
}
