/**
 * Long polls (`GET /v1/jobs/{id}?waitMs=`) wait for the recorder's word instead of reading
 * the job row several times a second (security review, finding 14): what 300 waiters cost
 * the database, how soon a waiter hears, what happens when the word is lost, and the cap
 * on long polls per user. On a PostgreSQL cluster of the test's own (its transaction counts
 * are this test's alone), and on the embedded default.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { LONG_POLLS_PER_USER } from '../../gateway/job-waiters.ts';
import { insertJob } from '../../gateway/jobs-store.ts';
import { newJobId } from '../../lib/ids.ts';
import { eventually } from '../helpers/eventually.ts';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { startStack } from '../helpers/stack.ts';

type Stack = Awaited<ReturnType<typeof startStack>>;

/** How long after its outcome a long poll may answer: well under the fallback poll (10 s), so only a notification does it. */
const WAKE_BOUND_MS = 1_500;

describe('long polls on PostgreSQL: woken by NOTIFY, capped per user (security finding 14)', () => {
  let cluster: PgCluster;
  let stack: Stack;
  let databaseName: string;
  let admin: pg.Client;
  const tenants: { name: string; id: string; secret: string }[] = [];

  before(async () => {
    cluster = await startPgCluster();
    const url = await cluster.createDatabase();
    databaseName = new URL(url).pathname.slice(1);
    stack = await startStack({ databaseUrl: url });
    admin = new pg.Client({ connectionString: cluster.url() });
    await admin.connect();
    for (let i = 0; i < 10; i++) {
      const name = `waiter${i}`;
      const user = await stack.app!.inject({ method: 'POST', url: '/v1/users', headers: stack.auth, payload: { name } });
      assert.equal(user.statusCode, 201, user.body);
      const token = await stack.app!.inject({
        method: 'POST',
        url: '/v1/tokens',
        headers: stack.auth,
        payload: { name: 'waits', user: name },
      });
      assert.equal(token.statusCode, 201, token.body);
      const { id } = await stack.database!.knex('users').where({ name }).first();
      tenants.push({ name, id, secret: token.json().secret });
    }
  });
  after(async () => {
    await admin?.end().catch(() => undefined);
    await stack?.shutdown();
    await cluster?.destroy();
  });

  /** A job of this user that no handler will ever finish (it was never published). */
  async function pendingJobOf(user: { name: string; id: string }): Promise<string> {
    const id = newJobId();
    await insertJob(stack.database!.knex, {
      id,
      op: 'system.ping',
      payload_version: 1,
      tenant: user.name,
      actor: user.name,
      owner_id: user.id,
      payload: {},
      max_attempts: 4,
      correlation_id: id,
    });
    await stack.database!.knex('jobs').where({ id }).update({ status: 'queued' });
    return id;
  }

  const get = (path: string, secret: string | null, signal?: AbortSignal) =>
    fetch(`${stack.url}${path}`, { headers: secret ? { authorization: `Bearer ${secret}` } : stack.auth, signal });
  const ping = async (delayMs: number) => {
    const res = await fetch(`${stack.url}/v1/system/ping`, {
      method: 'POST',
      headers: { ...stack.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ delayMs }),
    });
    assert.equal(res.status, 202);
    return ((await res.json()) as { id: string }).id;
  };

  async function commits(): Promise<number> {
    const { rows } = await admin.query('SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = $1', [databaseName]);
    return Number(rows[0].n);
  }
  /** Transactions of our database during `work`; backends report their counts when idle, within 10 s (PG 15). */
  async function transactionsDuring(work: () => Promise<unknown>): Promise<{ count: number; ms: number }> {
    const before = await commits();
    const started = Date.now();
    await work();
    const ms = Date.now() - started;
    await sleep(11_000);
    return { count: (await commits()) - before, ms };
  }

  test('a waiter answers as soon as its job is recorded, not at a poll', async () => {
    const id = await ping(1_000);
    const started = Date.now();
    const res = await get(`/v1/jobs/${id}?waitMs=20000`, null);
    const job = (await res.json()) as { status: string };
    const ms = Date.now() - started;
    console.log(`# long poll answered ${ms} ms after it began, for a job of 1,000 ms`);
    assert.equal(job.status, 'succeeded');
    assert.ok(ms < 1_000 + WAKE_BOUND_MS, `${ms} ms`);
  });

  test('300 long polls from 10 users: a handful of transactions each, not one every 250 ms', async () => {
    const idle = await transactionsDuring(() => sleep(15_000));
    const jobs = await Promise.all(tenants.map((t) => pendingJobOf(t)));
    const waiting = await transactionsDuring(() =>
      Promise.all(
        tenants.flatMap((t, i) =>
          Array.from({ length: 30 }, async () => {
            const res = await get(`/v1/jobs/${jobs[i]}?waitMs=15000`, t.secret);
            assert.equal(res.status, 200);
            assert.equal(((await res.json()) as { status: string }).status, 'queued');
          }),
        ),
      ),
    );
    const idleRate = (idle.count * 1000) / (idle.ms + 11_000);
    const spent = waiting.count - (idleRate * (waiting.ms + 11_000)) / 1000;
    console.log(
      `# 300 long polls of 15 s: ${waiting.count} transactions in ${waiting.ms} ms (+11 s for the counts to arrive; idle ${idleRate.toFixed(1)}/s): ` +
        `${(spent / 300).toFixed(1)} per long poll (its token check and reads included), ${((spent * 1000) / waiting.ms).toFixed(0)}/s`,
    );
    // Polling every 250 ms, each of these cost some 60; waiting for a notification, the reads
    // around the wait and one fallback poll.
    assert.ok(spent / 300 < 12, `${(spent / 300).toFixed(1)} transactions per long poll`);
  });

  test(`a user holds at most ${LONG_POLLS_PER_USER} long polls at once: 429 beyond, a slot freed by a client that leaves`, async () => {
    const user = tenants[0];
    const id = await pendingJobOf(user);
    const leaving = Array.from({ length: LONG_POLLS_PER_USER }, () => new AbortController());
    const held = leaving.map((c) => get(`/v1/jobs/${id}?waitMs=30000`, user.secret, c.signal).catch(() => null));
    await sleep(1_000);
    const refused = await get(`/v1/jobs/${id}?waitMs=30000`, user.secret);
    assert.equal(refused.status, 429);
    assert.match(((await refused.json()) as { message: string }).message, new RegExp(`at most ${LONG_POLLS_PER_USER} .*per user`));
    // Without waitMs it is an ordinary read; another user is not affected.
    assert.equal((await get(`/v1/jobs/${id}`, user.secret)).status, 200);
    const other = tenants[1];
    const otherJob = await pendingJobOf(other);
    assert.equal((await get(`/v1/jobs/${otherJob}?waitMs=100`, other.secret)).status, 200);

    leaving[0].abort();
    await eventually(
      'the slot of the client that left to be free',
      async () => {
        const res = await get(`/v1/jobs/${id}?waitMs=50`, user.secret);
        return res.status === 200;
      },
      { timeoutMs: 5_000 },
    );
    leaving.forEach((c) => c.abort());
    await Promise.all(held);
  });

  test('the bootstrap admin token is not capped (like its rate)', async () => {
    const id = await pendingJobOf(tenants[2]);
    const answers = await Promise.all(Array.from({ length: LONG_POLLS_PER_USER + 8 }, () => get(`/v1/jobs/${id}?waitMs=1500`, null)));
    assert.deepEqual([...new Set(answers.map((r) => r.status))], [200]);
  });

  test('the listening connection is lost: waiters still hear, and the gateway listens again', async () => {
    const id = await ping(2_500);
    const started = Date.now();
    const waited = get(`/v1/jobs/${id}?waitMs=20000`, null);
    await sleep(500);
    const { rows } = await admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN %'",
      [databaseName],
    );
    assert.equal(rows.length, 1, 'one LISTEN connection per gateway');
    const job = (await (await waited).json()) as { status: string };
    const ms = Date.now() - started;
    assert.equal(job.status, 'succeeded');
    assert.ok(ms < 2_500 + WAKE_BOUND_MS, `answered ${ms} ms after it began`);
    await eventually('a new LISTEN connection', async () => {
      const again = await admin.query("SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN %'", [databaseName]);
      return again.rows.length === 1;
    });
    const next = await ping(500);
    const t = Date.now();
    assert.equal(((await (await get(`/v1/jobs/${next}?waitMs=20000`, null)).json()) as { status: string }).status, 'succeeded');
    assert.ok(Date.now() - t < 500 + WAKE_BOUND_MS);
  });
});

describe('long polls on the embedded default: woken in process', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ embedded: true });
  });
  after(() => stack?.shutdown());

  test('a waiter answers as soon as its job is recorded', async () => {
    const job = (
      await stack.app!.inject({ method: 'POST', url: '/v1/system/ping', headers: stack.auth, payload: { delayMs: 1_000 } })
    ).json();
    const started = Date.now();
    const done = (await stack.app!.inject({ method: 'GET', url: `/v1/jobs/${job.id}?waitMs=20000`, headers: stack.auth })).json();
    assert.equal(done.status, 'succeeded');
    assert.ok(Date.now() - started < 1_000 + WAKE_BOUND_MS, `${Date.now() - started} ms`);
  });
});
