import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import amqp from 'amqplib';
import { AmqpTransport } from '../../queues/amqp-transport.ts';
import { Bus } from '../../queues/bus.ts';
import { operations } from '../../queues/catalogue.ts';
import { DEAD_QUEUE, opQueue } from '../../queues/topology.ts';
import { freshVhost, rabbitmqctl } from '../helpers/rabbitmq.ts';

interface Policy {
  name: string;
  pattern: string;
  priority: number;
  'apply-to': string;
  definition: Record<string, unknown>;
}

const shipped = (
  JSON.parse(readFileSync(new URL('../../deploy/rabbitmq/definitions.json', import.meta.url), 'utf8')) as { policies: Policy[] }
).policies;
const before: Policy[] = [
  {
    name: 'up-ops-quorum',
    pattern: '^up\\.op\\.[^.]+(\\.[^.]+)*$',
    'apply-to': 'queues',
    priority: 0,
    definition: { 'delivery-limit': 5, 'dead-letter-exchange': 'up.dead' },
  },
];

/**
 * The review's reproduction on the real broker: the policies applied to a vhost, the topology
 * declared by up, then a health check that expires unconsumed. It must simply vanish; with the
 * policy shipped before, it was dead-lettered (a dead letter per check per interval).
 */
async function expiredCheckIsDeadLettered(policies: Policy[]): Promise<{ deadLetters: number; policy: string }> {
  const vhost = await freshVhost();
  const bus = new Bus(new AmqpTransport(vhost.url), operations);
  try {
    for (const p of policies) {
      await rabbitmqctl(
        'set_policy',
        '-p',
        vhost.vhost,
        '--priority',
        String(p.priority),
        '--apply-to',
        p['apply-to'],
        p.name,
        p.pattern,
        JSON.stringify(p.definition),
      );
    }
    await bus.start();
    const connection = await amqp.connect(vhost.url);
    try {
      const channel = await connection.createConfirmChannel();
      channel.sendToQueue(opQueue('health.check.host'), Buffer.from('{}'), { expiration: '1', persistent: true });
      await channel.waitForConfirms();
      // Expired messages are dropped (or dead-lettered) when they reach the head of the queue.
      let deadLetters = 0;
      for (let i = 0; i < 30 && deadLetters === 0; i++) {
        await sleep(100);
        deadLetters = (await channel.checkQueue(DEAD_QUEUE)).messageCount;
      }
      assert.equal((await channel.checkQueue(opQueue('health.check.host'))).messageCount, 0, 'the check expired');
      const { stdout } = await rabbitmqctl('list_queues', '-p', vhost.vhost, 'name', 'policy', '--formatter', 'json');
      const queue = (JSON.parse(stdout) as { name: string; policy: string }[]).find((q) => q.name === opQueue('health.check.host'))!;
      return { deadLetters, policy: queue.policy };
    } finally {
      await connection.close();
    }
  } finally {
    await bus.close();
    await vhost.cleanup();
  }
}

test('with the shipped policies an expired health check vanishes; the policy shipped before dead-lettered it', async () => {
  const now = await expiredCheckIsDeadLettered(shipped);
  assert.equal(now.deadLetters, 0, 'no dead letter for an expired check');
  const applied = shipped.find((p) => p.name === now.policy);
  assert.ok(applied, `a shipped policy applies to the check queue (${now.policy})`);
  assert.equal(applied.definition['dead-letter-exchange'], undefined);

  const then = await expiredCheckIsDeadLettered(before);
  assert.equal(then.policy, 'up-ops-quorum');
  assert.equal(then.deadLetters, 1, 'the old policy gave health checks a dead-letter exchange');
});
