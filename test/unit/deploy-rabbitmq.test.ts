import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { operations } from '../../queues/catalogue.ts';
import { DEAD_EXCHANGE, opQueue, topologyFor } from '../../queues/topology.ts';

/**
 * deploy/rabbitmq/definitions.json against the topology the code declares (read from
 * topologyFor at run time, so a change of queue arguments is checked, not a copy of them).
 * RabbitMQ gives a queue the highest-priority policy whose pattern matches its name; a key
 * the queue's own arguments leave out comes from that policy. So a policy must not add what
 * the topology leaves out on purpose: a dead-letter exchange on health checks, which expire.
 */
interface Policy {
  name: string;
  pattern: string;
  priority: number;
  'apply-to': string;
  definition: Record<string, unknown>;
}

const definitions = JSON.parse(readFileSync(new URL('../../deploy/rabbitmq/definitions.json', import.meta.url), 'utf8')) as {
  vhosts: { name: string }[];
  permissions: { configure: string; write: string; read: string }[];
  policies: Policy[];
};

/** What each policy would change on a queue of the topology, as "queue: key policy≠argument". */
function disagreements(policies: Policy[]): string[] {
  const found: string[] = [];
  for (const queue of topologyFor(operations).queues) {
    const matching = policies.filter((p) => p['apply-to'] !== 'exchanges' && new RegExp(p.pattern).test(queue.name));
    if (matching.length === 0) continue;
    const top = Math.max(...matching.map((p) => p.priority));
    const applied = matching.filter((p) => p.priority === top);
    if (applied.length > 1) found.push(`${queue.name}: ${applied.map((p) => p.name).join(' and ')} tie`);
    for (const [key, value] of Object.entries(applied[0].definition)) {
      const argument = queue.arguments[`x-${key}`];
      if (JSON.stringify(argument) !== JSON.stringify(value))
        found.push(`${queue.name}: ${key} ${JSON.stringify(value)} from ${applied[0].name}, the topology says ${JSON.stringify(argument)}`);
    }
  }
  return found;
}

test('no policy gives a queue a setting its topology does not declare, or another value', () => {
  assert.deepEqual(disagreements(definitions.policies), []);
});

test('health-check queues get no dead-letter exchange; every other operation queue keeps up.dead and its delivery limit', () => {
  const topology = topologyFor(operations);
  for (const op of operations) {
    const queue = topology.queues.find((q) => q.name === opQueue(op.name))!;
    const policy = definitions.policies.find((p) => new RegExp(p.pattern).test(queue.name));
    assert.ok(policy, `${queue.name} has a policy`);
    assert.equal(policy.definition['delivery-limit'], op.queue.deliveryLimit, queue.name);
    assert.equal(policy.definition['dead-letter-exchange'], op.queue.deadLetter ? DEAD_EXCHANGE : undefined, queue.name);
  }
  assert.ok(
    operations.some((op) => !op.queue.deadLetter),
    'the catalogue has queues without dead-lettering',
  );
});

test('the policy shipped before fails this check (the reproduction from the review)', () => {
  const old: Policy = {
    name: 'up-ops-quorum',
    pattern: '^up\\.op\\.[^.]+(\\.[^.]+)*$',
    'apply-to': 'queues',
    priority: 0,
    definition: { 'delivery-limit': 5, 'dead-letter-exchange': 'up.dead' },
  };
  const found = disagreements([old]);
  assert.ok(
    found.some((d) => d.startsWith('up.op.health.check.host: dead-letter-exchange "up.dead"')),
    found.join('\n'),
  );
});

test('the user may configure, write and read up.* only (and publish retries through the default exchange)', () => {
  const [permission] = definitions.permissions;
  for (const name of topologyFor(operations).queues.map((q) => q.name)) {
    assert.match(name, new RegExp(permission.configure));
    assert.match(name, new RegExp(permission.read));
  }
  assert.match('', new RegExp(permission.write), 'the default exchange');
  assert.doesNotMatch('amq.rabbitmq.trace', new RegExp(permission.configure));
  assert.deepEqual(definitions.vhosts, [{ name: 'up' }]);
});
