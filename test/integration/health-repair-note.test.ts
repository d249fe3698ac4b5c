/**
 * Walk friction 5: a repair is not tried again within an episode, so an alarm raised or
 * counted after the resource's repair failed carries that repair's error (its first line) and
 * how to run it again once the cause is gone; a retry of the repair stands for it. On real
 * PostgreSQL, with the health store's own functions.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { failedRepairNote, recordCheck, type AlarmRow, type HealthPolicy } from '../../gateway/health/store.ts';
import { plan, system, writePlans } from '../../gateway/plan.ts';
import { openDatabase, type Database } from '../../lib/db/connect.ts';
import { migrateLatest } from '../../lib/db/migrate.ts';
import type { CheckResult } from '../../queues/health/checks.ts';
import { systemPing } from '../../queues/system/ops.ts';
import { freshDatabase } from '../helpers/postgres.ts';

const BIND_ERROR = 'nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)\nnginx: configuration file test failed';
const STOPPED = 'nginx of proxy group pw is not running on walk-h1';

describe('an alarm carries the failed repair', () => {
  let fresh: Awaited<ReturnType<typeof freshDatabase>>;
  let database: Database;
  const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second));
  const policy: HealthPolicy = {
    failAfter: 3,
    repair: { after: 2, plan: async () => plan({ op: systemPing, payload: {} }) },
  };
  const check = (resourceKey: string, healthy: boolean): CheckResult => ({
    resource: { type: 'proxy', key: resourceKey },
    healthy,
    problems: healthy ? [] : [{ cause: 'nginx-stopped', message: STOPPED }],
    measurements: {},
  });
  const alarmsOf = async (key: string): Promise<AlarmRow[]> =>
    database.knex('alarms').where({ resource_type: 'proxy', resource_key: key }).orderBy('first_seen');
  const repairOf = async (key: string): Promise<string> =>
    (await database.knex('health').where({ resource_type: 'proxy', resource_key: key }).first('repair_job_id')).repair_job_id;
  const finish = (id: string, status: 'failed' | 'dead' | 'succeeded', second: number, message?: string) =>
    database
      .knex('jobs')
      .where({ id })
      .update({
        status,
        finished_at: at(second),
        error: message === undefined ? null : JSON.stringify({ kind: 'permanent', message }),
      });
  const note = (id: string, line: string) => `; repair job ${id} failed: ${line}; \`up jobs retry ${id}\` once the cause is gone`;

  before(async () => {
    fresh = await freshDatabase();
    database = openDatabase({ url: fresh.url });
    await migrateLatest(database.knex);
  });
  after(async () => {
    await database?.close();
    await fresh?.cleanup();
  });

  test('raised after the repair failed: the first line of its error and `up jobs retry`; counted with the retry running: the problem alone', async () => {
    const key = 'pw@walk-h1';
    assert.equal(await recordCheck(database.knex, check(key, false), at(1), policy), 'degraded');
    assert.equal(await recordCheck(database.knex, check(key, false), at(2), policy), 'repairing');
    const repair = await repairOf(key);
    assert.equal(await recordCheck(database.knex, check(key, false), at(3), policy), 'repairing', 'the repair is still running');
    assert.deepEqual(await alarmsOf(key), []);

    await finish(repair, 'failed', 4, BIND_ERROR);
    assert.equal(await recordCheck(database.knex, check(key, false), at(5), policy), 'failed');
    const [raised] = await alarmsOf(key);
    assert.equal(raised!.message, STOPPED + note(repair, 'nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)'));
    assert.equal(raised!.count, 1);
    assert.deepEqual(
      (await database.knex('alarm_notifications').where({ alarm_id: raised!.id })).map((n) => n.event),
      ['raised', 'raised'],
      'queued for delivery with that message (webhook and mail)',
    );

    // Someone retries the repair (`up jobs retry`: the same correlation and operation): while it runs, the alarm says the problem only.
    const { correlation_id } = await database.knex('jobs').where({ id: repair }).first('correlation_id');
    const [retry] = await database.knex.transaction((trx) =>
      writePlans(trx, [plan({ op: systemPing, payload: {} })], system('test'), { correlationId: correlation_id, retryOf: repair }),
    );
    assert.equal(await recordCheck(database.knex, check(key, false), at(6), policy), 'failed');
    let [alarm] = await alarmsOf(key);
    assert.equal(alarm!.message, STOPPED);
    assert.equal(alarm!.count, 2);

    // The retry failed too: the alarm names it, the newest run.
    await finish(retry!.id, 'dead', 7, 'still in use\nsecond line');
    assert.equal(await recordCheck(database.knex, check(key, false), at(8), policy), 'failed');
    [alarm] = await alarmsOf(key);
    assert.equal(alarm!.message, STOPPED + note(retry!.id, 'still in use'));
    assert.equal(await repairOf(key), repair, 'no repair of its own within the episode');

    // Healthy again: cleared, and the next episode starts without a repair to speak of.
    assert.equal(await recordCheck(database.knex, check(key, true), at(9), policy), 'healthy');
    [alarm] = await alarmsOf(key);
    assert.equal(alarm!.status, 'cleared');
    assert.equal(await repairOf(key), null);
  });

  test('a repair that succeeded, or none at all, adds nothing; a long first line is cut', async () => {
    const fixed = 'pw@walk-h2';
    await recordCheck(database.knex, check(fixed, false), at(1), policy);
    await recordCheck(database.knex, check(fixed, false), at(2), policy);
    await finish(await repairOf(fixed), 'succeeded', 3);
    assert.equal(await recordCheck(database.knex, check(fixed, false), at(4), policy), 'failed', 'repaired, yet still failing');
    assert.equal((await alarmsOf(fixed))[0]!.message, STOPPED);

    const unrepaired = 'pw@walk-h3';
    for (const second of [1, 2, 3]) await recordCheck(database.knex, check(unrepaired, false), at(second), { failAfter: 3 });
    assert.equal((await alarmsOf(unrepaired))[0]!.message, STOPPED);

    const long = 'pw@walk-h4';
    await recordCheck(database.knex, check(long, false), at(1), policy);
    await recordCheck(database.knex, check(long, false), at(2), policy);
    const repair = await repairOf(long);
    await finish(repair, 'failed', 3, 'x'.repeat(1000));
    assert.equal(await failedRepairNote(database.knex, repair), note(repair, `${'x'.repeat(299)}…`));
    assert.equal(await failedRepairNote(database.knex, '00000000-0000-4000-8000-000000000000'), '', 'a repair job since purged');
  });

  test('two problems of one cause (two replicas missing alike) are one alarm naming both; a check older than the last one changes nothing', async () => {
    const key = 'twice@walk-h1';
    const both: CheckResult = {
      resource: { type: 'proxy', key },
      healthy: false,
      problems: [
        { cause: 'nginx-stopped', message: 'r1 does not exist' },
        { cause: 'nginx-stopped', message: 'r2 does not exist' },
      ],
      measurements: {},
    };
    const noRepair: HealthPolicy = { failAfter: 2 };
    assert.equal(await recordCheck(database.knex, both, at(1), noRepair), 'degraded');
    assert.equal(await recordCheck(database.knex, both, at(2), noRepair), 'failed');
    assert.equal(await recordCheck(database.knex, both, at(3), noRepair), 'failed');
    const alarms = await alarmsOf(key);
    assert.deepEqual(
      alarms.map((a) => [a.cause, a.message, a.count]),
      [['nginx-stopped', 'r1 does not exist; r2 does not exist', 2]],
    );
    // A slow check that started before the last one recorded: older news, not a transition.
    assert.equal(await recordCheck(database.knex, check(key, true), at(2), noRepair), 'failed');
    assert.equal((await alarmsOf(key))[0].status, 'open');
    assert.equal(await recordCheck(database.knex, check(key, true), at(4), noRepair), 'healthy');
  });
});
