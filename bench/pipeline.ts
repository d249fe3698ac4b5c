import amqp from 'amqplib';
import pg from 'pg';
import { Pool } from 'undici';
import { setTimeout as sleep } from 'node:timers/promises';
import { newJobId } from '../lib/ids.ts';
import { envelopeOf, type JobRow } from '../gateway/jobs-store.ts';
import { resultRoutingKey } from '../queues/result-event.ts';
import { RESULTS_EXCHANGE } from '../queues/topology.ts';
import { freshDatabase } from '../test/helpers/postgres.ts';
import { runUp, spawnUp, type UpProcess } from '../test/helpers/processes.ts';
import { freshVhost } from '../test/helpers/rabbitmq.ts';
import { cpuByGroup, cpuPerJob } from './cpu.ts';
import { line, percentiles, round } from './stats.ts';

const TOKEN = 'bench-admin-token-0123456789abcdef';

/** A ping envelope as the gateway would publish it: the message size every figure shares. */
function pingEnvelope(): { job: JobRow; body: Buffer } {
  const now = new Date();
  const job = {
    id: newJobId(),
    op: 'system.ping',
    payload_version: 1,
    status: 'queued',
    tenant: null,
    actor: 'bench',
    payload: {},
    attempt: 0,
    max_attempts: 4,
    correlation_id: '',
    idempotency_key: null,
    retry_of: null,
    target: null,
    generation: null,
    result: null,
    error: null,
    deadline: null,
    created_at: now,
    updated_at: now,
    published_at: null,
    finished_at: null,
  } as JobRow;
  job.correlation_id = job.id;
  return { job, body: Buffer.from(JSON.stringify(envelopeOf(job))) };
}

/** (a) The broker's own limit: publish with confirms, consume with acks, persistent, quorum queue. */
async function rawBroker(url: string, count: number) {
  const connection = await amqp.connect(url);
  const pub = await connection.createConfirmChannel();
  const sub = await connection.createChannel();
  const queue = 'bench.raw';
  await pub.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await sub.prefetch(200);
  const latencies: number[] = [];
  const sentAt = new Map<number, number>();
  let received = 0;
  const done = new Promise<void>((resolve) => {
    sub.consume(queue, (msg) => {
      if (!msg) return;
      latencies.push(performance.now() - sentAt.get(msg.properties.correlationId ? Number(msg.properties.correlationId) : -1)!);
      sub.ack(msg);
      if (++received === count) resolve();
    });
  });
  const { body } = pingEnvelope();
  const started = performance.now();
  const window = 500;
  let inFlight: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    sentAt.set(i, performance.now());
    inFlight.push(
      new Promise((resolve, reject) =>
        pub.publish('', queue, body, { persistent: true, correlationId: String(i) }, (err) => (err ? reject(err) : resolve())),
      ),
    );
    if (inFlight.length >= window) {
      await Promise.all(inFlight);
      inFlight = [];
    }
  }
  await Promise.all(inFlight);
  await done;
  const seconds = (performance.now() - started) / 1000;
  await pub.deleteQueue(queue);
  await connection.close();
  return { rate: round(count / seconds, 0), ...percentiles(latencies) };
}

/**
 * (b) Through the handler runtime, results and the recorder: publish envelopes, wait for
 * PostgreSQL. The job rows are written first; `run` is the part that is timed.
 */
async function handlerPath(url: string, db: pg.Pool, count: number) {
  const connection = await amqp.connect(url);
  const pub = await connection.createConfirmChannel();
  const watch = await connection.createChannel();
  const { queue } = await watch.assertQueue('', { exclusive: true, autoDelete: true });
  await watch.bindQueue(queue, RESULTS_EXCHANGE, resultRoutingKey('succeeded'));
  const messages = Array.from({ length: count }, pingEnvelope);
  const jobs = messages.map((m) => m.job);
  for (let i = 0; i < jobs.length; i += 1000) {
    const chunk = jobs.slice(i, i + 1000);
    const values = chunk
      .map(
        (_, k) => `($${k * 3 + 1}::uuid, 'system.ping', 1, 'queued', 'bench', '{}'::jsonb, 4, $${k * 3 + 2}, $${k * 3 + 3}::timestamptz)`,
      )
      .join(',');
    await db.query(
      `INSERT INTO jobs (id, op, payload_version, status, actor, payload, max_attempts, correlation_id, created_at) VALUES ${values}`,
      chunk.flatMap((j) => [j.id, j.id, j.created_at]),
    );
  }
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let allReported: () => void;
  const reported = new Promise<void>((resolve) => (allReported = resolve));
  watch.consume(
    queue,
    (msg) => {
      if (!msg) return;
      const parsed = JSON.parse(msg.content.toString()) as { jobId: string } | { jobId: string }[];
      const now = performance.now();
      for (const event of Array.isArray(parsed) ? parsed : [parsed]) {
        const t = sentAt.get(event.jobId);
        if (t !== undefined) latencies.push(now - t);
      }
      if (latencies.length >= count) allReported();
    },
    { noAck: true },
  );

  const run = async () => {
    const started = performance.now();
    let inFlight: Promise<void>[] = [];
    for (const { job, body } of messages) {
      sentAt.set(job.id, performance.now());
      inFlight.push(
        new Promise((resolve, reject) =>
          pub.publish('up.ops', 'system.ping', body, { persistent: true, messageId: job.id }, (e) => (e ? reject(e) : resolve())),
        ),
      );
      if (inFlight.length >= 500) {
        await Promise.all(inFlight);
        inFlight = [];
      }
    }
    await Promise.all(inFlight);
    // Polling PostgreSQL costs it CPU too: ask only once every outcome is on its way to the recorder.
    const giveUp = setTimeout(() => allReported(), 300_000);
    await reported;
    clearTimeout(giveUp);
    await waitSucceeded(db, 'bench', count, new Date(jobs[0].created_at.getTime() - 1000));
    const seconds = (performance.now() - started) / 1000;
    await connection.close();
    return { rate: round(count / seconds, 0), ...percentiles(latencies) };
  };
  return { run };
}

/** Polls until `count` jobs of `actor` created since `since` have succeeded (an index range, not a scan of every job). */
async function waitSucceeded(db: pg.Pool, actor: string, count: number, since: Date, timeoutMs = 300_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await db.query("SELECT count(*)::int AS n FROM jobs WHERE status = 'succeeded' AND created_at >= $2 AND actor = $1", [
      actor,
      since,
    ]);
    if (rows[0].n >= count) return;
    if (Date.now() > until) throw new Error(`only ${rows[0].n} of ${count} jobs succeeded in time`);
    await sleep(20);
  }
}

/**
 * POST /v1/system/ping over kept-alive connections (no pipelining, as a real client) with
 * undici's pool: the load generator shares the machine with what it measures, and undici
 * costs it about two thirds of what node:http does per request (fetch() several times more).
 */
let pool: Pool | null = null;
async function postPing(baseUrl: string, read: 'id' | 'status' = 'id'): Promise<{ status: number; id: string | null }> {
  pool ??= new Pool(baseUrl, { connections: 256, pipelining: 1 });
  const { statusCode, body } = await pool.request({
    path: '/v1/system/ping',
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: '{}',
  });
  // The throughput run needs only the status: the body is read and dropped, not parsed.
  if (read === 'status' || statusCode !== 202) return await body.dump().then(() => ({ status: statusCode, id: null }));
  return { status: statusCode, id: (JSON.parse(await body.text()) as { id: string }).id };
}

/** (c) End to end over HTTP: concurrent POSTs until each job is `succeeded` in PostgreSQL. */
async function endToEnd(baseUrl: string, db: pg.Pool, count: number, concurrency: number) {
  const post = () =>
    postPing(baseUrl, 'status').then(({ status }) => {
      if (status !== 202) throw new Error(`POST answered ${status}`);
    });
  const started = performance.now();
  // Exactly now: every job of an earlier run was created before it returned, none after.
  const since = new Date();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < count) await post();
    }),
  );
  await waitSucceeded(db, 'admin', count, since);
  const seconds = (performance.now() - started) / 1000;
  return { rate: round(count / seconds, 0) };
}

/**
 * (c') Latency at an offered rate: open loop, submit → succeeded as PostgreSQL records it.
 * Requests the gateway refuses or drops are counted, not retried: an overloaded system shows
 * as `failed`, not as a crashed benchmark.
 */
async function latencyAtRate(baseUrl: string, db: pg.Pool, perSecond: number, seconds: number) {
  const submitted: { id: Promise<string | null>; wall: number }[] = [];
  const started = performance.now();
  const total = perSecond * seconds;
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    submitted.push({
      wall: Date.now(),
      id: postPing(baseUrl)
        .then(({ id }) => id)
        .catch(() => null),
    });
  }
  const ids = await Promise.all(submitted.map((s) => s.id));
  const accepted = ids.filter((id): id is string => id !== null);
  const until = Date.now() + 120_000;
  let rows: { id: string; finished: string }[] = [];
  while (Date.now() < until) {
    // updated_at: when the recorder wrote `succeeded` (finished_at is the handler's clock).
    ({ rows } = await db.query(
      "SELECT id, extract(epoch from updated_at) * 1000 AS finished FROM jobs WHERE id = ANY($1) AND status = 'succeeded'",
      [accepted],
    ));
    if (rows.length === accepted.length) break;
    await sleep(50);
  }
  const finished = new Map(rows.map((r) => [r.id, Number(r.finished)]));
  const latencies = ids.flatMap((id, i) => (id && finished.has(id) ? [finished.get(id)! - submitted[i].wall] : []));
  return { offered: perSecond, completed: latencies.length, failed: total - latencies.length, ...percentiles(latencies) };
}

/** The job spine's figures, (a) (b) (c), on real RabbitMQ and PostgreSQL. */
export async function benchPipeline(options: { messages?: number } = {}) {
  const n = options.messages ?? 20_000;
  const vhost = await freshVhost();
  const database = await freshDatabase();
  const env = {
    UP_DATABASE_URL: database.url,
    UP_AMQP_URL: vhost.url,
    UP_ADMIN_TOKEN: TOKEN,
    UP_HTTP_PORT: '0',
    UP_LOG_LEVEL: 'warn',
    UP_DATA_DIR: '/tmp/up-bench',
    UP_CANARY_INTERVAL_MS: '86400000',
  };
  const procs: UpProcess[] = [];
  const db = new pg.Pool({ connectionString: database.url, max: 4 });
  try {
    await runUp(['db', 'migrate'], env);
    const roles: Record<string, number> = {};
    /** Where the CPU went, per job, for each phase: the figures that explain the rates. */
    const measured = async <T>(jobs: number, phase: () => Promise<T>): Promise<T & { cpu: Record<string, number> }> => {
      const before = cpuByGroup(roles);
      const result = await phase();
      return { ...result, cpu: cpuPerJob(before, cpuByGroup(roles), jobs) };
    };
    const cpuLine = (cpu: Record<string, number>) => line('    CPU ms per job', cpu);

    const a = await measured(n, () => rawBroker(vhost.url, n));
    console.log(line('(a) raw broker: confirm publish + ack consume', { 'msgs/s': a.rate, p50_ms: a.p50, p99_ms: a.p99 }));
    console.log(cpuLine(a.cpu));

    const start = async (args: string[], ready: RegExp) => {
      const p = spawnUp(args, { ...env, UP_LOG_LEVEL: 'info' });
      procs.push(p);
      await p.waitFor(ready);
      roles[args[0]] = p.child.pid!;
      return p;
    };
    await start(['recorder'], /recorder consuming/);
    await start(['handler', 'system.ping'], /handlers consuming/);
    const path = await handlerPath(vhost.url, db, n);
    const b = await measured(n, () => path.run());
    console.log(line('(b) handler path: runtime + results + recorder', { 'jobs/s': b.rate, p50_ms: b.p50, p99_ms: b.p99 }));
    console.log(cpuLine(b.cpu));

    const gateway = await start(['gateway'], /gateway listening/);
    const baseUrl = /"url":"(http:[^"]+)"/.exec(gateway.output())![1];
    await start(['scheduler'], /scheduler started/);
    // (a) and (b) keep 500 messages in flight; (c) keeps 256 requests in flight (and, for
    // comparison, 64: fewer in flight means smaller batches at every stage). The latency run
    // comes after the 64 run, which warms the gateway up, and before the 256 burst, whose
    // aftermath (autovacuum, broker segment writes) would land in its seconds.
    const c64 = await measured(Math.round(n / 2), () => endToEnd(baseUrl, db, Math.round(n / 2), 64));
    console.log(line('(c) end to end, 64 requests in flight', { 'jobs/s': c64.rate }));
    console.log(cpuLine(c64.cpu));
    // The 64 run's 10,000 finished jobs are vacuumed first: the autovacuum would come at a
    // random moment, as likely as not inside the six measured seconds.
    await db.query('VACUUM (ANALYZE) jobs');
    const l = await latencyAtRate(baseUrl, db, 500, 6);
    console.log(line('(c) latency at an offered 500 jobs/s', { completed: l.completed, failed: l.failed, p50_ms: l.p50, p99_ms: l.p99 }));
    const c = await measured(Math.round(n / 2), () => endToEnd(baseUrl, db, Math.round(n / 2), 256));
    console.log(line('(c) end to end: HTTP POST → succeeded in PG, 256 in flight', { 'jobs/s': c.rate }));
    console.log(cpuLine(c.cpu));

    const figures = {
      raw_msgs_per_s: a.rate,
      raw_p50_ms: a.p50,
      raw_p99_ms: a.p99,
      handler_jobs_per_s: b.rate,
      handler_p50_ms: b.p50,
      handler_p99_ms: b.p99,
      e2e_jobs_per_s: c.rate,
      e2e_jobs_per_s_64_in_flight: c64.rate,
      e2e_p50_ms_at_500: l.p50,
      e2e_p99_ms_at_500: l.p99,
      ratio_b_over_a: round(b.rate / a.rate),
      ratio_c_over_a: round(c.rate / a.rate),
    };
    console.log(
      line('ratios', { 'b/a': figures.ratio_b_over_a, 'c/a': figures.ratio_c_over_a, targets: 'b/a≥0.60 c≥1500/s p99≤50ms@500/s' }),
    );
    return figures;
  } finally {
    await pool?.close();
    pool = null;
    await Promise.all(procs.map((p) => p.kill('SIGTERM')));
    await db.end();
    await database.cleanup();
    await vhost.cleanup();
  }
}
