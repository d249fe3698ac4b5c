import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { opQueue } from '../../queues/topology.ts';
import { startStack } from '../helpers/stack.ts';

type Stack = Awaited<ReturnType<typeof startStack>>;

/** The embedded default (PGlite + in-process bus): the whole pipeline in one process. */
describe('embedded default: gateway → outbox → bus → handler → recorder', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ embedded: true });
  });
  after(() => stack.shutdown());

  const inject = (method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {}) =>
    stack.app!.inject({ method, url, payload: body as never, headers: { ...stack.auth, ...headers } });

  async function waitFinal(id: string) {
    const res = await inject('GET', `/v1/jobs/${id}?waitMs=15000`);
    assert.equal(res.statusCode, 200);
    return res.json();
  }

  test('a ping is accepted with 202 and a Location, and succeeds with events', async () => {
    const res = await inject('POST', '/v1/system/ping', {});
    assert.equal(res.statusCode, 202);
    const job = res.json();
    assert.equal(res.headers.location, `/v1/jobs/${job.id}`);
    assert.equal(job.op, 'system.ping');
    assert.match(job.status, /^(accepted|queued)$/);
    const done = await waitFinal(job.id);
    assert.equal(done.status, 'succeeded');
    assert.equal(done.result.handler.pid, process.pid);
    assert.deepEqual(
      done.events.map((e: { status: string }) => e.status),
      ['succeeded'],
      'a quick job reports only its outcome',
    );
    assert.equal(done.events[0].handler.pid, process.pid);
  });

  test('a job that takes a while reports running while it works', async () => {
    const job = (await inject('POST', '/v1/system/ping', { delayMs: 400 })).json();
    await sleep(250);
    const midway = (await inject('GET', `/v1/jobs/${job.id}`)).json();
    assert.equal(midway.status, 'running');
    const done = await waitFinal(job.id);
    assert.deepEqual(
      done.events.map((e: { status: string }) => e.status),
      ['running', 'succeeded'],
    );
  });

  test('a transient failure retries along the tiers and then succeeds', async () => {
    const job = (await inject('POST', '/v1/system/ping', { fail: 'transient', failAttempts: 2 })).json();
    const done = await waitFinal(job.id);
    assert.equal(done.status, 'succeeded');
    assert.equal(done.attempt, 3);
    const retrying = done.events.filter((e: { status: string }) => e.status === 'retrying');
    assert.equal(retrying.length, 2);
  });

  test('transient failures beyond maxAttempts end dead, and in the dead letters', async () => {
    const job = (await inject('POST', '/v1/system/ping', { fail: 'transient' })).json();
    const done = await (async () => {
      for (;;) {
        const j = await waitFinal(job.id);
        if (j.status !== 'retrying' && j.status !== 'running') return j;
      }
    })();
    assert.equal(done.status, 'dead');
    assert.equal(done.attempt, 4);
  });

  test('a permanent failure goes to dead letters at once, and replay runs it again as a new job', async () => {
    const job = (await inject('POST', '/v1/system/ping', { fail: 'permanent' })).json();
    const done = await waitFinal(job.id);
    assert.equal(done.status, 'failed');
    assert.equal(done.attempt, 1);
    assert.equal(done.error.message, 'asked to fail permanently');

    let letter;
    for (let i = 0; i < 50 && !letter; i++) {
      letter = (await inject('GET', '/v1/dlq')).json().items.find((d: { jobId: string }) => d.jobId === job.id);
      if (!letter) await sleep(50);
    }
    assert.ok(letter, 'the permanent failure is in the dead letters');
    const replay = await inject('POST', `/v1/dlq/${letter.id}/replay`);
    assert.equal(replay.statusCode, 202);
    assert.equal(replay.json().retryOf, job.id);
    assert.equal((await inject('POST', `/v1/dlq/${letter.id}/replay`)).statusCode, 409);
  });

  test('retry of a failed job creates a new linked job; retry of a succeeded one is refused', async () => {
    const failed = (await inject('POST', '/v1/system/ping', { fail: 'permanent' })).json();
    await waitFinal(failed.id);
    const retry = await inject('POST', `/v1/jobs/${failed.id}/retry`);
    assert.equal(retry.statusCode, 202);
    assert.equal(retry.json().retryOf, failed.id);

    const ok = (await inject('POST', '/v1/system/ping', {})).json();
    await waitFinal(ok.id);
    const refused = await inject('POST', `/v1/jobs/${ok.id}/retry`);
    assert.equal(refused.statusCode, 409);
    assert.match(refused.json().message, /only failed or dead jobs/);
  });

  test('a poison message lands in dead letters at once and does not block the queue', async () => {
    await stack.bus.transport.publish('', opQueue('system.ping'), Buffer.from('{"not":"an envelope"'));
    await stack.bus.transport.publish('', opQueue('system.ping'), Buffer.from(JSON.stringify({ v: 1, id: 'x' })));
    const job = (await inject('POST', '/v1/system/ping', {})).json();
    assert.equal((await waitFinal(job.id)).status, 'succeeded');
    let reasons: string[] = [];
    for (let i = 0; i < 50 && reasons.length < 2; i++) {
      reasons = (await inject('GET', '/v1/dlq'))
        .json()
        .items.map((d: { reason: string }) => d.reason)
        .filter((r: string) => r.startsWith('invalid message'));
      await sleep(50);
    }
    assert.ok(reasons.some((r) => r.includes('not JSON')));
    assert.ok(reasons.some((r) => r.includes('bad envelope')));
  });

  test('results of jobs this database does not know are skipped and block nothing', async () => {
    const stray = {
      v: 1,
      jobId: '0190a1b2-0000-7000-8000-00000000dead',
      op: 'system.ping',
      status: 'succeeded',
      attempt: 1,
      at: new Date().toISOString(),
      handler: { host: 'elsewhere', pid: 1 },
    };
    await stack.bus.publishResult(stray as never);
    const job = (await inject('POST', '/v1/system/ping', {})).json();
    assert.equal((await waitFinal(job.id)).status, 'succeeded');
  });

  test('the same Idempotency-Key returns the same job', async () => {
    const a = await inject('POST', '/v1/system/ping', {}, { 'idempotency-key': 'same-key-1' });
    const b = await inject('POST', '/v1/system/ping', {}, { 'idempotency-key': 'same-key-1' });
    assert.equal(a.json().id, b.json().id);
    const c = await inject('POST', '/v1/system/ping', {}, { 'idempotency-key': 'other-key' });
    assert.notEqual(a.json().id, c.json().id);
  });

  test('bad input is a 400 naming the field; never a 500', async () => {
    const cases: [unknown, RegExp][] = [
      [{ delayMs: -1 }, /delayMs/],
      [{ delayMs: 'soon' }, /delayMs/],
      [{ fail: 'sometimes' }, /fail/],
      [{ extra: true }, /additional/],
      [[1, 2], /body/],
    ];
    for (const [body, field] of cases) {
      const res = await inject('POST', '/v1/system/ping', body);
      assert.equal(res.statusCode, 400, JSON.stringify(body));
      assert.equal(res.json().error, 'bad_request');
      assert.match(res.json().message, field);
    }
    const broken = await stack.app!.inject({
      method: 'POST',
      url: '/v1/system/ping',
      payload: '{"delayMs":',
      headers: { ...stack.auth, 'content-type': 'application/json' },
    });
    assert.equal(broken.statusCode, 400);
    assert.equal((await inject('GET', '/v1/jobs/not-a-uuid')).statusCode, 400);
    assert.equal((await inject('GET', '/v1/jobs/0190a1b2-0000-7000-8000-000000000000')).statusCode, 404);
    assert.equal((await inject('GET', '/v1/jobs?limit=100000')).statusCode, 400);
    assert.equal((await inject('GET', '/v1/jobs?status=bogus')).statusCode, 400);
    assert.equal((await inject('GET', '/v1/nothing-here')).statusCode, 404);
    const badKey = await inject('POST', '/v1/system/ping', {}, { 'idempotency-key': 'has space' });
    assert.equal(badKey.statusCode, 400);
  });

  test('secrets work with nothing configured: the key is made in the data directory, readable by its owner only', async () => {
    const file = join(stack.dataDir, 'secrets-key');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const res = await stack.app!.inject({
      method: 'PUT',
      url: '/v1/secrets/first',
      payload: { value: 'embedded-value' },
      headers: stack.auth,
    });
    assert.equal(res.statusCode, 201, res.body);
    assert.ok(!res.body.includes('embedded-value'));
    const row = await stack.database!.knex('secrets').where({ name: 'first' }).first();
    assert.match(row.ciphertext, /^v1\./);
    assert.ok(!row.ciphertext.includes('embedded-value'));
  });

  test('every /v1 route needs the bearer token', async () => {
    const none = await stack.app!.inject({ method: 'GET', url: '/v1/jobs' });
    assert.equal(none.statusCode, 401);
    assert.equal(none.json().error, 'unauthorized');
    const wrong = await stack.app!.inject({ method: 'GET', url: '/v1/jobs', headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.statusCode, 401);
    assert.equal((await stack.app!.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  });

  test('jobs list filters by status and op and pages with a cursor', async () => {
    for (let i = 0; i < 3; i++) await waitFinal((await inject('POST', '/v1/system/ping', {})).json().id);
    const first = (await inject('GET', '/v1/jobs?status=succeeded&op=system.ping&limit=2')).json();
    assert.equal(first.items.length, 2);
    assert.ok(first.items.every((j: { status: string }) => j.status === 'succeeded'));
    assert.ok(first.next);
    const second = (await inject('GET', `/v1/jobs?status=succeeded&limit=2&after=${first.next}`)).json();
    const last = first.items.at(-1).id;
    assert.ok(second.items.every((j: { id: string }) => j.id < last));
  });

  test('every list pages the same way: limit, then after=next until next is absent', async () => {
    for (const name of ['page one', 'page two', 'page three']) assert.equal((await inject('POST', '/v1/tokens', { name })).statusCode, 201);
    const walk = async (path: string, limit: number) => {
      const ids: unknown[] = [];
      let next: string | undefined;
      do {
        const query = new URLSearchParams({ limit: String(limit), ...(next ? { after: next } : {}) });
        const res = await inject('GET', `${path}${path.includes('?') ? '&' : '?'}${query}`);
        assert.equal(res.statusCode, 200, res.body);
        const page = res.json();
        assert.ok(page.items.length <= limit);
        ids.push(...page.items.map((i: { id?: string; queue?: string }) => i.id ?? i.queue));
        next = page.next;
      } while (next);
      return ids;
    };
    for (const path of ['/v1/tokens', '/v1/dlq?all=true', '/v1/queues', '/v1/jobs', '/v1/audit']) {
      const whole = await walk(path, 500);
      assert.ok(whole.length > 0, path);
      assert.deepEqual(await walk(path, 2), whole, `${path} page by page`);
    }
    assert.ok((await walk('/v1/tokens', 500)).length >= 3);
    const bad = await inject('GET', '/v1/tokens?after=bm90LWEtY3Vyc29y');
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().message, /after/);
  });

  test('readyz, metrics and the OpenAPI 3.1 document', async () => {
    const ready = await stack.app!.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 200);
    assert.deepEqual(ready.json().checks, { database: 'ok', broker: 'ok' });
    const metrics = await stack.app!.inject({ method: 'GET', url: '/metrics' });
    assert.match(metrics.body, /up_jobs_total\{op="system.ping",outcome="succeeded"\} \d+/);
    assert.match(metrics.body, /up_outbox_backlog \d+/);
    const doc = (await stack.app!.inject({ method: 'GET', url: '/openapi.json' })).json();
    assert.equal(doc.openapi, '3.1.0');
    const ids = Object.values(doc.paths).flatMap((p) =>
      Object.values(p as Record<string, { operationId: string }>).map((o) => o.operationId),
    );
    assert.ok(ids.includes('pingSystem') && ids.includes('getJob') && ids.includes('retryJob'));
    assert.ok(doc.components.schemas.Job && doc.components.schemas.SystemPingPayload);
    assert.equal((await stack.app!.inject({ method: 'GET', url: '/docs' })).statusCode < 400, true);
  });
});
