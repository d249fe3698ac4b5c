/**
 * Retries of website jobs (security review, finding 4): the job's site must still be there and
 * its owner's; a vhost removal is not retried once a site answers under its key again. Only the
 * gateway runs: the jobs stay queued, and their failure is written as the recorder writes it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { v7 } from 'uuid';
import { createToken } from '../../gateway/users/token-store.ts';
import { createUser } from '../../gateway/users/store.ts';
import { startStack } from '../helpers/stack.ts';

type Stack = Awaited<ReturnType<typeof startStack>>;
type Auth = { authorization: string };
type Json = Record<string, any>;

describe('retrying website jobs', () => {
  let stack: Stack;
  let alice: Auth;
  const db = () => stack.database!.knex;

  before(async () => {
    stack = await startStack({ roles: ['gateway'] });
    await db()('hosts').insert({
      id: v7(),
      name: 'h1',
      address: '10.92.0.11',
      port: 22,
      ssh_user: 'root',
      host_key_sha256: `SHA256:${'Q'.repeat(43)}`,
      roles: ['proxy'],
    });
    const user = (await createUser(db(), { name: 'alice', role: 'user' }))!;
    alice = {
      authorization: `Bearer ${(await createToken(db(), { userId: user.id, name: 't', scopes: ['read', 'write'], allowFrom: [], ratePerMinute: null, expiresAt: null })).secret}`,
    };
    assert.equal(
      (await call('POST', '/v1/proxies', { name: 'px', wildcardDomain: 'px.example.net', addresses: ['192.0.2.10'] })).statusCode,
      202,
    );
    assert.equal((await call('POST', '/v1/proxies/px/hosts', { host: 'h1' })).statusCode, 202);
  });

  after(async () => {
    await stack?.shutdown();
  });

  function call(method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown, auth: Auth = stack.auth) {
    return stack.app!.inject({ method, url, payload: body as never, headers: auth });
  }

  /** The job as a handler's permanent failure leaves it. */
  async function failed(job: Json): Promise<string> {
    await db()('jobs')
      .where({ id: job.id })
      .update({ status: 'failed', attempt: 1, error: { kind: 'permanent', message: 'nginx said no' }, finished_at: db().fn.now() });
    return job.id;
  }

  const siteJob = (res: { json(): Json }, op: string) => res.json().jobs.find((j: Json) => j.op === op);

  test("a failed website.apply of a site that is still there is retried as the owner's job", async () => {
    const created = await call('POST', '/v1/websites', { name: 'shop', proxy: 'px' }, alice);
    assert.equal(created.statusCode, 202, created.body);
    const id = await failed(siteJob(created, 'website.apply'));
    const retry = await call('POST', `/v1/jobs/${id}/retry`, undefined, alice);
    assert.equal(retry.statusCode, 202, retry.body);
    assert.equal(retry.json().retryOf, id);
    assert.deepEqual(retry.json().payload.host, { name: 'h1' });
  });

  test('once the site is gone (and another of the same name is there), its old apply is not retried', async () => {
    const old = (await db()('jobs').where({ op: 'website.apply', status: 'failed' }).first()).id;
    const removed = await call('DELETE', '/v1/websites/shop', undefined, alice);
    assert.equal(removed.statusCode, 202, removed.body);
    const deleteJob = await failed(siteJob(removed, 'website.delete'));
    const recreated = await call('POST', '/v1/websites', { name: 'shop', proxy: 'px' }, alice);
    assert.equal(recreated.statusCode, 202, recreated.body);
    for (const who of [alice, stack.auth]) {
      const apply = await call('POST', `/v1/jobs/${old}/retry`, undefined, who);
      assert.equal(apply.statusCode, 409, apply.body);
      assert.match(apply.json().message, /the website of job .* no longer exists/);
      // Removing the old vhost now would remove the new site's: it answers under the same key.
      const removal = await call('POST', `/v1/jobs/${deleteJob}/retry`, undefined, who);
      assert.equal(removal.statusCode, 409, removal.body);
      assert.match(removal.json().message, /a website answers at shop-alice again/);
    }
  });

  test('an admin still retries what only admins start, as it was stored', async () => {
    const probe = await call('POST', '/v1/hosts/h1/probe');
    assert.equal(probe.statusCode, 202, probe.body);
    const id = await failed(probe.json());
    const retry = await call('POST', `/v1/jobs/${id}/retry`);
    assert.equal(retry.statusCode, 202, retry.body);
    assert.deepEqual(retry.json().payload, probe.json().payload);
  });
});
