import assert from 'node:assert/strict';
import { test } from 'node:test';
import { operations, selectOperations } from '../../queues/catalogue.ts';
import { systemPing } from '../../queues/ops/system-ping.ts';
import { healthCheckHost } from '../../queues/ops/health.ts';
import { retryDelay, topologyFor } from '../../queues/topology.ts';

test('every operation gets a quorum queue with a delivery limit, dead-lettered to up.dead', () => {
  const topology = topologyFor(operations);
  for (const op of operations) {
    const queue = topology.queues.find((q) => q.name === `up.op.${op.name}`);
    assert.ok(queue, op.name);
    assert.equal(queue.arguments['x-queue-type'], 'quorum');
    assert.equal(queue.arguments['x-delivery-limit'], op.queue.deliveryLimit);
    assert.ok(topology.bindings.some((b) => b.exchange === 'up.ops' && b.queue === queue.name && b.routingKey === op.name));
  }
});

test('retry tiers are TTL queues that expire back onto their operation queue', () => {
  const topology = topologyFor([systemPing]);
  for (const delay of systemPing.retry.tiersMs) {
    const tier = topology.queues.find((q) => q.name === `up.op.system.ping.retry.${delay}`);
    assert.deepEqual(tier?.arguments, { 'x-queue-type': 'classic', 'x-message-ttl': delay, 'x-dead-letter-exchange': 'up.ops', 'x-dead-letter-routing-key': 'system.ping' });
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
  assert.deepEqual(selectOperations(['system.*']).map((o) => o.name), ['system.ping']);
  assert.equal(selectOperations(['*']).length, operations.length);
  assert.throws(() => selectOperations(['nope.*']), /no operation matches "nope\.\*" \(known: .*system\.ping/);
  assert.throws(() => selectOperations(['system.p(ng']), /no operation matches/);
});
