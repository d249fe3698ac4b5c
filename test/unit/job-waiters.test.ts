import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Knex } from 'knex';
import { JobWaiters, LONG_POLLS_PER_USER } from '../../gateway/job-waiters.ts';
import { notifyJobsFinished } from '../../lib/db/job-finished.ts';

/** What the waiters see of the embedded database: a handle whose recorder tells them in process. */
const embedded = () => ({ client: { config: { client: 'pglite' } } }) as unknown as Knex;
const log = { warn: () => undefined };

test('a watch hears of its job, even when the word comes before it waits, and only of its job', async () => {
  const db = embedded();
  const waiters = new JobWaiters(db, log);
  const watch = waiters.watch('a');
  await notifyJobsFinished(db, ['a']);
  const started = Date.now();
  await watch.next(5_000);
  assert.ok(Date.now() - started < 100, 'the word given before next() is not lost');

  const other = waiters.watch('b');
  setTimeout(() => void notifyJobsFinished(db, ['a']), 10);
  const t = Date.now();
  await other.next(200);
  assert.ok(Date.now() - t >= 190, "another job's word does not wake it");
  setTimeout(() => void notifyJobsFinished(db, ['x', 'b']), 10);
  const t2 = Date.now();
  await other.next(5_000);
  assert.ok(Date.now() - t2 < 1_000);
  watch.close();
  other.close();
  assert.equal(waiters.size, 0);
  await waiters.close();
});

test('next() ends when the client leaves (its signal aborts)', async () => {
  const waiters = new JobWaiters(embedded(), log);
  const watch = waiters.watch('a');
  const leaving = new AbortController();
  setTimeout(() => leaving.abort(), 20);
  const t = Date.now();
  await watch.next(5_000, leaving.signal);
  assert.ok(Date.now() - t < 1_000);
  watch.close();
  await waiters.close();
});

test(`a user holds at most ${LONG_POLLS_PER_USER} long polls; closing one frees its place; null holders are not counted`, async () => {
  const waiters = new JobWaiters(embedded(), log);
  const held = Array.from({ length: LONG_POLLS_PER_USER }, (_, i) => {
    const w = waiters.watch(`job${i}`);
    w.hold('carol');
    return w;
  });
  const extra = waiters.watch('one more');
  assert.throws(
    () => extra.hold('carol'),
    (e: { statusCode?: number; message: string }) => e.statusCode === 429 && /at most 32/.test(e.message),
  );
  assert.doesNotThrow(() => waiters.watch('x').hold('dave'));
  assert.doesNotThrow(() => waiters.watch('y').hold(null));
  held[0].close();
  held[0].close(); // twice: still one place
  assert.doesNotThrow(() => extra.hold('carol'));
  assert.throws(() => waiters.watch('z').hold('carol'), { statusCode: 429 } as never);
  await waiters.close();
});
