import assert from 'node:assert/strict';
import { it } from 'node:test';
import { MemoryTransport } from '../../queues/memory-transport.ts';
import type { Delivery } from '../../queues/transport.ts';
import { transportContract } from '../contract/transport-contract.ts';

transportContract('MemoryTransport', async () => {
  const transport = new MemoryTransport();
  return { transport, cleanup: () => transport.close() };
});

it('MemoryTransport gives unsettled messages back when it closes, like a crashed consumer', async () => {
  const transport = new MemoryTransport();
  await transport.start({ exchanges: [], queues: [{ name: 'work', arguments: {} }], bindings: [] });
  let delivered: Delivery | undefined;
  await transport.consume('work', { prefetch: 1 }, (d) => (delivered = d));
  await transport.publish('', 'work', Buffer.from('in flight'));
  while (!delivered) await new Promise((resolve) => setTimeout(resolve, 5));

  await transport.close();

  assert.deepEqual(await transport.queueStats('work'), { queue: 'work', ready: 1, unacked: 0, consumers: 0 });
});
