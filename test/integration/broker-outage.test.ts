/**
 * The broker goes away and comes back: a graceful restart, a kill -9, under load. Every role is
 * its own process on a RabbitMQ node of this test's own (the machine's shared broker is never
 * touched). Figures are printed as `# …` lines.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { delayQueue, opQueue } from '../../queues/topology.ts';
import { systemPing } from '../../queues/system/ops.ts';
import { eventually } from '../helpers/eventually.ts';
import { startRabbitNode, type RabbitNode } from '../helpers/rabbitmq-node.ts';
import { startRoleProcesses, type RoleProcesses } from '../helpers/role-processes.ts';

const PARKING_TIER_MS = systemPing.retry.tiersMs[2];
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

describe('a broker restart', () => {
  let broker: RabbitNode;
  let up: RoleProcesses;

  before(async () => {
    broker = await startRabbitNode();
    // The default rounds: the reconciler and the watchdog every 5 s, 15 s of slack (schedulers/scheduler.ts).
    up = await startRoleProcesses({ amqpUrl: broker.url });
  });
  after(async () => {
    await up?.stop();
    await broker?.cleanup();
  });

  /** 50 jobs that fail three times: all parked in the 5 s tier, as attempt 3 failed. */
  async function parkedJobs(): Promise<string[]> {
    const ids = await Promise.all(Array.from({ length: 50 }, () => up.ping({ fail: 'transient', failAttempts: 3 })));
    await eventually(
      'all 50 parked after their third attempt',
      async () => {
        const { rows } = await up.db.query(
          "SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1) AND status = 'retrying' AND attempt = 3",
          [ids],
        );
        return rows[0].n === ids.length;
      },
      { timeoutMs: 20_000 },
    );
    return ids;
  }

  async function succeededWithoutHelp(ids: string[]) {
    const rows = await up.waitFinal(ids, 60_000);
    assert.deepEqual(
      rows.filter((r) => r.status !== 'succeeded'),
      [],
    );
    const { rows: jobs } = await up.db.query('SELECT attempt FROM jobs WHERE id = ANY($1)', [ids]);
    assert.ok(
      jobs.every((j) => j.attempt === 4),
      'the parked attempt 4 ran',
    );
    // A watchdog resend would be a second run of attempt 4 (delivery 2): their retry tier brought them back.
    const { rows: resent } = await up.db.query('SELECT job_id, attempt, delivery FROM job_events WHERE job_id = ANY($1) AND delivery > 1', [
      ids,
    ]);
    assert.deepEqual(resent, [], 'the retry tier brought every one back, not the watchdog');
  }

  for (const fault of ['stop', 'kill'] as const) {
    it(`(${fault === 'stop' ? 'graceful' : 'kill -9'}) loses no retry parked in a retry tier: 50 of 50 succeed`, async () => {
      const ids = await parkedJobs();
      const { rows } = await up.db.query('SELECT min(next_attempt_at) AS due FROM jobs WHERE id = ANY($1)', [ids]);
      assert.ok(new Date(rows[0].due).getTime() > Date.now(), 'still parked when the broker goes');
      await broker[fault]();
      // As in the review's reproduction: the retries expire while the broker is down, and the
      // classic tiers of old dead-lettered them at start, before the operation queue had a leader.
      await sleep(8_000);
      await broker.start();
      await succeededWithoutHelp(ids);
    });
  }

  it('a retry whose parked message is gone is sent again by the watchdog, and the stuck-job alarm is raised, then cleared', async () => {
    const [id] = await Promise.all([up.ping({ fail: 'transient', failAttempts: 3 })]);
    await eventually(
      'parked after attempt 3',
      async () => (await up.db.query('SELECT status, attempt FROM jobs WHERE id = $1', [id])).rows[0]?.attempt === 3,
    );
    await broker.ctl('purge_queue', delayQueue(PARKING_TIER_MS));
    const [done] = await up.waitFinal([id], 45_000);
    assert.equal(done.status, 'succeeded');
    const { body: job } = await up.api('GET', `/v1/jobs/${id}`);
    assert.equal(job.attempt, 4);
    const last = job.events.at(-1);
    assert.deepEqual([last.attempt, last.delivery, last.status], [4, 2, 'succeeded'], 'its history shows attempt 4 was sent a second time');

    const alarm = await eventually('the stuck-job alarm', async () => {
      const { body } = await up.api('GET', '/v1/alarms?status=all');
      return body.items.find((a: { cause: string }) => a.cause === 'stuck-jobs');
    });
    assert.deepEqual(alarm.resource, { type: 'pipeline', key: 'jobs' });
    assert.match(alarm.message, /sent again/);
    await eventually('the alarm cleared once the job finished', async () => {
      const { body } = await up.api('GET', '/v1/alarms?status=all');
      return body.items.find((a: { cause: string; status: string }) => a.cause === 'stuck-jobs' && a.status === 'cleared');
    });
    const { body: all } = await up.api('GET', '/v1/alarms?status=all');
    assert.equal(all.items.filter((a: { cause: string }) => a.cause === 'stuck-jobs').length, 1, 'one alarm');
  });

  it('a queued job whose message was lost long ago runs again; one the watchdog sent too often is given up as dead, with the reason', async () => {
    const stuckAlarms = async () =>
      ((await up.api('GET', '/v1/alarms?status=all')).body.items as { cause: string; id: string }[]).filter(
        (a) => a.cause === 'stuck-jobs',
      );
    const before = new Set((await stuckAlarms()).map((a) => a.id));
    // No handler: the jobs are queued, then their messages are lost (purged), and they look an hour old.
    const handler = up.roles.find((p) => p.output().includes('handlers consuming'))!;
    await handler.kill('SIGKILL');
    up.roles.splice(up.roles.indexOf(handler), 1);
    const [lost, hopeless] = await Promise.all([up.ping(), up.ping()]);
    await eventually(
      'both queued',
      async () =>
        (await up.db.query("SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1) AND status = 'queued'", [[lost, hopeless]])).rows[0]
          .n === 2,
    );
    await broker.ctl('purge_queue', opQueue('system.ping'));
    await up.db.query("UPDATE jobs SET updated_at = now() - interval '1 hour' WHERE id = ANY($1)", [[lost, hopeless]]);
    await up.db.query('UPDATE jobs SET resent = 3 WHERE id = $1', [hopeless]);
    await up.startRole(['handler', 'system.*'], /handlers consuming/);

    const rows = await up.waitFinal([lost, hopeless], 30_000);
    const status = Object.fromEntries(rows.map((r) => [r.id, r.status]));
    assert.deepEqual(status, { [lost]: 'succeeded', [hopeless]: 'dead' });
    const { body: dead } = await up.api('GET', `/v1/jobs/${hopeless}`);
    assert.match(dead.error.message, /stuck in queued: no handler reported on it, although it was sent 3 more times/);
    const { body: ran } = await up.api('GET', `/v1/jobs/${lost}`);
    assert.deepEqual([ran.attempt, ran.events.at(-1).delivery], [1, 2], 'it ran once, as the second sending of attempt 1');
    const raised = (await stuckAlarms()).filter((a) => !before.has(a.id));
    assert.equal(raised.length, 1, 'one alarm for both');
  });

  it('under load (100/s, the broker away for ~15 s in the middle): every accepted job ends, none is lost, and the backlog clears quickly', async () => {
    const ratePerSecond = 100;
    let loading = true;
    const started = Date.now();
    const accepted: { id: string; at: number }[] = [];
    const refused: string[] = [];
    const answerMs: number[] = [];
    let inFlight = 0;
    const submit = async () => {
      const at = Date.now();
      inFlight++;
      try {
        const res = await up.api('POST', '/v1/system/ping', {});
        answerMs.push(Date.now() - at);
        if (res.status === 202) accepted.push({ id: res.body.id, at });
        else refused.push(`${res.status} ${res.body.message}`);
      } catch (error) {
        refused.push((error as Error).message);
      } finally {
        inFlight--;
      }
    };
    // Open loop: requests go out on the clock, whatever the answers take (at most 400 in flight).
    const load = (async () => {
      const requests: Promise<void>[] = [];
      for (let n = 0; loading; n++) {
        const due = started + (n * 1000) / ratePerSecond;
        if (due > Date.now()) await sleep(due - Date.now());
        if (inFlight < 400) requests.push(submit());
      }
      await Promise.all(requests);
    })();

    await sleep(5_000);
    const down = Date.now();
    await broker.stop();
    await sleep(5_000);
    const startMs = await broker.start();
    const back = Date.now();
    await sleep(8_000);
    loading = false;
    await load;
    const loadEnded = Date.now();

    assert.deepEqual(refused, [], 'the gateway accepted every request, the outage included');
    const ids = accepted.map((a) => a.id);
    const rows = await up.waitFinal(ids, 90_000);
    const allFinal = Date.now();
    assert.deepEqual(
      rows.filter((r) => r.status !== 'succeeded'),
      [],
      'every job succeeded',
    );
    const { rows: finished } = await up.db.query('SELECT id, finished_at FROM jobs WHERE id = ANY($1)', [ids]);
    const submittedAt = new Map(accepted.map((a) => [a.id, a.at]));
    const latencies = finished.map((r) => new Date(r.finished_at).getTime() - submittedAt.get(r.id)!).sort((a, b) => a - b);
    // The backlog: every job accepted before the broker was back, the outage's included.
    const backlogCleared = Math.max(...finished.filter((r) => submittedAt.get(r.id)! < back).map((r) => new Date(r.finished_at).getTime()));
    const reconnected = up.roles.map((p) => {
      const line = p
        .output()
        .split('\n')
        .find((l) => l.includes('reconnected to the message broker') && JSON.parse(l).time >= back);
      return line ? `${(JSON.parse(line).time - back) / 1000}` : '-';
    });
    const answers = answerMs.sort((a, b) => a - b);
    const duringOutage = accepted.filter((a) => a.at >= down && a.at < back).length;
    console.log(
      `broker outage under load: ${accepted.length} accepted at ${ratePerSecond}/s over ${seconds(loadEnded - started)}, 0 lost, 0 stuck; broker away ${seconds(back - down)} (its start ${seconds(startMs)}), ${duringOutage} accepted meanwhile`,
    );
    console.log(
      `202: p99 ${quantile(answers, 0.99)} ms, max ${answers.at(-1)} ms; submit→succeeded: p50 ${quantile(latencies, 0.5)} ms, p99 ${seconds(quantile(latencies, 0.99))}, max ${seconds(latencies.at(-1)!)}`,
    );
    console.log(
      `roles reconnected (s after the broker accepted AMQP again): ${reconnected.join(', ')}; backlog of the outage cleared ${seconds(backlogCleared - back)} after; every job final ${seconds(allFinal - loadEnded)} after the load ended`,
    );
    // Bounded: the roles reconnect within 5 s, the reconciler starts within a second of that, and
    // the outbox drains at the broker's pace (1,200-1,750 jobs in 1.5-3 s on the shared 2-core
    // machine). Measured 5.4-8.5 s; with one batch per round it was 14.0 s (that the reconciler
    // drains a backlog in one round is pinned by outbox-watchdog.test.ts).
    assert.ok(
      backlogCleared - back < 15_000,
      `the outage's backlog cleared within 15 s of the broker's return (${seconds(backlogCleared - back)})`,
    );
    const { rows: resent } = await up.db.query('SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1) AND resent > 0', [ids]);
    console.log(`sent again by the watchdog: ${resent[0].n}`);
  });
});
