import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import amqp from 'amqplib';
import pg from 'pg';
import { opQueue } from '../../queues/topology.ts';
import { freshDatabase } from '../helpers/postgres.ts';
import { spawnUp, runUp, type UpProcess } from '../helpers/processes.ts';
import type { ResultEvent } from '../../queues/result-event.ts';
import { RESULTS_EXCHANGE } from '../../queues/topology.ts';
import { startRabbitNode, type RabbitNode } from '../helpers/rabbitmq-node.ts';
import { TEST_TOKEN } from '../helpers/stack.ts';
import { tcpProxy } from '../helpers/tcp-proxy.ts';

/**
 * `up` as it runs in production: RabbitMQ and PostgreSQL, with the gateway, handlers,
 * recorder and scheduler each in its own process. The faults are real: kill -9, a broker
 * restart, a database that goes away. The broker is a node of this test's own: restarting the
 * machine's shared one would pull it from under every other test running.
 */
describe('on RabbitMQ and PostgreSQL, one process per role', () => {
  let broker: RabbitNode;
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let pgProxy: Awaited<ReturnType<typeof tcpProxy>>;
  let env: Record<string, string>;
  let gateway: UpProcess;
  let baseUrl: string;
  const roles: UpProcess[] = [];
  let db: pg.Pool;

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${TEST_TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  const ping = async (body: unknown = {}) => {
    const res = await api('POST', '/v1/system/ping', body);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body.id as string;
  };

  async function waitAll(ids: string[], timeoutMs = 60_000) {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await db.query(
        "SELECT id, status FROM jobs WHERE id = ANY($1) AND status IN ('succeeded','failed','dead','superseded')",
        [ids],
      );
      if (rows.length === ids.length) return rows;
      if (Date.now() > until) {
        const { rows: all } = await db.query('SELECT status, count(*) FROM jobs WHERE id = ANY($1) GROUP BY status', [ids]);
        assert.fail(`not every job ended in time: ${JSON.stringify(all)}`);
      }
      await sleep(100);
    }
  }

  const startRole = async (args: string[], ready: RegExp) => {
    const p = spawnUp(args, env);
    roles.push(p);
    await p.waitFor(ready);
    return p;
  };

  /** Every result event handlers publish, from a queue of the test's own bound to up.results. */
  async function tapResults() {
    const connection = await amqp.connect(broker.url);
    const channel = await connection.createChannel();
    const { queue } = await channel.assertQueue('', { exclusive: true });
    await channel.bindQueue(queue, RESULTS_EXCHANGE, 'job.#');
    const events: ResultEvent[] = [];
    await channel.consume(
      queue,
      (message) => {
        if (!message) return;
        const value = JSON.parse(message.content.toString()) as ResultEvent | ResultEvent[];
        events.push(...(Array.isArray(value) ? value : [value]));
      },
      { noAck: true },
    );
    return { events, close: () => connection.close() };
  }

  before(async () => {
    broker = await startRabbitNode();
    database = await freshDatabase();
    const url = new URL(database.url);
    pgProxy = await tcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    url.port = String(pgProxy.port);
    env = {
      UP_DATABASE_URL: url.toString(),
      UP_AMQP_URL: broker.url,
      UP_ADMIN_TOKEN: TEST_TOKEN,
      UP_HTTP_PORT: '0',
      UP_DATA_DIR: '/tmp/up-test-distributed',
      UP_RECONCILE_INTERVAL_MS: '500',
      UP_CANARY_INTERVAL_MS: '1000',
      UP_CANARY_TIMEOUT_MS: '5000',
    };
    const migrate = await runUp(['db', 'migrate'], env);
    assert.equal(migrate.code, 0, migrate.stderr);
    gateway = await startRole(['gateway'], /gateway listening/);
    baseUrl = /"url":"(http:[^"]+)"/.exec(gateway.output())![1];
    await startRole(['recorder'], /recorder consuming/);
    await startRole(['scheduler'], /scheduler started/);
    await startRole(['handler', 'system.*', '--concurrency', '8'], /handlers consuming/);
    db = new pg.Pool({ connectionString: database.url, max: 2 });
  });

  after(async () => {
    await Promise.all(roles.map((p) => p.kill('SIGKILL')));
    await db?.end();
    await pgProxy?.close();
    await database?.cleanup();
    await broker?.cleanup();
  });

  test('up ping --wait succeeds through every process, and --json prints the job', async () => {
    const cli = await runUp(['ping', '--wait', '--json'], { UP_URL: baseUrl, UP_TOKEN: TEST_TOKEN });
    assert.equal(cli.code, 0, cli.stderr);
    const job = JSON.parse(cli.stdout);
    assert.equal(job.status, 'succeeded');
    assert.notEqual(job.result.handler.pid, process.pid, 'a handler process answered');
    const failing = await runUp(['ping', '--wait', '--fail', 'permanent'], { UP_URL: baseUrl, UP_TOKEN: TEST_TOKEN });
    assert.equal(failing.code, 1);
    assert.match(failing.stdout, /failed — asked to fail permanently/);
    const queues = await runUp(['queues', '--json'], { UP_URL: baseUrl, UP_TOKEN: TEST_TOKEN });
    assert.equal(queues.code, 0, queues.stderr);
    const stats = JSON.parse(queues.stdout).items.find((q: { queue: string }) => q.queue === 'up.op.system.ping');
    assert.equal(stats.consumers, 1);
  });

  test('the scheduler canary runs: system.ping jobs by system:scheduler succeed', async () => {
    const until = Date.now() + 15_000;
    for (;;) {
      const { rows } = await db.query("SELECT count(*)::int AS n FROM jobs WHERE actor = 'system:scheduler' AND status = 'succeeded'");
      if (rows[0].n > 0) break;
      assert.ok(Date.now() < until, 'a canary succeeded');
      await sleep(200);
    }
  });

  test('kill -9 of a handler in the middle of jobs: every job still ends, none succeeds twice, the runs it lost show in their history', async () => {
    const victim = roles.find((p) => p.output().includes('handlers consuming'))!;
    const tap = await tapResults();
    const ids = await Promise.all(Array.from({ length: 40 }, () => ping({ delayMs: 1_000 })));
    // Kill it while it holds work: some jobs running, most still queued.
    for (let i = 0; i < 100; i++) {
      const { rows } = await db.query("SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1) AND status = 'running'", [ids]);
      if (rows[0].n > 0) break;
      await sleep(50);
    }
    await victim.kill('SIGKILL');
    roles.splice(roles.indexOf(victim), 1);
    const rescuer = await startRole(['handler', 'system.ping', '--concurrency', '16'], /handlers consuming/);
    const rows = await waitAll(ids);
    assert.ok(
      rows.every((r) => r.status === 'succeeded'),
      JSON.stringify(rows.filter((r) => r.status !== 'succeeded')),
    );
    await sleep(500); // the tap's copies of the last outcomes
    await tap.close();
    // What the handlers said, not what the recorder kept: the victim died before finishing any
    // of its 1-second jobs, so no job may have succeeded twice.
    const successes = new Map<string, ResultEvent[]>();
    for (const e of tap.events.filter((e) => e.status === 'succeeded' && ids.includes(e.jobId)))
      successes.set(e.jobId, [...(successes.get(e.jobId) ?? []), e]);
    assert.equal(successes.size, ids.length, 'every success was published');
    const twice = [...successes].filter(([, runs]) => runs.length > 1);
    assert.deepEqual(twice, [], 'none succeeded twice');

    const { rows: rescued } = await db.query("SELECT id FROM jobs WHERE id = ANY($1) AND result->'handler'->>'pid' = $2", [
      ids,
      String(rescuer.child.pid),
    ]);
    const { rows: pids } = await db.query(
      "SELECT result->'handler'->>'pid' AS pid, count(*)::int FROM jobs WHERE id = ANY($1) GROUP BY 1",
      [ids],
    );
    assert.ok(
      rescued.length > 0,
      `the second handler (${rescuer.child.pid}, victim ${victim.child.pid}) finished what the first left: ${JSON.stringify(pids)}`,
    );
    // The jobs the victim was running ran again on the rescuer: their history shows both runs.
    const ranTwice = ids.filter((id) =>
      tap.events.some((e) => e.jobId === id && e.status === 'running' && e.handler.pid === victim.child.pid),
    );
    assert.ok(ranTwice.length > 0, 'the victim was running jobs when it died');
    for (const id of ranTwice) {
      const { body: job } = await api('GET', `/v1/jobs/${id}`);
      const runs = job.events.map(
        (e: { attempt: number; delivery: number; status: string; handler: { pid: number } | null }) =>
          `${e.attempt}.${e.delivery}:${e.status}@${e.handler?.pid === victim.child.pid ? 'victim' : 'rescuer'}`,
      );
      assert.deepEqual(runs, ['1.1:running@victim', '1.2:running@rescuer', '1.2:succeeded@rescuer'], `job ${id}`);
    }
  });

  test('RabbitMQ restarted while jobs flow: the gateway keeps accepting, no job is lost', async () => {
    const before = await Promise.all(Array.from({ length: 20 }, () => ping({ delayMs: 50 })));
    await broker.stop();
    let during: string[] = [];
    try {
      during = await Promise.all(Array.from({ length: 20 }, () => ping()));
      const ready = await fetch(`${baseUrl}/readyz`);
      assert.equal(ready.status, 503);
    } finally {
      await broker.start();
    }
    const after = await Promise.all(Array.from({ length: 20 }, () => ping()));
    const rows = await waitAll([...before, ...during, ...after], 90_000);
    assert.ok(
      rows.every((r) => r.status === 'succeeded'),
      JSON.stringify(rows.filter((r) => r.status !== 'succeeded')),
    );
  });

  test('PostgreSQL unreachable: 503 with a clear message, never 500; service resumes by itself', async () => {
    pgProxy.cut();
    try {
      const list = await api('GET', '/v1/jobs');
      assert.equal(list.status, 503);
      assert.match(list.body.message, /database is unavailable/);
      const submit = await api('POST', '/v1/system/ping', {});
      assert.equal(submit.status, 503);
      assert.equal((await fetch(`${baseUrl}/readyz`)).status, 503);
    } finally {
      pgProxy.restore();
    }
    const until = Date.now() + 20_000;
    for (;;) {
      const res = await api('GET', '/v1/jobs?limit=1');
      if (res.status === 200) break;
      assert.ok(Date.now() < until, 'the gateway recovered');
      await sleep(200);
    }
    await waitAll([await ping()]);
  });

  test('a poison message published straight to the op queue lands in dead letters and blocks nothing', async () => {
    const connection = await amqp.connect(broker.url);
    const channel = await connection.createConfirmChannel();
    channel.sendToQueue(opQueue('system.ping'), Buffer.from('this is not json'), { persistent: true });
    await channel.waitForConfirms();
    await connection.close();
    await waitAll([await ping()]);
    const until = Date.now() + 10_000;
    for (;;) {
      const { rows } = await db.query("SELECT reason FROM dead_letters WHERE content = 'this is not json'");
      if (rows.length === 1) {
        assert.match(rows[0].reason, /invalid message: not JSON/);
        break;
      }
      assert.ok(Date.now() < until, 'the poison message was recorded');
      await sleep(100);
    }
  });

  test('transient failures retry, permanent ones go to dead letters, and up dlq replay brings them back', async () => {
    const transient = await ping({ fail: 'transient', failAttempts: 1 });
    const permanent = await ping({ fail: 'permanent' });
    const rows = await waitAll([transient, permanent]);
    const status = Object.fromEntries(rows.map((r) => [r.id, r.status]));
    assert.equal(status[transient], 'succeeded');
    assert.equal(status[permanent], 'failed');
    const { rows: attempts } = await db.query('SELECT attempt FROM jobs WHERE id = $1', [transient]);
    assert.equal(attempts[0].attempt, 2);

    const cliEnv = { UP_URL: baseUrl, UP_TOKEN: TEST_TOKEN };
    let letter: { id: string } | undefined;
    for (let i = 0; i < 50 && !letter; i++) {
      const list = await runUp(['dlq', 'list', '--json'], cliEnv);
      letter = JSON.parse(list.stdout).items.find((d: { jobId: string }) => d.jobId === permanent);
      if (!letter) await sleep(100);
    }
    assert.ok(letter);
    const replay = await runUp(['dlq', 'replay', letter.id, '--json'], cliEnv);
    assert.equal(replay.code, 0, replay.stderr);
    const replayed = JSON.parse(replay.stdout).items[0].job;
    const [again] = await waitAll([replayed]);
    assert.equal(again.status, 'failed', 'the replay ran (and failed again, as its payload asks)');
  });
});
