import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reconnectDelay } from '../../queues/amqp-transport.ts';

test('reconnect delays double from the first, never exceed 5 s, and are spread over the upper half of each step', () => {
  for (let failures = 0; failures < 40; failures++) {
    const ceiling = Math.min(1_000 * 2 ** failures, 5_000);
    const delays = Array.from({ length: 200 }, () => reconnectDelay(1_000, failures));
    assert.ok(
      delays.every((d) => d >= ceiling / 2 && d <= ceiling),
      `after ${failures} failures: ${Math.min(...delays)}–${Math.max(...delays)}`,
    );
    assert.ok(new Set(delays).size > 10, 'roles that lost the broker together do not retry in step');
  }
});
