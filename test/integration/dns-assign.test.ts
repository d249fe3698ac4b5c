/**
 * An admin hands a zone to a user, on a real BIND: how a user gets a reverse zone, or a name an
 * admin held for them (security review, finding 3: users may not create those themselves). The
 * new owner must be able to hold the zone; the records their websites keep there follow.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { v7 } from 'uuid';
import { createToken } from '../../gateway/users/token-store.ts';
import { createUser } from '../../gateway/users/store.ts';
import { labBind, tsigKeysDir, type LabBind } from '../helpers/bind.ts';
import { runUp } from '../helpers/processes.ts';
import { TEST_TOKEN, startStack } from '../helpers/stack.ts';

type Stack = Awaited<ReturnType<typeof startStack>>;
type Auth = { authorization: string };
type Json = Record<string, any>;
type Res = { statusCode: number; body: string; json(): Json };

const FINAL = new Set(['succeeded', 'failed', 'dead', 'superseded']);

describe('an admin assigns a zone to a user', () => {
  let bind: LabBind;
  let keys: Awaited<ReturnType<typeof tsigKeysDir>>;
  let stack: Stack;
  let alice: Auth;
  let bob: Auth;
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
      return { authorization: `Bearer ${secret}` };
    };
    alice = await token('alice');
    bob = await token('bob');
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

  function call(method: 'GET' | 'POST', url: string, body?: unknown, auth: Auth = stack.auth): Promise<Res> {
    return stack.app!.inject({ method, url, payload: body as never, headers: auth });
  }

  async function finished(id: string, auth: Auth = stack.auth): Promise<Json> {
    for (let i = 0; i < 100; i++) {
      const job = (await call('GET', `/v1/jobs/${id}?waitMs=15000`, undefined, auth)).json();
      if (FINAL.has(job.status)) return job;
    }
    throw new Error(`job ${id} did not finish`);
  }

  async function ends(response: Res | Promise<Res>, status: string, auth: Auth = stack.auth): Promise<Json> {
    const res = await response;
    assert.equal(res.statusCode, 202, res.body);
    const job = await finished(res.json().id, auth);
    assert.equal(job.status, status, `${job.op}: ${JSON.stringify(job.error)}`);
    return job;
  }

  test('an admin gives a zone to the user whose website uses a name in it; their records follow', async () => {
    assert.equal(
      (await call('POST', '/v1/proxies', { name: 'p1', wildcardDomain: 'p1.web-admin.test', addresses: ['192.0.2.10'] })).statusCode,
      202,
    );
    assert.equal(
      (await call('POST', '/v1/websites', { name: 'bobsite', proxy: 'p1', domains: ['www.assigned.test'] }, bob)).statusCode,
      202,
    );
    await ends(await call('POST', '/v1/dns/zones', { name: 'assigned.test' }), 'succeeded');
    assert.deepEqual(await bind.dig('www.assigned.test', 'A'), [], "the admin's zone keeps no record for bob's site");

    const toAlice = await call('POST', '/v1/dns/zones/assigned.test/assign', { user: 'alice' });
    assert.equal(toAlice.statusCode, 409, toAlice.body);
    assert.match(toAlice.json().message, /holds www\.assigned\.test, a name another user's website uses/);
    assert.equal(
      (await call('POST', '/v1/dns/zones/assigned.test/assign', { user: 'bob' }, bob)).statusCode,
      403,
      'users do not assign zones',
    );

    const toBob = await call('POST', '/v1/dns/zones/assigned.test/assign', { user: 'bob' });
    assert.equal(toBob.statusCode, 200, toBob.body);
    assert.equal(toBob.json().zone.ownerId, (await db()('users').where({ name: 'bob' }).first()).id);
    const [job] = toBob.json().jobs;
    assert.equal(job.op, 'dns.records.apply');
    assert.equal((await finished(job.id, bob)).status, 'succeeded', 'the new owner follows the job');
    assert.deepEqual(await bind.dig('www.assigned.test', 'A'), ['192.0.2.10']);
    assert.ok(((await call('GET', '/v1/dns/zones', undefined, bob)).json().items as Json[]).some((z) => z.name === 'assigned.test'));

    const back = await call('POST', '/v1/dns/zones/assigned.test/assign', { user: 'alice' });
    assert.equal(back.statusCode, 409, back.body);
  });

  test('an admin creates a reverse zone and assigns it (up dns zones assign); the user keeps its PTR records', async () => {
    const reverse = '2.0.192.in-addr.arpa';
    assert.equal((await call('POST', '/v1/dns/zones', { name: reverse }, alice)).statusCode, 403);
    await ends(await call('POST', '/v1/dns/zones', { name: reverse }), 'succeeded');
    const assigned = await runUp(['dns', 'zones', 'assign', reverse, 'alice', '--json'], { UP_URL: stack.url!, UP_TOKEN: TEST_TOKEN });
    assert.equal(assigned.code, 0, assigned.stderr + assigned.stdout);
    assert.deepEqual(JSON.parse(assigned.stdout).jobs, []);
    assert.ok(((await call('GET', '/v1/dns/zones', undefined, alice)).json().items as Json[]).some((z) => z.name === reverse));
    await ends(
      await call('POST', `/v1/dns/zones/${reverse}/records`, { name: '10', type: 'PTR', target: 'host.alice.test.' }, alice),
      'succeeded',
      alice,
    );
    assert.deepEqual(await bind.dig(`10.${reverse}`, 'PTR'), ['host.alice.test.']);
    assert.equal((await call('POST', `/v1/dns/zones/${reverse}/assign`, { user: 'nobody' })).statusCode, 400);
    assert.equal((await call('POST', `/v1/dns/zones/unknown-${randomUUID().slice(0, 8)}.test/assign`, { user: 'alice' })).statusCode, 404);
  });
});
