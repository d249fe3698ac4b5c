import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Batcher } from '../../lib/batcher.ts';

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

test('items of one tick share the first write; items arriving meanwhile share the next, answered in order', async () => {
  const writes: number[][] = [];
  const batcher = new Batcher<number, string>(async (items) => {
    writes.push(items);
    await tick();
    return items.map((n) => `#${n}`);
  });
  const first = [0, 1].map((n) => batcher.add(n));
  await Promise.resolve();
  await Promise.resolve();
  const rest = [2, 3, 4].map((n) => batcher.add(n));
  assert.deepEqual(await Promise.all([...first, ...rest]), ['#0', '#1', '#2', '#3', '#4']);
  assert.deepEqual(writes, [[0, 1], [2, 3, 4]]);
});

test('batches are capped at maxBatch', async () => {
  const sizes: number[] = [];
  const batcher = new Batcher<number, number>(async (items) => (sizes.push(items.length), await tick(), items), { maxBatch: 3 });
  await Promise.all(Array.from({ length: 10 }, (_, i) => batcher.add(i)));
  assert.deepEqual(sizes, [3, 3, 3, 1]);
});

test('maxInFlight writes go at once, and no more', async () => {
  let inFlight = 0;
  let most = 0;
  const batcher = new Batcher<number, number>(
    async (items) => {
      most = Math.max(most, ++inFlight);
      await tick();
      inFlight--;
      return items;
    },
    { maxBatch: 1, maxInFlight: 3 },
  );
  await Promise.all(Array.from({ length: 10 }, (_, i) => batcher.add(i)));
  assert.equal(most, 3);
  await batcher.idle();
});

test('a failed write fails its batch, or with splitOnError only the item that cannot be written', async () => {
  const write = async (items: number[]) => {
    await tick();
    if (items.includes(13)) throw new Error('13 is refused');
    return items;
  };
  const strict = new Batcher<number, number>(write);
  const together = await Promise.allSettled([strict.add(12), strict.add(13)]);
  assert.deepEqual(together.map((r) => r.status), ['rejected', 'rejected']);

  const forgiving = new Batcher<number, number>(write, { splitOnError: () => true });
  const apart = await Promise.allSettled([forgiving.add(12), forgiving.add(13), forgiving.add(14)]);
  assert.deepEqual(apart.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  assert.match(String((apart[1] as PromiseRejectedResult).reason), /13 is refused/);
  await forgiving.idle();
});
