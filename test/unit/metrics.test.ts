import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify from 'fastify';
import { httpMetrics } from '../../gateway/plugins/http-metrics.ts';
import { newJobId, timeOfId } from '../../lib/ids.ts';
import { jobFinished, jobLatency, registry } from '../../lib/metrics.ts';

/** A metric's values; histograms name each of theirs (`_sum`, `_count`, `_bucket`). */
const series = async (name: string) =>
  (await registry.getSingleMetric(name)!.get()).values as { value: number; labels: Record<string, string | number>; metricName?: string }[];

test("a job's creation time is read from its UUIDv7 id; other ids have none", () => {
  const before = Date.now();
  const id = newJobId();
  const at = timeOfId(id)!;
  assert.ok(at >= before && at <= Date.now() + 1);
  assert.equal(timeOfId('3b241101-e2bb-4255-8caf-4136c566a962'), null, 'a UUIDv4');
  assert.equal(timeOfId('not an id'), null);
});

test('latency from submit to outcome is observed per op and outcome, never negative, and skipped without a creation time', async () => {
  jobLatency.reset();
  const id = newJobId();
  const created = timeOfId(id)!;
  jobFinished({ jobId: id, op: 'test.op', status: 'succeeded', at: new Date(created + 1500).toISOString() });
  // The handler's clock a little behind the gateway's.
  jobFinished({ jobId: newJobId(), op: 'test.op', status: 'failed', at: new Date(Date.now() - 5000).toISOString() });
  jobFinished({ jobId: '3b241101-e2bb-4255-8caf-4136c566a962', op: 'test.op', status: 'succeeded', at: new Date().toISOString() });
  const values = await series('up_job_latency_seconds');
  const sum = (outcome: string) => values.find((v) => v.metricName === 'up_job_latency_seconds_sum' && v.labels.outcome === outcome)?.value;
  const count = (outcome: string) =>
    values.find((v) => v.metricName === 'up_job_latency_seconds_count' && v.labels.outcome === outcome)?.value;
  assert.equal(sum('succeeded'), 1.5);
  assert.equal(count('succeeded'), 1, 'the job without a UUIDv7 id is counted as finished but not timed');
  assert.equal(sum('failed'), 0);
  const total = (await series('up_jobs_total')).filter((v) => v.labels.op === 'test.op');
  assert.equal(
    total.reduce((n, v) => n + v.value, 0),
    3,
  );
});

test('HTTP requests are counted by route pattern and status: ids in URLs make no series of their own', async () => {
  const app = Fastify();
  httpMetrics(app);
  app.get('/v1/jobs/:id', async (request, reply) => reply.code((request.params as { id: string }).id === 'gone' ? 404 : 200).send({}));
  for (const id of ['a1', 'b2', 'c3', 'gone']) await app.inject({ method: 'GET', url: `/v1/jobs/${id}` });
  await app.inject({ method: 'GET', url: '/etc/passwd?x=1' });
  await app.inject({ method: 'POST', url: '/v1/jobs/a1' });
  await app.close();
  const counts = Object.fromEntries(
    (await series('up_http_requests_total')).map((v) => [`${v.labels.method} ${v.labels.route} ${v.labels.status}`, v.value]),
  );
  assert.deepEqual(counts, { 'GET /v1/jobs/:id 200': 3, 'GET /v1/jobs/:id 404': 1, 'GET unmatched 404': 1, 'POST unmatched 404': 1 });
  const durations = (await series('up_http_request_duration_seconds')).filter(
    (v) => v.metricName === 'up_http_request_duration_seconds_count',
  );
  assert.equal(durations.find((v) => v.labels.route === '/v1/jobs/:id')?.value, 4);
});
