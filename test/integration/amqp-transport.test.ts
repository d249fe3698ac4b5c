import assert from 'node:assert/strict';
import { after, describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Type } from 'typebox';
import { AmqpTransport, type AmqpTransportOptions } from '../../queues/amqp-transport.ts';
import { RetryableError } from '../../lib/errors.ts';
import { defineOperation } from '../../queues/operation.ts';
import { delayQueue, opQueue, topologyFor, type Topology } from '../../queues/topology.ts';
import type { Delivery } from '../../queues/transport.ts';
import { transportContract } from '../contract/transport-contract.ts';
import { freshVhost, managementUrl, rabbitmqctl } from '../helpers/rabbitmq.ts';

// One vhost for the whole file (rabbitmqctl takes a second per call); every test names its own queues.
let vhost: ReturnType<typeof freshVhost> | undefined;
const testVhost = () => (vhost ??= freshVhost());
after(async () => {
  if (vhost) await (await vhost).cleanup();
});

async function newTransport(options: AmqpTransportOptions = {}): Promise<AmqpTransport> {
  const { url } = await testVhost();
  return new AmqpTransport(url, { reconnectDelayMs: 100, managementUrl: await managementUrl(), ...options });
}

async function startedTransport(t: TestContext, topology: Topology, options: AmqpTransportOptions = {}): Promise<AmqpTransport> {
  const transport = await newTransport(options);
  t.after(() => transport.close());
  await transport.start(topology);
  return transport;
}

async function dropConnections(): Promise<void> {
  const { vhost: name } = await testVhost();
  await rabbitmqctl('close_all_connections', '--vhost', name, 'test: the broker drops the connection');
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const oneQueue = (name: string): Topology => ({ exchanges: [], queues: [{ name, arguments: { 'x-queue-type': 'quorum' } }], bindings: [] });
const bodies = (deliveries: Delivery[]) => deliveries.map((d) => d.content.toString());

transportContract('AmqpTransport', async () => {
  const transport = await newTransport();
  return { transport, cleanup: () => transport.close() };
});

describe('AmqpTransport on RabbitMQ', () => {
  it('reconnects and resumes an existing consumer; deliveries of the dead channel stay unsettled', async (t) => {
    const queue = `amqp.reconnect.${process.pid}`;
    const transport = await startedTransport(t, oneQueue(queue));
    const received: Delivery[] = [];
    await transport.consume(queue, { prefetch: 5 }, (d) => received.push(d));
    await transport.publish('', queue, Buffer.from('before'));
    await until(() => received.length === 1, 'the first message');

    await dropConnections();
    await until(() => !transport.isReady(), 'the transport to notice');
    await until(() => transport.isReady(), 'the transport to reconnect');

    // The unacked message comes back on the new channel; acking the stale delivery must not touch it.
    await until(() => received.length === 2, 'the redelivery');
    received[0].ack();
    await transport.publish('', queue, Buffer.from('after'));
    await until(() => received.length === 3, 'the message published after the reconnect');
    assert.deepEqual(bodies(received), ['before', 'before', 'after']);
    assert.equal(received[1].deliveryCount, 1);

    received[1].ack();
    received[2].ack();
    await sleep(300);
    assert.equal(received.length, 3);
    assert.equal((await transport.queueStats(queue)).ready, 0);
  });

  it('rejects a publish at once while disconnected, and publishes again once reconnected', async (t) => {
    const queue = `amqp.disconnected.${process.pid}`;
    const transport = await startedTransport(t, oneQueue(queue), { reconnectDelayMs: 1_500 });

    await dropConnections();
    await until(() => !transport.isReady(), 'the transport to notice');
    const startedAt = Date.now();
    await assert.rejects(transport.publish('', queue, Buffer.from('nowhere')), RetryableError);
    assert.ok(Date.now() - startedAt < 100, 'rejected without waiting for the publish timeout');

    await until(() => transport.isReady(), 'the transport to reconnect');
    await transport.publish('', queue, Buffer.from('somewhere'));
    assert.equal((await transport.queueStats(queue)).ready, 1);
  });

  it('confirms a burst larger than the socket buffer (waits for drain)', async (t) => {
    const queue = `amqp.burst.${process.pid}`;
    const transport = await startedTransport(t, oneQueue(queue), { publishTimeoutMs: 30_000 });
    const body = Buffer.alloc(64 * 1024, 'x');

    await Promise.all(Array.from({ length: 500 }, () => transport.publish('', queue, body)));

    assert.equal((await transport.queueStats(queue)).ready, 500);
  });

  it('gives unsettled messages back to the queue when the transport closes', async (t) => {
    const queue = `amqp.close.${process.pid}`;
    const first = await newTransport();
    await first.start(oneQueue(queue));
    let delivered = false;
    await first.consume(queue, { prefetch: 1 }, () => (delivered = true));
    await first.publish('', queue, Buffer.from('in flight'));
    await until(() => delivered, 'the delivery');

    await first.close();

    const second = await startedTransport(t, oneQueue(queue));
    assert.deepEqual(await second.queueStats(queue), { queue, ready: 1, unacked: null, consumers: 0 });
  });

  it('declares operation queues as quorum queues with their delivery limit', async (t) => {
    const op = defineOperation({
      name: `amqp.quorum.${process.pid}`,
      summary: 'an operation of the AMQP test',
      payload: Type.Object({}),
      result: Type.Object({}),
      queue: { deliveryLimit: 3 },
    });
    await startedTransport(t, topologyFor([op]));

    const { vhost: name } = await testVhost();
    const { stdout } = await rabbitmqctl('list_queues', '-p', name, 'name', 'type', 'arguments', '--formatter', 'json');
    const queues = JSON.parse(stdout) as { name: string; type: string; arguments: [string, string, unknown][] }[];
    const declared = queues.find((q) => q.name === opQueue(op.name));
    assert.ok(declared, 'the operation queue exists');
    assert.equal(declared.type, 'quorum');
    const args = Object.fromEntries(declared.arguments.map(([key, , value]) => [key, value]));
    assert.equal(args['x-delivery-limit'], 3);
    assert.equal(args['x-dead-letter-exchange'], 'up.dead');
    assert.equal(args['x-dead-letter-strategy'], 'at-least-once');
    const tier = queues.find((q) => q.name === delayQueue(op.retry.tiersMs[0]));
    assert.equal(tier?.type, 'quorum', 'retry tiers are quorum queues: their dead-lettering survives a broker restart');
  });

  it('keeps an operation queue declared by an earlier version (without at-least-once dead-lettering), and says so', async (t) => {
    const op = defineOperation({
      name: `amqp.earlier.${process.pid}`,
      summary: 'an operation of the AMQP test',
      payload: Type.Object({}),
      result: Type.Object({}),
    });
    const queue = topologyFor([op]).queues.find((q) => q.name === opQueue(op.name))!;
    const earlier: Topology = { exchanges: [], queues: [{ name: queue.name, arguments: queue.earlierArguments! }], bindings: [] };
    const old = await startedTransport(t, earlier);
    await old.publish('', queue.name, Buffer.from('left by the earlier version'));

    // Without the earlier arguments to fall back on, the broker refuses the new declaration.
    const strict = await newTransport();
    t.after(() => strict.close());
    await assert.rejects(strict.start({ ...earlier, queues: [{ name: queue.name, arguments: queue.arguments }] }), /PRECONDITION_FAILED/);

    const warnings: string[] = [];
    const logger = { info() {}, error() {}, warn: (_: object, message: string) => warnings.push(message) };
    const current = await startedTransport(t, topologyFor([op]), { logger });
    assert.ok(current.isReady());
    assert.ok(
      warnings.some((w) => /declared by an earlier version/.test(w)),
      JSON.stringify(warnings),
    );
    const received: Delivery[] = [];
    await current.consume(queue.name, { prefetch: 1 }, (d) => received.push(d));
    await until(() => received.length === 1, 'the message left in the earlier queue');
    received[0].ack();
  });
});
