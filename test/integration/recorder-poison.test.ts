/**
 * Outcomes and dead letters PostgreSQL cannot take as they come (reliability review B4, B5):
 * a NUL byte or an unpaired surrogate from a host's output, numbers out of range, messages
 * that are not text at all. Each is published as a handler or the broker would, on RabbitMQ
 * and PostgreSQL; every job must still end, every dead letter must be kept, nothing may block
 * what comes after.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import { insertJob } from '../../gateway/jobs-store.ts';
import { newJobId } from '../../lib/ids.ts';
import { DEAD_EXCHANGE, RESULTS_EXCHANGE, opQueue } from '../../queues/topology.ts';
import { eventually } from '../helpers/eventually.ts';
import { freshVhost } from '../helpers/rabbitmq.ts';
import { startStack } from '../helpers/stack.ts';

type Stack = Awaited<ReturnType<typeof startStack>>;

describe('outcomes and dead letters that cannot be stored as they come (B4, B5)', () => {
  let stack: Stack;
  let vhost: Awaited<ReturnType<typeof freshVhost>>;
  let connection: amqp.ChannelModel;
  let channel: amqp.ConfirmChannel;

  before(async () => {
    vhost = await freshVhost();
    stack = await startStack({ amqpUrl: vhost.url });
    connection = await amqp.connect(vhost.url);
    channel = await connection.createConfirmChannel();
  });
  after(async () => {
    await connection?.close().catch(() => undefined);
    await stack?.shutdown();
    await vhost?.cleanup();
  });

  const db = () => stack.database!.knex;
  const inject = (method: 'GET' | 'POST', url: string) => stack.app!.inject({ method, url, headers: stack.auth });

  /** A job that a handler has taken (no handler of this stack will see it: it was never published). */
  async function queuedJob(): Promise<string> {
    const id = newJobId();
    await insertJob(db(), {
      id,
      op: 'system.ping',
      payload_version: 1,
      tenant: null,
      actor: 'test',
      payload: {},
      max_attempts: 4,
      correlation_id: id,
    });
    await db()('jobs').where({ id }).update({ status: 'queued' });
    return id;
  }

  /** Publishes on up.results exactly these bytes, as a handler would (routing key job.<status>). */
  async function publishResult(status: string, json: string): Promise<void> {
    channel.publish(RESULTS_EXCHANGE, `job.${status}`, Buffer.from(json), { persistent: true, contentType: 'application/json' });
    await channel.waitForConfirms();
  }

  const event = (jobId: string, status: string, extra: Record<string, unknown> = {}) => ({
    v: 1,
    jobId,
    op: 'system.ping',
    status,
    attempt: 1,
    at: new Date().toISOString(),
    handler: { host: 'web1', pid: 4242 },
    durationMs: 12,
    ...extra,
  });

  async function finalJob(id: string) {
    return eventually(
      `job ${id} to end`,
      async () => {
        const res = await inject('GET', `/v1/jobs/${id}`);
        const job = res.json();
        return ['succeeded', 'failed', 'dead'].includes(job.status) ? job : null;
      },
      { timeoutMs: 20_000 },
    );
  }

  test("a failure whose message holds NUL and control bytes (the review's repro): the job ends failed, the bytes escaped", async () => {
    const id = await queuedJob();
    await publishResult(
      'failed',
      JSON.stringify(event(id, 'failed', { error: { kind: 'permanent', message: 'web1: cat exited 1: \u0000\u0001 binary output' } })),
    );
    const job = await finalJob(id);
    assert.equal(job.status, 'failed');
    assert.equal(job.error.message, 'web1: cat exited 1: \\x00\\x01 binary output');
    assert.equal(job.events.at(-1).message, 'web1: cat exited 1: \\x00\\x01 binary output');
  });

  test('the same through every field and spelling: unpaired surrogates, NUL in result keys and values, hand-written escapes, a batch', async () => {
    const [surrogate, result, handWritten, a, b, c, retried] = await Promise.all(Array.from({ length: 7 }, queuedJob));
    await publishResult(
      'failed',
      JSON.stringify(
        event(surrogate, 'failed', { error: { kind: 'permanent', message: 'half a pair \ud83d and \ude00 alone', code: 'E\u0000' } }),
      ),
    );
    await publishResult(
      'succeeded',
      JSON.stringify(event(result, 'succeeded', { result: { 'k\u0000': ['v\u0000', '\udfff'], ok: true } })),
    );
    // Not from JSON.stringify: \u0000 as another publisher may write it, and an escaped pair.
    await publishResult(
      'failed',
      `{"v":1,"jobId":"${handWritten}","op":"system.ping","status":"failed","attempt":1,"at":"${new Date().toISOString()}","handler":{"host":"web\\u0000","pid":1},"error":{"kind":"permanent","message":"\\u0000\\ud83d\\ude00\\u001b[2J"}}`,
    );
    // A handler's batch: one poisoned event among plain ones.
    await publishResult(
      'failed',
      JSON.stringify([
        event(a, 'failed', { error: { kind: 'permanent', message: 'plain' } }),
        event(b, 'failed', { error: { kind: 'permanent', message: 'x\u0000' } }),
        event(c, 'failed', { error: { kind: 'permanent', message: 'also plain' } }),
      ]),
    );
    // A step before the outcome (kept in job_events, whose message column is text).
    await publishResult(
      'retrying',
      JSON.stringify(event(retried, 'retrying', { error: { kind: 'retryable', message: 'busy\u0000' }, retryInMs: 200 })),
    );
    await publishResult('succeeded', JSON.stringify(event(retried, 'succeeded', { attempt: 2 })));

    assert.deepEqual((await finalJob(surrogate)).error, {
      kind: 'permanent',
      message: 'half a pair \ufffd and \ufffd alone',
      code: 'E\\x00',
    });
    const withResult = await finalJob(result);
    assert.equal(withResult.status, 'succeeded');
    assert.deepEqual(withResult.result, { 'k\\x00': ['v\\x00', '\ufffd'], ok: true });
    const hand = await finalJob(handWritten);
    assert.equal(hand.error.message, '\\x00\ud83d\ude00\\x1b[2J');
    assert.equal(hand.events.at(-1).handler.host, 'web\\x00');
    assert.deepEqual(
      [await finalJob(a), await finalJob(b), await finalJob(c)].map((j) => j.error.message),
      ['plain', 'x\\x00', 'also plain'],
    );
    const again = await finalJob(retried);
    assert.deepEqual(
      again.events.map((e: { status: string; message: string | null }) => `${e.status}:${e.message}`),
      ['retrying:busy\\x00', 'succeeded:null'],
    );
  });

  test('an outcome PostgreSQL refuses even when cleaned (22003: a duration beyond int4) still ends its job, with a placeholder', async () => {
    const [huge, plain] = await Promise.all([queuedJob(), queuedJob()]);
    await publishResult(
      'failed',
      JSON.stringify([
        event(huge, 'failed', { durationMs: 1e13, error: { kind: 'permanent', message: 'took a while' } }),
        event(plain, 'failed', { error: { kind: 'permanent', message: 'plain' } }),
      ]),
    );
    const job = await finalJob(huge);
    assert.equal(job.status, 'failed');
    assert.match(job.error.message, /the handler's report could not be stored \(PostgreSQL 22003\)/);
    assert.equal(job.error.kind, 'permanent');
    assert.equal((await finalJob(plain)).error.message, 'plain', 'the event that shared the batch is kept as it came');

    const succeeded = await queuedJob();
    await publishResult('succeeded', JSON.stringify(event(succeeded, 'succeeded', { at: '0000-01-01T00:00:00Z', result: { fine: true } })));
    const ok = await finalJob(succeeded);
    assert.equal(ok.status, 'succeeded', 'a success stays a success');
    assert.match(ok.result.unrecorded, /could not be stored \(PostgreSQL 22008\)/);
  });

  test('an event that names no job this database can hold (not a uuid: 22P02) is dropped, and blocks nothing after it', async () => {
    const after = await queuedJob();
    await publishResult(
      'failed',
      JSON.stringify([event('not-a-uuid', 'failed', { error: { kind: 'permanent', message: 'x' } }), event(after, 'succeeded')]),
    );
    await publishResult('succeeded', JSON.stringify(event('also\u0000bad', 'succeeded')));
    const next = await queuedJob();
    await publishResult('succeeded', JSON.stringify(event(next, 'succeeded')));
    assert.equal((await finalJob(after)).status, 'succeeded');
    assert.equal((await finalJob(next)).status, 'succeeded');
  });

  test("17 dead letters holding NUL bytes, then a plain one: every one is kept, byte for byte (the review's B5 repro)", async () => {
    const letters = Array.from({ length: 17 }, (_, i) => Buffer.from([0x00, 0x42, i]));
    for (const content of letters) channel.sendToQueue(opQueue('system.ping'), content, { persistent: true });
    channel.sendToQueue(opQueue('system.ping'), Buffer.from('not json'), { persistent: true });
    // Not UTF-8 at all, and a handler's reason that holds a NUL.
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x80]);
    channel.publish(DEAD_EXCHANGE, '', binary, {
      persistent: true,
      headers: { 'x-up-dead-reason': 'failed: \u0000 in stderr', 'x-up-dead-op': 'system.ping' },
    });
    await channel.waitForConfirms();

    const expected = [...letters, Buffer.from('not json'), binary];
    const rows = await eventually(
      'every dead letter to be kept',
      async () => {
        const found: { content: Uint8Array; reason: string; op: string | null }[] = await db()('dead_letters').select(
          'content',
          'reason',
          'op',
        );
        const kept = expected.filter((bytes) => found.some((r) => Buffer.from(r.content).equals(bytes)));
        return kept.length === expected.length ? found : null;
      },
      {
        timeoutMs: 30_000,
        explain: async () => `kept ${(await db()('dead_letters').count<{ n: number }[]>({ n: '*' }))[0].n} of ${expected.length}`,
      },
    );
    const reasonOf = (bytes: Buffer) => rows.find((r) => Buffer.from(r.content).equals(bytes))!.reason;
    assert.match(reasonOf(letters[0]), /^invalid message: not JSON/);
    assert.equal(reasonOf(binary), 'failed: \\x00 in stderr');

    const listed = (await inject('GET', '/v1/dlq?limit=500')).json().items as { id: string; op: string | null; reason: string }[];
    assert.ok(listed.length >= expected.length);
    const nul = listed.find((d) => /not JSON/.test(d.reason))!;
    const replay = await inject('POST', `/v1/dlq/${nul.id}/replay`);
    assert.equal(replay.statusCode, 422);
    assert.match(replay.json().message, /not JSON/);
  });
});
