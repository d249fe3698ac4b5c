/**
 * The outbox reconciler and the watchdog of overdue jobs, on PostgreSQL (and PGlite, the embedded
 * default) and the in-process bus:
 * what they send again, what they leave alone, what they give up, and the alarm they raise.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import pino from 'pino';
import { Outbox } from '../../gateway/outbox.ts';
import { openDatabase, type Database } from '../../lib/db/connect.ts';
import { getJob, insertJobs, type NewJob } from '../../gateway/jobs-store.ts';
import { migrateLatest } from '../../lib/db/migrate.ts';
import { newJobId } from '../../lib/ids.ts';
import { Bus, RESENT_HEADER } from '../../queues/bus.ts';
import type { Envelope } from '../../queues/envelope.ts';
import { MemoryTransport } from '../../queues/memory-transport.ts';
import { systemPing } from '../../queues/system/ops.ts';
import { RECORDER_QUEUE, opQueue } from '../../queues/topology.ts';
import type { Delivery } from '../../queues/transport.ts';
import { MAX_RESENDS, STUCK_JOBS, overdueRules, recordStuckJobs, watchOverdueJobs } from '../../schedulers/watchdog.ts';
import { freshDatabase } from '../helpers/postgres.ts';

const log = pino({ level: 'silent' });
const GRACE_MS = 1_000;
const STUCK_MS = overdueRules([systemPing])[0].stuckMs;

for (const kind of ['postgres', 'pglite'] as const)
  describe(`the outbox reconciler and the watchdog (${kind}, in-process bus)`, () => {
    let database: Awaited<ReturnType<typeof freshDatabase>> | null = null;
    let db: Database;
    let bus: Bus;
    let sent: Delivery[];
    /** Holds what reaches the recorder's queue, as a recorder that is up would. */
    let recorderHeld: Delivery[];

    before(async () => {
      database = kind === 'postgres' ? await freshDatabase() : null;
      db = openDatabase({ url: database?.url ?? null, inMemory: true });
      await migrateLatest(db.knex);
    });
    after(async () => {
      await db?.close();
      await database?.cleanup();
    });
    beforeEach(async () => {
      for (const table of ['alarm_notifications', 'alarms', 'health_history', 'health', 'job_events', 'jobs'])
        await db.knex(table).delete();
      await bus?.close();
      bus = new Bus(new MemoryTransport(), [systemPing]);
      await bus.start();
      sent = [];
      recorderHeld = [];
      await bus.consumeResults(10, (d) => recorderHeld.push(d));
    });

    /** Starts taking what is sent to the ping queue (a handler). */
    const consumeOps = () => bus.consumeOp(systemPing.name, 10_000, (d) => sent.push(d));
    const envelopes = () => sent.map((d) => ({ ...(JSON.parse(d.content.toString()) as Envelope), resent: d.headers[RESENT_HEADER] }));
    const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

    async function jobs(count: number, fields: Record<string, unknown> = {}): Promise<string[]> {
      const rows: NewJob[] = Array.from({ length: count }, () => {
        const id = newJobId();
        return {
          id,
          op: systemPing.name,
          payload_version: 1,
          tenant: null,
          actor: 'test',
          payload: {},
          max_attempts: 4,
          correlation_id: id,
        };
      });
      await insertJobs(db.knex, rows);
      const ids = rows.map((r) => r.id);
      if (Object.keys(fields).length > 0) await db.knex('jobs').whereIn('id', ids).update(fields);
      return ids;
    }
    const ago = (ms: number) => db.knex.raw(`now() - ? * interval '1 millisecond'`, [ms]);

    it('republishes an outbox backlog larger than one batch in one round, and marks it queued', async () => {
      await consumeOps();
      const ids = await jobs(1_234, { created_at: ago(60_000) });
      const outbox = new Outbox(db.knex, bus, log);
      assert.equal(await outbox.reconcile(2_000, 500), 1_234);
      await settle();
      assert.equal(new Set(envelopes().map((e) => e.id)).size, 1_234);
      const { count } = (await db.knex('jobs').whereIn('id', ids).andWhere('status', 'queued').count({ count: '*' }).first()) as {
        count: string;
      };
      assert.equal(Number(count), 1_234);
      assert.equal(await outbox.reconcile(2_000, 500), 0, 'nothing is left');
    });

    it('sends the next attempt of a retrying job whose parked message never came back, once per look', async () => {
      await consumeOps();
      const [late] = await jobs(1, { status: 'retrying', attempt: 2, next_attempt_at: ago(5_000) });
      const [waiting] = await jobs(1, { status: 'retrying', attempt: 2, next_attempt_at: ago(-5_000) });
      const [graced] = await jobs(1, { status: 'retrying', attempt: 2, next_attempt_at: ago(GRACE_MS / 2) });
      const report = await watchOverdueJobs({ db: db.knex, bus, log, graceMs: GRACE_MS });
      await settle();
      assert.deepEqual(report, { overdue: 1, resent: 1, gaveUp: 0, waiting: 0 });
      assert.deepEqual(
        envelopes().map((e) => [e.id, e.attempt, e.resent]),
        [[late, 3, 1]],
      );
      const row = (await getJob(db.knex, late))!;
      assert.equal(row.status, 'retrying');
      assert.equal(row.resent, 1);
      assert.ok(
        row.next_attempt_at!.getTime() > Date.now() + STUCK_MS - 60_000,
        'looked at again only once its next run could have timed out',
      );
      for (const id of [waiting, graced]) assert.equal((await getJob(db.knex, id))!.resent, 0);
      assert.equal((await watchOverdueJobs({ db: db.knex, bus, log, graceMs: GRACE_MS })).resent, 0, 'not sent again at the next round');
    });

    it('sends the current attempt of a queued or running job that outlived every run the broker allows', async () => {
      await consumeOps();
      const [queued] = await jobs(1, { status: 'queued', updated_at: ago(STUCK_MS + 2 * GRACE_MS) });
      const [running] = await jobs(1, { status: 'running', attempt: 2, updated_at: ago(STUCK_MS + 2 * GRACE_MS) });
      const [recent] = await jobs(1, { status: 'running', attempt: 1, updated_at: ago(STUCK_MS - 60_000) });
      assert.equal((await watchOverdueJobs({ db: db.knex, bus, log, graceMs: GRACE_MS })).resent, 2);
      await settle();
      assert.deepEqual(
        envelopes()
          .map((e) => [e.id, e.attempt])
          .sort(),
        [
          [queued, 1],
          [running, 2],
        ].sort(),
      );
      assert.equal((await getJob(db.knex, recent))!.resent, 0);
    });

    it('leaves overdue jobs alone while their queue holds messages, or while the recorder is behind or away', async () => {
      const [id] = await jobs(1, { status: 'retrying', attempt: 1, next_attempt_at: ago(60_000) });
      // No handler: the ping queue holds a message (a backlog), which may be this job's.
      await bus.transport.publish('', opQueue(systemPing.name), Buffer.from('{}'));
      assert.deepEqual(await watchOverdueJobs({ db: db.knex, bus, log, graceMs: GRACE_MS }), {
        overdue: 1,
        resent: 0,
        gaveUp: 0,
        waiting: 1,
      });
      await consumeOps();
      await settle();
      // The recorder has outcomes it did not take yet (behind), or nobody takes them (away): they may be this job's.
      for (const recorder of ['behind', 'away']) {
        await bus.close();
        bus = new Bus(new MemoryTransport(), [systemPing]);
        await bus.start();
        await consumeOps();
        if (recorder === 'behind') await bus.consumeResults(1, () => undefined);
        for (const body of ['{}', '{}']) await bus.transport.publish('', RECORDER_QUEUE, Buffer.from(body));
        await settle();
        assert.deepEqual(
          await watchOverdueJobs({ db: db.knex, bus, log, graceMs: GRACE_MS }),
          { overdue: 1, resent: 0, gaveUp: 0, waiting: 1 },
          recorder,
        );
      }
      assert.equal((await getJob(db.knex, id))!.resent, 0);
    });

    it(`gives up a job it sent ${MAX_RESENDS} times, or one past its deadline, as dead with the reason`, async () => {
      await consumeOps();
      const [hopeless] = await jobs(1, { status: 'queued', resent: MAX_RESENDS, updated_at: ago(STUCK_MS + 2 * GRACE_MS) });
      const [expired] = await jobs(1, { status: 'retrying', attempt: 1, next_attempt_at: ago(60_000), deadline: ago(1_000) });
      assert.deepEqual(await watchOverdueJobs({ db: db.knex, bus, log, graceMs: GRACE_MS }), {
        overdue: 2,
        resent: 0,
        gaveUp: 2,
        waiting: 0,
      });
      const dead = (await getJob(db.knex, hopeless))!;
      assert.equal(dead.status, 'dead');
      assert.deepEqual(dead.error, {
        kind: 'unknown',
        message: `stuck in queued: no handler reported on it, although it was sent ${MAX_RESENDS} more times`,
      });
      assert.ok(dead.finished_at);
      assert.match((await getJob(db.knex, expired))!.error!.message, /stuck in retrying past its deadline/);
      assert.deepEqual(sent, []);
    });

    it('raises one stuck-jobs alarm when jobs had to be sent again or given up, and clears it once they finished', async () => {
      await consumeOps();
      const alarms = () => db.knex('alarms').where({ resource_type: STUCK_JOBS.type, resource_key: STUCK_JOBS.key });
      await recordStuckJobs(db.knex, await watchOverdueJobs({ db: db.knex, bus, log, graceMs: GRACE_MS }));
      assert.deepEqual(await alarms(), [], 'nothing overdue, no alarm');
      const ids = await jobs(3, { status: 'retrying', attempt: 1, next_attempt_at: ago(60_000) });
      await recordStuckJobs(db.knex, await watchOverdueJobs({ db: db.knex, bus, log, graceMs: GRACE_MS }));
      const [alarm] = await alarms();
      assert.equal(alarm.status, 'open');
      assert.equal(alarm.cause, 'stuck-jobs');
      assert.match(
        alarm.message,
        /^3 job\(s\) did not move on in time and were sent again; 3 job\(s\) sent again not finished yet \(oldest /,
      );
      // Still unfinished at the next round: the same alarm counts on.
      await recordStuckJobs(db.knex, await watchOverdueJobs({ db: db.knex, bus, log, graceMs: GRACE_MS }));
      assert.deepEqual(
        (await alarms()).map((a) => [a.status, a.count]),
        [['open', 2]],
      );
      await db.knex('jobs').whereIn('id', ids).update({ status: 'succeeded', finished_at: db.knex.fn.now() });
      await recordStuckJobs(db.knex, await watchOverdueJobs({ db: db.knex, bus, log, graceMs: GRACE_MS }));
      assert.deepEqual(
        (await alarms()).map((a) => a.status),
        ['cleared'],
      );
      const { count } = (await db.knex('alarm_notifications').where({ alarm_id: alarm.id }).count({ count: '*' }).first()) as {
        count: string;
      };
      assert.ok(Number(count) >= 2, 'raised and cleared are delivered');
    });
  });
