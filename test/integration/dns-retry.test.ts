/**
 * Retrying DNS jobs, on a real BIND (security review, finding 4): a retry acts on the zone the job
 * was for, found by id and planned from it as it is now, never on another user's zone that carries
 * the name today; users retry only what they start themselves.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { v7 } from 'uuid';
import { dnsObservers } from '../../gateway/dns/observers.ts';
import type { JobRow } from '../../gateway/jobs-store.ts';
import { createToken } from '../../gateway/users/token-store.ts';
import { createUser } from '../../gateway/users/store.ts';
import { labBind, tsigKeysDir, type LabBind } from '../helpers/bind.ts';
import { startStack } from '../helpers/stack.ts';
import { domains } from '../../gateway/domains.ts';

type Stack = Awaited<ReturnType<typeof startStack>>;
type Auth = { authorization: string };
type Json = Record<string, any>;
type Res = { statusCode: number; body: string; json(): Json };

const FINAL = new Set(['succeeded', 'failed', 'dead', 'superseded']);

describe('retrying DNS jobs acts on the same zone, by id', () => {
  let bind: LabBind;
  let keys: Awaited<ReturnType<typeof tsigKeysDir>>;
  let stack: Stack;
  let alice: Auth;
  let bob: Auth;
  let aliceId: string;
  const db = () => stack.database!.knex;

  before(async () => {
    bind = await labBind();
    keys = await tsigKeysDir(bind.key.name, bind.key.secret);
    process.env.UP_TSIG_KEYS_DIR = keys.dir;
    stack = await startStack();
    await db()('hosts').insert({
      id: v7(),
      name: 'dns1',
      address: '127.0.0.1',
      port: 22,
      ssh_user: 'root',
      host_key_sha256: `SHA256:${'A'.repeat(43)}`,
      local: true,
    });
    const token = async (name: string) => {
      const user = (await createUser(db(), { name, role: 'user' }))!;
      const { secret } = await createToken(db(), {
        userId: user.id,
        name: 't',
        scopes: ['read', 'write'],
        allowFrom: [],
        ratePerMinute: null,
        expiresAt: null,
      });
      return { id: user.id, auth: { authorization: `Bearer ${secret}` } };
    };
    const a = await token('alice');
    ({ id: aliceId, auth: alice } = a);
    bob = (await token('bob')).auth;
    const server = await call('POST', '/v1/dns/servers', {
      name: 'lab',
      primary: 'dns1',
      address: bind.server.address,
      port: bind.server.port,
      rndcConf: join(bind.dir, 'rndc.conf'),
      zoneDir: join(bind.dir, 'zones'),
      keyName: bind.key.name,
    });
    assert.equal(server.statusCode, 201, server.body);
  });

  after(async () => {
    await stack?.shutdown();
    await bind?.down();
    await keys?.remove();
    delete process.env.UP_TSIG_KEYS_DIR;
  });

  function call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown, auth: Auth = stack.auth): Promise<Res> {
    return stack.app!.inject({ method, url, payload: body as never, headers: auth });
  }

  async function finished(id: string, auth: Auth = stack.auth): Promise<Json> {
    for (let i = 0; i < 100; i++) {
      const job = (await call('GET', `/v1/jobs/${id}?waitMs=15000`, undefined, auth)).json();
      if (FINAL.has(job.status)) return job;
    }
    throw new Error(`job ${id} did not finish`);
  }

  /** A 202 whose job ends in `status`. */
  async function ends(response: Res | Promise<Res>, status: string, auth: Auth = stack.auth): Promise<Json> {
    const res = await response;
    assert.equal(res.statusCode, 202, res.body);
    const job = await finished(res.json().id, auth);
    assert.equal(job.status, status, `${job.op}: ${JSON.stringify(job.error)}`);
    return job;
  }

  /** The server misconfigured for a moment: jobs submitted meanwhile fail on the real server. */
  async function whileBroken<T>(column: 'key_name' | 'rndc_conf', value: string, run: () => Promise<T>): Promise<T> {
    const [server] = await db()('dns_servers').select(column);
    await db()('dns_servers').update({ [column]: value });
    try {
      return await run();
    } finally {
      await db()('dns_servers').update({ [column]: server[column] });
    }
  }

  const retry = (id: string, auth: Auth) => call('POST', `/v1/jobs/${id}/retry`, undefined, auth);

  test("the review's handover: alice's old records and delete jobs, retried, leave bob's zone of the same name alone", async () => {
    await ends(await call('POST', '/v1/dns/zones', { name: 'handover.test' }, alice), 'succeeded', alice);
    const add = await whileBroken('key_name', 'missing-key', () =>
      ends(
        call('POST', '/v1/dns/zones/handover.test/records', { name: 'www', type: 'A', address: '198.51.100.7' }, alice),
        'failed',
        alice,
      ),
    );
    const firstDelete = await whileBroken('rndc_conf', '/nonexistent/rndc.conf', () =>
      ends(call('DELETE', '/v1/dns/zones/handover.test', undefined, alice), 'failed', alice),
    );
    await ends(await call('DELETE', '/v1/dns/zones/handover.test', undefined, alice), 'succeeded', alice);
    await ends(await call('POST', '/v1/dns/zones', { name: 'handover.test' }, bob), 'succeeded', bob);

    for (const job of [add, firstDelete]) {
      for (const who of [alice, stack.auth]) {
        const res = await retry(job.id, who);
        assert.equal(res.statusCode, 409, `${job.op}: ${res.body}`);
        assert.match(res.json().message, /zone handover\.test of job .* no longer exists, or is another zone now/);
      }
    }
    assert.equal((await bind.dig('handover.test', 'SOA')).length, 1, "bob's zone is still served");
    assert.deepEqual(await bind.dig('www.handover.test', 'A'), [], "alice's record did not land in bob's zone");
    const zone = (await call('GET', '/v1/dns/zones/handover.test', undefined, bob)).json();
    assert.equal(zone.status, 'active');
    assert.equal(zone.statusMessage, null);
    assert.equal((await db()('jobs').where({ retry_of: add.id }).orWhere({ retry_of: firstDelete.id })).length, 0, 'no job was submitted');
  });

  test("a late outcome of alice's old job is written to her zone, by id: bob's zone of the same name keeps its status", async () => {
    const old: JobRow = await db()('jobs').where({ op: 'dns.records.apply', owner_id: aliceId, target: 'handover.test' }).first();
    await dnsObservers
      .find((entry) => entry.op.name === 'dns.records.apply')!
      .observe(
        db(),
        old,
        {
          v: 1,
          jobId: old.id,
          op: old.op,
          status: 'failed',
          attempt: 2,
          at: new Date().toISOString(),
          handler: { host: 'h', pid: 1 },
          error: { kind: 'permanent', message: 'a late failure' },
        } as never,
        { domains, publish: () => undefined },
      );
    const zone = (await call('GET', '/v1/dns/zones/handover.test', undefined, bob)).json();
    assert.deepEqual([zone.status, zone.statusMessage], ['active', null]);
  });

  test("a user's view of the failed job and zone says what failed, without the TSIG key's name or the handler's paths", async () => {
    await ends(await call('POST', '/v1/dns/zones', { name: 'shown.test' }, alice), 'succeeded', alice);
    const failed = await whileBroken('key_name', 'missing-key', () =>
      ends(call('POST', '/v1/dns/zones/shown.test/records', { name: 'www', type: 'A', address: '198.51.100.8' }, alice), 'failed', alice),
    );
    const asAdmin = await finished(failed.id);
    assert.match(asAdmin.error.message, /missing-key/);
    assert.ok(asAdmin.error.message.includes(keys.dir), asAdmin.error.message);
    for (const body of [
      (await call('GET', `/v1/jobs/${failed.id}`, undefined, alice)).body,
      (await call('GET', '/v1/dns/zones/shown.test', undefined, alice)).body,
    ]) {
      assert.ok(!body.includes('missing-key') && !body.includes(keys.dir) && !body.includes(bind.key.name), body);
      assert.ok(!new RegExp(`"port":${bind.server.port}\\b|${bind.server.address}`).test(body), body);
      assert.match(body, /TSIG key/);
    }
  });

  test('a failed job on an unchanged zone is retried, planned from the server as registered now', async () => {
    await ends(await call('POST', '/v1/dns/zones', { name: 'legit.test' }, alice), 'succeeded', alice);
    const failed = await whileBroken('key_name', 'missing-key', () =>
      ends(call('POST', '/v1/dns/zones/legit.test/records', { name: 'api', type: 'A', address: '10.1.0.1' }, alice), 'failed', alice),
    );
    assert.equal((await call('GET', '/v1/dns/zones/legit.test', undefined, alice)).json().status, 'error');
    const again = await ends(await retry(failed.id, alice), 'succeeded', alice);
    assert.equal(again.retryOf, failed.id);
    assert.deepEqual(await bind.dig('api.legit.test', 'A'), ['10.1.0.1']);
    assert.equal((await call('GET', '/v1/dns/zones/legit.test', undefined, alice)).json().status, 'active');
    const whole = await finished(again.id);
    assert.equal(whole.payload.server.keyName, bind.key.name, 'the server as it is now, not the broken one the old job carried');
    assert.deepEqual(whole.payload.changes, (await finished(failed.id)).payload.changes);
  });

  test('a retry whose change was since undone is refused; the later state stands', async () => {
    const failed = await whileBroken('key_name', 'missing-key', () =>
      ends(call('POST', '/v1/dns/zones/legit.test/records', { name: 'tmp', type: 'A', address: '10.1.0.9' }, alice), 'failed', alice),
    );
    const row = ((await call('GET', '/v1/dns/zones/legit.test/records', undefined, alice)).json().items as Json[]).find(
      (r) => r.name === 'tmp',
    )!;
    await ends(await call('DELETE', `/v1/dns/zones/legit.test/records/${row.id}`, undefined, alice), 'succeeded', alice);
    const res = await retry(failed.id, alice);
    assert.equal(res.statusCode, 409, res.body);
    assert.match(res.json().message, /none of its changes is left to apply/);
    assert.deepEqual(await bind.dig('tmp.legit.test', 'A'), []);
  });

  test('a user may not retry what an admin or up started, even when it is about them (403)', async () => {
    const host = { name: 'dns1', address: '127.0.0.1', port: 22, user: 'root', hostKeySha256: `SHA256:${'A'.repeat(43)}` };
    const jobs = [
      ['tenant.provision', { host, tenant: 'alice' }],
      ['tenant.deprovision', { host, tenant: 'alice' }],
      ['proxy.apply', { host, layout: {}, wildcardDomain: 'p.example.net', generation: 1 }],
      ['host.probe', { host }],
      ['health.repair.website', { host, layout: {}, site: {} }],
    ] as const;
    for (const [op, payload] of jobs) {
      const id = v7();
      await db()('jobs').insert({
        id,
        op,
        payload_version: 1,
        status: 'failed',
        tenant: 'alice',
        actor: 'admin',
        payload,
        max_attempts: 3,
        correlation_id: id,
        owner_id: aliceId,
      });
      const res = await retry(id, alice);
      assert.equal(res.statusCode, 403, `${op}: ${res.body}`);
      assert.match(res.json().message, new RegExp(`${op.replace(/\./g, '\\.')} jobs are started by an admin`));
      assert.equal((await retry(id, bob)).statusCode, 404, `${op}: another user does not learn it exists`);
    }
  });
});
