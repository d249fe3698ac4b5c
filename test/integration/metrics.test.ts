import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { eventually } from '../helpers/eventually.ts';
import { freshDatabase } from '../helpers/postgres.ts';
import { assertValidExposition, promtoolAvailable, sample, samples } from '../helpers/prometheus.ts';
import { runUp, spawnUp, type UpProcess } from '../helpers/processes.ts';
import { freshVhost } from '../helpers/rabbitmq.ts';
import { startStack, TEST_TOKEN } from '../helpers/stack.ts';

/** The URL a role logged with `message` (pino JSON, one line per entry). */
const urlLogged = (p: UpProcess, message: string) => {
  const line = p
    .output()
    .split('\n')
    .find((l) => l.includes(`"msg":"${message}"`));
  return /"url":"(http:[^"]+)"/.exec(line ?? '')![1];
};
const scrape = async (url: string) => {
  const res = await fetch(`${url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(String(res.headers.get('content-type')), /^text\/plain; version=0\.0\.4/);
  return res.text();
};

/**
 * As an SRE runs it: every role its own process, each with UP_METRICS_PORT, scraped the way
 * Prometheus does. Each role shows what it measures; the scheduler shows the system's state.
 */
describe('metrics in the split deployment: every role serves /metrics and /healthz on its own port', () => {
  let vhost: Awaited<ReturnType<typeof freshVhost>>;
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let db: pg.Pool;
  const roles: Record<string, UpProcess> = {};
  let api: string;
  const metrics: Record<string, string> = {};
  let jobId: string;
  let failedJobId: string;

  before(async () => {
    vhost = await freshVhost();
    database = await freshDatabase();
    const env = {
      UP_DATABASE_URL: database.url,
      UP_AMQP_URL: vhost.url,
      UP_ADMIN_TOKEN: TEST_TOKEN,
      UP_HTTP_PORT: '0',
      UP_METRICS_PORT: '0',
      UP_DATA_DIR: '/tmp/up-test-metrics',
      UP_CANARY_INTERVAL_MS: '3600000',
    };
    const migrate = await runUp(['db', 'migrate'], env);
    assert.equal(migrate.code, 0, migrate.stderr);
    const start = async (name: string, args: string[], ready: RegExp) => {
      roles[name] = spawnUp(args, env);
      await roles[name].waitFor(ready);
      metrics[name] = urlLogged(roles[name], 'metrics listening');
    };
    await Promise.all([
      start('gateway', ['gateway'], /gateway listening/),
      start('recorder', ['recorder'], /recorder consuming/),
      start('scheduler', ['scheduler'], /scheduler started/),
      start('handler', ['handler', 'system.*'], /handlers consuming/),
    ]);
    api = urlLogged(roles.gateway, 'gateway listening');
    db = new pg.Pool({ connectionString: database.url, max: 2 });

    const submit = async (body: object) => {
      const res = await fetch(`${api}/v1/system/ping`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.equal(res.status, 202);
      return ((await res.json()) as { id: string }).id;
    };
    jobId = await submit({});
    failedJobId = await submit({ fail: 'permanent' });
    for (const id of [jobId, failedJobId]) {
      await eventually(`job ${id} final`, async () => {
        const res = await fetch(`${api}/v1/jobs/${id}?waitMs=2000`, { headers: { authorization: `Bearer ${TEST_TOKEN}` } });
        return ['succeeded', 'failed'].includes(((await res.json()) as { status: string }).status);
      });
    }
    await eventually(
      'the dead letter recorded',
      async () => (await db.query('SELECT 1 FROM dead_letters WHERE job_id = $1', [failedJobId])).rowCount === 1,
    );
    // State the scheduler reads: a certificate with its expiry, an open alarm.
    await db.query(
      `INSERT INTO certificates (id, kind, name, names, challenge, status, not_after)
       VALUES ('00000000-0000-4000-8000-000000000001', 'wildcard', 'wild-example', '["*.example.net"]', 'dns-01', 'valid', '2027-03-01T00:00:00Z')`,
    );
    await db.query(
      `INSERT INTO alarms (id, resource_type, resource_key, cause, message, status, first_seen, last_seen)
       VALUES ('00000000-0000-4000-8000-000000000002', 'host', 'web1', 'disk', 'disk 95% full', 'open', now(), now())`,
    );
  });

  after(async () => {
    await Promise.all(Object.values(roles).map((p) => p.kill('SIGKILL')));
    await db?.end();
    await database?.cleanup();
    await vhost?.cleanup();
  });

  test('each role answers /healthz, and /metrics on its port only: the API port serves none', async () => {
    for (const [role, url] of Object.entries(metrics)) {
      const res = await fetch(`${url}/healthz`);
      assert.equal(res.status, 200, role);
      assert.deepEqual(await res.json(), { status: 'ok' });
      assert.equal((await fetch(`${url}/v1/jobs`)).status, 404, `${role}: nothing else on the metrics port`);
      assert.equal((await fetch(`${url}/metrics`, { method: 'POST' })).status, 405);
    }
    assert.equal(
      (await fetch(`${api}/metrics`)).status,
      404,
      'the API port (behind the Service, the load balancer) does not expose /metrics',
    );
    assert.equal((await fetch(`${api}/healthz`)).status, 200, 'the API keeps its own liveness and readiness');
  });

  test('the gateway: jobs accepted, and HTTP requests by route pattern and status, never the raw URL', async () => {
    const text = await scrape(metrics.gateway);
    assert.ok(sample(text, 'up_jobs_accepted_total{op="system.ping"}')! >= 2, text);
    assert.ok(sample(text, 'up_http_requests_total{method="POST",route="/v1/system/ping",status="202"}')! >= 2);
    assert.ok(sample(text, 'up_http_requests_total{method="GET",route="/v1/jobs/:id",status="200"}')! >= 1);
    assert.ok(sample(text, 'up_http_request_duration_seconds_count{method="GET",route="/v1/jobs/:id"}')! >= 1);
    await fetch(`${api}/no/such/${jobId}`);
    const after = await scrape(metrics.gateway);
    assert.ok(sample(after, 'up_http_requests_total{method="GET",route="unmatched",status="404"}')! >= 1);
    assert.doesNotMatch(after, new RegExp(`${jobId}|${failedJobId}`), 'no job id in any label');
  });

  test('a handler: time per attempt by operation and outcome', async () => {
    const text = await scrape(metrics.handler);
    assert.equal(sample(text, 'up_handler_duration_seconds_count{op="system.ping",outcome="succeeded"}'), 1);
    assert.equal(sample(text, 'up_handler_duration_seconds_count{op="system.ping",outcome="failed"}'), 1);
    assert.ok(sample(text, 'up_publish_latency_seconds_count{kind="result"}')! >= 1, text.slice(0, 3000));
    assert.ok(sample(text, 'process_cpu_seconds_total')! > 0, 'standard process metrics, no doubled prefix');
  });

  test('the recorder: outcomes per operation, and latency from submit to the final outcome', async () => {
    const text = await scrape(metrics.recorder);
    assert.equal(sample(text, 'up_jobs_total{op="system.ping",outcome="succeeded"}'), 1);
    assert.equal(sample(text, 'up_jobs_total{op="system.ping",outcome="failed"}'), 1);
    const count = sample(text, 'up_job_latency_seconds_count{op="system.ping",outcome="succeeded"}');
    const sum = sample(text, 'up_job_latency_seconds_sum{op="system.ping",outcome="succeeded"}')!;
    assert.equal(count, 1);
    // The job took well under a minute from POST to succeeded, and some time at all.
    assert.ok(sum > 0 && sum < 60, `latency ${sum} s`);
    const { rows } = await db.query('SELECT extract(epoch FROM finished_at - created_at)::float AS s FROM jobs WHERE id = $1', [jobId]);
    assert.ok(
      Math.abs(sum - rows[0].s) < 0.05,
      `the histogram (${sum} s) agrees with the job row (created_at → finished_at ${rows[0].s} s)`,
    );
  });

  test('the scheduler: queue depth and consumers, backlog, dead letters, open alarms, certificate expiry', async () => {
    const text = await scrape(metrics.scheduler);
    assert.equal(sample(text, 'up_queue_consumers{queue="up.op.system.ping",op="system.ping"}'), 1, text);
    assert.equal(sample(text, 'up_queue_consumers{queue="up.op.host.probe",op="host.probe"}'), 0, 'an op no handler consumes shows 0');
    assert.equal(sample(text, 'up_queue_messages_ready{queue="up.op.system.ping",op="system.ping"}'), 0);
    assert.equal(sample(text, 'up_queue_consumers{queue="up.dead",op=""}'), 1, 'the recorder drains the dead letters');
    assert.equal(samples(text, 'up_queue_consumers').length, samples(text, 'up_queue_messages_ready').length);
    assert.equal(sample(text, 'up_outbox_backlog'), 0);
    assert.equal(sample(text, 'up_dead_letters{op="system.ping"}'), 1);
    assert.equal(sample(text, 'up_alarms_open{resource_type="host",cause="disk"}'), 1);
    assert.equal(
      sample(
        text,
        'up_certificate_expiry_timestamp_seconds{id="00000000-0000-4000-8000-000000000001",kind="wildcard",name="wild-example"}',
      ),
      Date.parse('2027-03-01T00:00:00Z') / 1000,
    );
  });

  test('the system state is reported once, by the scheduler: other roles do not query it', async () => {
    for (const role of ['gateway', 'recorder', 'handler']) {
      const text = await scrape(metrics[role]);
      assert.deepEqual(samples(text, 'up_queue_consumers'), [], role);
      assert.deepEqual(samples(text, 'up_certificate_expiry_timestamp_seconds'), [], role);
    }
  });

  test('promtool parses and lints every role’s exposition', {
    skip: !promtoolAvailable && 'promtool not found (set PROMTOOL; .ci/run extracts it from Debian’s prometheus package)',
  }, async () => {
    for (const [role, url] of Object.entries(metrics)) assertValidExposition(await scrape(url), role);
  });
});

describe('up serve: every role in one process, one metrics endpoint', () => {
  test('without UP_METRICS_PORT the API port serves everything; with it, the metrics port does', async () => {
    const stack = await startStack({ embedded: true });
    try {
      assert.equal(stack.metricsUrl, null);
      await stack.app!.inject({ method: 'POST', url: '/v1/system/ping', headers: stack.auth, payload: {} });
      const text = (await stack.app!.inject({ method: 'GET', url: '/metrics' })).body;
      for (const name of ['up_jobs_accepted_total', 'up_http_requests_total', 'up_queue_consumers', 'up_outbox_backlog']) {
        assert.ok(samples(text, name).length > 0, `${name} on the one endpoint`);
      }
    } finally {
      await stack.shutdown();
    }
    const split = await startStack({ embedded: true, env: { UP_METRICS_PORT: '0' } });
    try {
      assert.equal((await split.app!.inject({ method: 'GET', url: '/metrics' })).statusCode, 404);
      const text = await scrape(split.metricsUrl!);
      assert.ok(samples(text, 'up_queue_consumers').length > 0);
      assert.ok(samples(text, 'up_http_requests_total').length > 0);
    } finally {
      await split.shutdown();
    }
  });
});
