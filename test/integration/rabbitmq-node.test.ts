import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import amqp from 'amqplib';
import { eventually } from '../helpers/eventually.ts';
import { rabbitmqctl } from '../helpers/rabbitmq.ts';
import { startRabbitNode, type RabbitNode } from '../helpers/rabbitmq-node.ts';

/** The private node the fault-injection tests stop and kill: it is theirs alone, and it keeps what it confirmed. */
describe('a private RabbitMQ node', () => {
  let node: RabbitNode;
  before(async () => {
    node = await startRabbitNode();
  });
  after(() => node?.cleanup());

  async function publishConfirmed(queue: string, body: string) {
    const connection = await amqp.connect(node.url);
    try {
      const channel = await connection.createConfirmChannel();
      await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
      channel.sendToQueue(queue, Buffer.from(body), { persistent: true });
      await channel.waitForConfirms();
    } finally {
      await connection.close();
    }
  }

  async function ready(queue: string) {
    const connection = await amqp.connect(node.url);
    try {
      return (await (await connection.createChannel()).checkQueue(queue)).messageCount;
    } finally {
      await connection.close();
    }
  }

  it('is a node of its own: the shared broker does not know it, and stopping it leaves the shared one running', async () => {
    assert.match(node.node, /^up-test-[0-9a-f]{8}@localhost$/);
    assert.doesNotMatch(node.url, /:5672$/);
    const shared = await rabbitmqctl('status');
    assert.doesNotMatch(shared.stdout, new RegExp(node.node));
    await node.stop();
    await assert.rejects(amqp.connect(node.url), /ECONNREFUSED/);
    await rabbitmqctl('status'); // still answers
    await node.start();
  });

  it('keeps confirmed messages of a quorum queue through a graceful stop and a kill -9', async () => {
    await publishConfirmed('kept', 'one');
    await node.stop();
    await node.start();
    await eventually('the message back', async () => (await ready('kept')) === 1, { timeoutMs: 10_000 });
    await publishConfirmed('kept', 'two');
    await node.kill();
    await assert.rejects(amqp.connect(node.url), /ECONNREFUSED/);
    await node.start();
    // Right after a start the queue may answer from before it replayed its log: ask until it has.
    await eventually('both messages back', async () => (await ready('kept')) === 2, { timeoutMs: 10_000 });
    assert.match(await node.ctl('list_queues', 'name', 'type'), /kept\s+quorum/);
    console.log(`private RabbitMQ node: start until AMQP accepted, ms: ${node.startTimes.join(', ')}`);
  });
});
