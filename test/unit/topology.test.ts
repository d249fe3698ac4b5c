import assert from 'node:assert/strict';
import { test } from 'node:test';
import { operations, selectOperations } from '../../queues/catalogue.ts';
import { systemPing } from '../../queues/system/ops.ts';
import { healthCheckHost } from '../../queues/hosts/health.ts';
import { retryDelay, topologyFor } from '../../queues/topology.ts';

test('every operation gets a quorum queue with a delivery limit, dead-lettered to up.dead at least once', () => {
  const topology = topologyFor(operations);
  for (const op of operations) {
    const queue = topology.queues.find((q) => q.name === `up.op.${op.name}`);
    assert.ok(queue, op.name);
    assert.equal(queue.arguments['x-queue-type'], 'quorum');
    assert.equal(queue.arguments['x-delivery-limit'], op.queue.deliveryLimit);
    assert.ok(topology.bindings.some((b) => b.exchange === 'up.ops' && b.queue === queue.name && b.routingKey === op.name));
    if (op.queue.deadLetter) {
      assert.equal(queue.arguments['x-dead-letter-exchange'], 'up.dead');
      assert.equal(queue.arguments['x-dead-letter-strategy'], 'at-least-once', op.name);
      assert.equal(queue.arguments['x-overflow'], 'reject-publish', 'RabbitMQ dead-letters at least once only with reject-publish');
      // A queue declared by an earlier version keeps working: the same arguments without the strategy.
      const { 'x-dead-letter-strategy': _, 'x-overflow': __, ...earlier } = queue.arguments;
      assert.deepEqual(queue.earlierArguments, earlier);
    } else {
      assert.equal(queue.earlierArguments, undefined);
    }
  }
});

test('retry tiers are quorum TTL queues, one per delay, that expire back onto the operation queue at least once', () => {
  const topology = topologyFor(operations);
  const delays = new Set(operations.flatMap((op) => op.retry.tiersMs));
  assert.equal(topology.queues.filter((q) => q.name.startsWith('up.delay.')).length, delays.size, 'one parking queue per distinct delay');
  for (const delay of systemPing.retry.tiersMs) {
    const tier = topology.queues.find((q) => q.name === `up.delay.${delay}`);
    // No dead-letter routing key: an expired attempt keeps the op it was published with.
    assert.deepEqual(tier?.arguments, {
      'x-queue-type': 'quorum',
      'x-message-ttl': delay,
      'x-dead-letter-exchange': 'up.ops',
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
    });
    assert.deepEqual(
      topology.exchanges.find((e) => e.name === `up.delay.${delay}`),
      { name: `up.delay.${delay}`, type: 'fanout' },
    );
    assert.ok(topology.bindings.some((b) => b.exchange === `up.delay.${delay}` && b.queue === `up.delay.${delay}`));
    // The per-op tiers of earlier versions are no longer declared (they drain on their own).
    assert.ok(!topology.queues.some((q) => q.name.startsWith('up.op.system.ping.retry.') || q.name.startsWith('up.op.system.ping.delay.')));
  }
  assert.equal(retryDelay(systemPing, 2), systemPing.retry.tiersMs[0]);
  assert.equal(retryDelay(systemPing, 99), systemPing.retry.tiersMs.at(-1), 'the last tier repeats');
});

test('health checks expire instead of being dead-lettered', () => {
  const queue = topologyFor([healthCheckHost]).queues.find((q) => q.name === 'up.op.health.check.host')!;
  assert.equal(queue.arguments['x-message-ttl'], 60_000);
  assert.equal(queue.arguments['x-dead-letter-exchange'], undefined);
});

test('handler selection by name and glob; an unknown name is an error naming what exists', () => {
  assert.deepEqual(
    selectOperations(['system.*']).map((o) => o.name),
    ['system.ping'],
  );
  assert.equal(selectOperations(['*']).length, operations.length);
  assert.throws(() => selectOperations(['nope.*']), /no operation matches "nope\.\*" \(known: .*system\.ping/);
  assert.throws(() => selectOperations(['system.p(ng']), /no operation matches/);
});
