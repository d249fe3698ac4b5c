import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BatchDeadlinePassed, Batcher } from '../../lib/batcher.ts';

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
  assert.deepEqual(writes, [
    [0, 1],
    [2, 3, 4],
  ]);
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
  assert.deepEqual(
    together.map((r) => r.status),
    ['rejected', 'rejected'],
  );

  const forgiving = new Batcher<number, number>(write, { splitOnError: () => true });
  const apart = await Promise.allSettled([forgiving.add(12), forgiving.add(13), forgiving.add(14)]);
  assert.deepEqual(
    apart.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  assert.match(String((apart[1] as PromiseRejectedResult).reason), /13 is refused/);
  await forgiving.idle();
});

test('an item added just as the writer finds nothing more to write is written all the same', async () => {
  // Callers that resume after their write and at once add again (at most 256 in flight).
  const batcher = new Batcher<number, number>(async (items) => (await new Promise((resolve) => setImmediate(resolve)), items));
  const inFlight: Promise<number>[] = [];
  for (let i = 0; i < 300; i++) {
    inFlight.push(batcher.add(i));
    if (inFlight.length === 256) await Promise.all(inFlight.splice(0));
  }
  const last = await Promise.race([Promise.all(inFlight), new Promise((resolve) => setTimeout(resolve, 2_000, 'stranded'))]);
  assert.notEqual(last, 'stranded');
});

test('a caller behind a write that hangs stops waiting at its deadline, and its item is never written', async () => {
  const writes: number[][] = [];
  let release!: () => void;
  const hung = new Promise<void>((resolve) => (release = resolve));
  const batcher = new Batcher<number, number>(async (items) => {
    writes.push(items);
    if (items.includes(1)) await hung;
    return items;
  });
  const started = performance.now();
  const first = batcher.add(1, { deadlineMs: 150 });
  await tick();
  const behind = batcher.add(2, { deadlineMs: 150 });
  const [a, b] = await Promise.allSettled([first, behind]);
  const waited = performance.now() - started;
  assert.ok(waited >= 150 && waited < 600, `answered at the deadline, not when the write ends (${Math.round(waited)} ms)`);
  assert.ok(
    a.status === 'rejected' && a.reason instanceof BatchDeadlinePassed && a.reason.inFlight,
    'the first was in flight: it may still be written',
  );
  assert.ok(b.status === 'rejected' && b.reason instanceof BatchDeadlinePassed && !b.reason.inFlight, 'the second never went out');
  release();
  await batcher.idle();
  assert.deepEqual(writes, [[1]], 'the abandoned waiting item is not written later either');
});

test('a write that ends after its caller stopped waiting is reported to `late`', async () => {
  let release!: () => void;
  const hung = new Promise<void>((resolve) => (release = resolve));
  const batcher = new Batcher<number, string>(async (items) => (await hung, items.map((n) => `#${n}`)));
  const late: string[] = [];
  await assert.rejects(batcher.add(7, { deadlineMs: 20, late: (value) => late.push(value) }), BatchDeadlinePassed);
  assert.deepEqual(late, []);
  release();
  await batcher.idle();
  assert.deepEqual(late, ['#7']);
});

test('answered in time, a deadline changes nothing, and leaves no timer behind', async () => {
  const batcher = new Batcher<number, number>(async (items) => items);
  assert.equal(await batcher.add(3, { deadlineMs: 50, late: () => assert.fail('not late') }), 3);
  await new Promise((resolve) => setTimeout(resolve, 250));
  assert.equal(await batcher.add(4), 4);
  // A deadline timer left running would keep this file from ending.
});
