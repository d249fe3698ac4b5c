/** How the recorder folds result events into jobs, on real PostgreSQL and on PGlite. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jobView } from '../../gateway/views.ts';
import { openDatabase, type Database } from '../../lib/db/connect.ts';
import { applyResultEvents, getJob, insertJob, jobEvents } from '../../gateway/jobs-store.ts';
import { migrateLatest } from '../../lib/db/migrate.ts';
import { newJobId } from '../../lib/ids.ts';
import type { ResultEvent } from '../../queues/result-event.ts';
import { freshDatabase } from '../helpers/postgres.ts';

const ADMIN = { role: 'admin' } as const;

const handler = { host: 'h1', pid: 41 };
const event = (
  jobId: string,
  status: ResultEvent['status'],
  attempt: number,
  at: string,
  extra: Partial<ResultEvent> = {},
): ResultEvent => ({
  v: 1,
  jobId,
  op: 'system.ping',
  status,
  attempt,
  at,
  handler,
  ...extra,
});

for (const kind of ['postgres', 'pglite'] as const) {
  describe(`recording results (${kind})`, () => {
    let database: Awaited<ReturnType<typeof freshDatabase>> | null = null;
    let db: Database;
    before(async () => {
      database = kind === 'postgres' ? await freshDatabase() : null;
      db = openDatabase({ url: database?.url ?? null, inMemory: true });
      await migrateLatest(db.knex);
    });
    after(async () => {
      await db?.close();
      await database?.cleanup();
    });

    async function newJob() {
      const id = newJobId();
      await insertJob(db.knex, {
        id,
        op: 'system.ping',
        payload_version: 1,
        tenant: null,
        actor: 'test',
        payload: {},
        max_attempts: 4,
        correlation_id: id,
      });
      return id;
    }
    const statuses = async (id: string) =>
      jobView((await getJob(db.knex, id))!, ADMIN, await jobEvents(db.knex, id)).events!.map((e) => `${e.attempt}:${e.status}`);
    /** attempt.delivery:status, as GET /v1/jobs/:id shows them. */
    const runs = async (id: string) =>
      jobView((await getJob(db.knex, id))!, ADMIN, await jobEvents(db.knex, id)).events!.map(
        (e) => `${e.attempt}.${e.delivery}:${e.status}`,
      );

    it('keeps a first-time success on the row only, and shows it as the last event', async () => {
      const id = await newJob();
      await applyResultEvents(db.knex, [event(id, 'succeeded', 1, '2026-01-01T00:00:01.000Z', { result: { ok: 1 }, durationMs: 12.4 })]);
      const job = (await getJob(db.knex, id))!;
      assert.equal(job.status, 'succeeded');
      assert.deepEqual(job.result, { ok: 1 });
      assert.equal(job.finished_at?.toISOString(), '2026-01-01T00:00:01.000Z');
      assert.deepEqual(await jobEvents(db.knex, id), [], 'no job_events row for the final transition');
      const [final] = jobView(job, ADMIN, []).events!;
      assert.deepEqual(final, {
        attempt: 1,
        delivery: 1,
        status: 'succeeded',
        at: '2026-01-01T00:00:01.000Z',
        handler,
        target: null,
        durationMs: 12,
        message: null,
      });
    });

    it('folds duplicates and reordering: final wins, a later attempt wins, nothing is repeated', async () => {
      const id = await newJob();
      const running = event(id, 'running', 2, '2026-01-01T00:00:02.000Z');
      const retrying = event(id, 'retrying', 1, '2026-01-01T00:00:01.000Z', { error: { kind: 'retryable', message: 'busy' } });
      const done = event(id, 'succeeded', 2, '2026-01-01T00:00:03.000Z');
      // The outcome first, then the steps before it, then everything again.
      await applyResultEvents(db.knex, [done]);
      await applyResultEvents(db.knex, [running, retrying]);
      await applyResultEvents(db.knex, [retrying, running, done, done]);
      const job = (await getJob(db.knex, id))!;
      assert.equal(job.status, 'succeeded');
      assert.equal(job.attempt, 2);
      assert.deepEqual(await statuses(id), ['1:retrying', '2:running', '2:succeeded']);
    });

    it('keeps a different final outcome of another attempt as an event (a job never succeeds twice unnoticed)', async () => {
      const id = await newJob();
      await applyResultEvents(db.knex, [event(id, 'succeeded', 1, '2026-01-01T00:00:01.000Z')]);
      await applyResultEvents(db.knex, [event(id, 'succeeded', 2, '2026-01-01T00:00:02.000Z')]);
      assert.equal((await getJob(db.knex, id))!.attempt, 1, 'a final status is never left');
      assert.deepEqual(await statuses(id), ['1:succeeded', '2:succeeded']);
    });

    it('a batch of outcomes mixing new ones with a repeat: the new ones land, the repeat adds nothing', async () => {
      const [fresh, done] = [await newJob(), await newJob()];
      await applyResultEvents(db.knex, [event(done, 'succeeded', 1, '2026-01-01T00:00:01.000Z')]);
      await applyResultEvents(db.knex, [
        event(fresh, 'failed', 1, '2026-01-01T00:00:02.000Z', { error: { kind: 'permanent', message: 'no' } }),
        event(done, 'succeeded', 1, '2026-01-01T00:00:01.000Z'),
      ]);
      assert.equal((await getJob(db.knex, fresh))!.status, 'failed');
      assert.deepEqual(await statuses(fresh), ['1:failed']);
      assert.deepEqual(await statuses(done), ['1:succeeded']);
      assert.equal((await getJob(db.knex, done))!.finished_at?.toISOString(), '2026-01-01T00:00:01.000Z', 'the first report stands');
    });

    it('a second run of the same attempt (its message handed out again) is a run of its own in the history', async () => {
      const id = await newJob();
      // The first run finished; the handler died before its ack, and the broker handed the message out again.
      await applyResultEvents(db.knex, [event(id, 'succeeded', 1, '2026-01-01T00:00:01.000Z')]);
      await applyResultEvents(db.knex, [event(id, 'running', 1, '2026-01-01T00:00:02.000Z', { delivery: 2 })]);
      await applyResultEvents(db.knex, [event(id, 'succeeded', 1, '2026-01-01T00:00:03.000Z', { delivery: 2 })]);
      // The recorder saw the same reports again (its own redelivery): nothing more.
      await applyResultEvents(db.knex, [
        event(id, 'succeeded', 1, '2026-01-01T00:00:01.000Z'),
        event(id, 'succeeded', 1, '2026-01-01T00:00:03.000Z', { delivery: 2 }),
      ]);
      assert.deepEqual(await runs(id), ['1.1:succeeded', '1.2:running', '1.2:succeeded']);
      assert.equal((await getJob(db.knex, id))!.finished_at?.toISOString(), '2026-01-01T00:00:01.000Z', 'the first outcome stands');
    });

    it('an outcome of a redelivered run shows its delivery, also when it is the first outcome', async () => {
      const [quick, slow] = [await newJob(), await newJob()];
      // quick: its first run died before reporting anything; slow: its first run had reported running.
      await applyResultEvents(db.knex, [event(slow, 'running', 1, '2026-01-01T00:00:01.000Z')]);
      await applyResultEvents(db.knex, [
        event(quick, 'succeeded', 1, '2026-01-01T00:00:02.000Z', { delivery: 2 }),
        event(slow, 'succeeded', 1, '2026-01-01T00:00:03.000Z', { delivery: 3 }),
      ]);
      assert.equal((await getJob(db.knex, quick))!.status, 'succeeded');
      assert.deepEqual(await runs(quick), ['1.2:succeeded']);
      assert.deepEqual(await runs(slow), ['1.1:running', '1.3:succeeded']);
      // The fast path is untouched by first runs in the same batch.
      const [a, b] = [await newJob(), await newJob()];
      await applyResultEvents(db.knex, [
        event(a, 'succeeded', 1, '2026-01-01T00:00:04.000Z'),
        event(b, 'succeeded', 1, '2026-01-01T00:00:05.000Z', { delivery: 2 }),
      ]);
      assert.deepEqual(await jobEvents(db.knex, a), []);
      assert.deepEqual(await runs(a), ['1.1:succeeded']);
      assert.deepEqual(await runs(b), ['1.2:succeeded']);
    });

    it('a retrying job notes when its next attempt is due; the next attempt clears it', async () => {
      const id = await newJob();
      const before = Date.now();
      await applyResultEvents(db.knex, [
        event(id, 'retrying', 1, new Date().toISOString(), { retryInMs: 5_000, error: { kind: 'retryable', message: 'busy' } }),
      ]);
      const due = (await getJob(db.knex, id))!.next_attempt_at!;
      assert.ok(due.getTime() >= before + 4_000 && due.getTime() <= Date.now() + 6_000, String(due));
      await applyResultEvents(db.knex, [event(id, 'running', 2, new Date().toISOString())]);
      assert.equal((await getJob(db.knex, id))!.next_attempt_at, null);
    });

    it('records a batch of many jobs in one statement and skips events of unknown jobs', async () => {
      const ids = await Promise.all(Array.from({ length: 300 }, newJob));
      const stranger = newJobId();
      await applyResultEvents(db.knex, [
        ...ids.map((id) => event(id, 'running', 1, '2026-01-01T00:00:01.000Z')),
        ...ids.map((id) => event(id, 'failed', 1, '2026-01-01T00:00:02.000Z', { error: { kind: 'permanent', message: `no ${id}` } })),
        event(stranger, 'succeeded', 1, '2026-01-01T00:00:02.000Z'),
      ]);
      const rows = await db.knex('jobs').whereIn('id', ids).select('status', 'error');
      assert.ok(rows.every((r) => r.status === 'failed' && r.error.message.startsWith('no ')));
      assert.deepEqual(await statuses(ids[7]), ['1:running', '1:failed']);
      assert.equal(jobView((await getJob(db.knex, ids[7]))!, ADMIN, []).events![0].message, `no ${ids[7]}`);
      assert.equal(await getJob(db.knex, stranger), undefined);
    });
  });
}
