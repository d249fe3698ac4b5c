/**
 * Deleting a proxy group: refused while it serves websites or has members (the 409 names them),
 * then the group, its wildcard certificate row and its DNS records go; the CLI asks first.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createToken } from '../../gateway/users/token-store.ts';
import { createUser } from '../../gateway/users/store.ts';
import { testCli } from '../helpers/cli.ts';
import { startStack } from '../helpers/stack.ts';

type Stack = Awaited<ReturnType<typeof startStack>>;
type Json = Record<string, any>;

describe('deleting a proxy group', () => {
  let stack: Stack;
  let alice: string;

  const call = async (token: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${stack.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as Json };
  };
  const admin = (method: string, path: string, body?: unknown) =>
    call(stack.auth.authorization.slice('Bearer '.length), method, path, body);

  before(async () => {
    stack = await startStack({ roles: ['gateway', 'recorder'] });
    const db = stack.database!.knex;
    const user = await createUser(db, { name: 'alice', role: 'user' });
    alice = (
      await createToken(db, { userId: user!.id, name: 't', scopes: ['read', 'write'], allowFrom: [], ratePerMinute: null, expiresAt: null })
    ).secret;
    for (const name of ['p1', 'p2'])
      assert.equal(
        (await admin('POST', '/v1/proxies', { name, wildcardDomain: `${name}.example.net`, addresses: ['192.0.2.10'] })).status,
        202,
      );
  });
  after(async () => {
    await stack?.shutdown();
  });

  test('a tenant cannot delete a group; an unknown one is 404', async () => {
    assert.equal((await call(alice, 'DELETE', '/v1/proxies/p1')).status, 403);
    assert.equal((await admin('DELETE', '/v1/proxies/nosuch')).status, 404);
  });

  test('refused while it serves a website, named in the 409; deleted once the site is gone, with its certificate row', async () => {
    assert.equal((await call(alice, 'POST', '/v1/websites', { name: 'shop', proxy: 'p1' })).status, 202);
    const refused = await admin('DELETE', '/v1/proxies/p1');
    assert.equal(refused.status, 409);
    assert.match(refused.body.message, /still serves 1 website\(s\) \(shop\): delete them first/);

    const db = stack.database!.knex;
    const group = await db('proxy_groups').where({ name: 'p1' }).first('id');
    await db('certificates').insert({
      id: randomUUID(),
      kind: 'wildcard',
      name: 'wildcard-p1',
      names: JSON.stringify(['p1.example.net', '*.p1.example.net']),
      challenge: 'dns-01',
      status: 'pending',
      proxy_group_id: group.id,
    });
    assert.equal((await call(alice, 'DELETE', '/v1/websites/shop')).status, 202);
    const deleted = await admin('DELETE', '/v1/proxies/p1');
    assert.equal(deleted.status, 202, JSON.stringify(deleted.body));
    assert.deepEqual(deleted.body.jobs, []);
    assert.equal((await admin('GET', '/v1/proxies/p1')).status, 404);
    assert.equal((await db('certificates').where({ proxy_group_id: group.id })).length, 0);
  });

  test('refused while it has members; the CLI asks first, and deletes with --yes', async () => {
    const db = stack.database!.knex;
    const host = { id: randomUUID(), name: 'edge1', address: '192.0.2.11', host_key_sha256: `SHA256:${'E'.repeat(43)}`, roles: ['proxy'] };
    await db('hosts').insert(host);
    const group = await db('proxy_groups').where({ name: 'p2' }).first('id');
    await db('proxy_members').insert({ group_id: group.id, host_id: host.id });
    const refused = await admin('DELETE', '/v1/proxies/p2');
    assert.equal(refused.status, 409);
    assert.match(refused.body.message, /still has members \(edge1\): remove them first/);
    await db('proxy_members').where({ group_id: group.id }).delete();

    const cli = await testCli();
    const env = { UP_URL: stack.url ?? undefined, UP_TOKEN: stack.auth.authorization.slice('Bearer '.length) };
    try {
      const unconfirmed = await cli.run(['proxies', 'delete', 'p2'], { env });
      assert.notEqual(unconfirmed.code, 0, 'without a terminal and without --yes nothing is deleted');
      assert.equal((await admin('GET', '/v1/proxies/p2')).status, 200);
      const confirmed = await cli.run(['proxies', 'delete', 'p2', '--yes'], { env });
      assert.equal(confirmed.code, 0, confirmed.stderr);
      assert.equal((await admin('GET', '/v1/proxies/p2')).status, 404);
    } finally {
      cli.cleanup();
    }
  });
});
