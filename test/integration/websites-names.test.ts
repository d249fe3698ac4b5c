/**
 * Whose names are whose (security review findings 9 and 12): site names are per owner, and a
 * tenant never learns another tenant's (404 where the name is someone else's, never 409); admins
 * address anyone's site, with ?owner= when the name is ambiguous. Domains cannot nest under or
 * above another user's site names or DNS zones, nor be a public suffix or above a proxy wildcard.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createToken } from '../../gateway/users/token-store.ts';
import { createUser } from '../../gateway/users/store.ts';
import { startStack } from '../helpers/stack.ts';

type Stack = Awaited<ReturnType<typeof startStack>>;
type Json = Record<string, any>;

describe('website names per owner, and domains nobody else holds', () => {
  let stack: Stack;
  const tokens: Record<string, string> = {};

  const call = async (who: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${stack.url}${path}`, {
      method,
      headers: {
        authorization: who === 'admin' ? stack.auth.authorization : `Bearer ${tokens[who]}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as Json };
  };
  const create = (who: string, name: string, domains: string[] = []) => call(who, 'POST', '/v1/websites', { name, proxy: 'p1', domains });

  before(async () => {
    stack = await startStack({ roles: ['gateway', 'recorder'] });
    const db = stack.database!.knex;
    for (const name of ['alice', 'bob', 'a_b', 'b']) {
      const user = await createUser(db, { name, role: 'user' });
      tokens[name] = (
        await createToken(db, {
          userId: user!.id,
          name: 't',
          scopes: ['read', 'write'],
          allowFrom: [],
          ratePerMinute: null,
          expiresAt: null,
        })
      ).secret;
    }
    assert.equal(
      (await call('admin', 'POST', '/v1/proxies', { name: 'p1', wildcardDomain: 'p1.example.net', addresses: ['192.0.2.10'] })).status,
      202,
    );
    // alice hosts two DNS zones here (rows as the zone routes write them; no DNS server answers in this test).
    const alice = await db('users').where({ name: 'alice' }).first('id');
    await db('hosts').insert({
      id: randomUUID(),
      name: 'ns1',
      address: '192.0.2.53',
      port: 22,
      ssh_user: 'root',
      host_key_sha256: 'SHA256:ns1',
      roles: ['dns'],
    });
    const server = randomUUID();
    await db('dns_servers').insert({
      id: server,
      name: 'ns',
      primary_host: 'ns1',
      address: '192.0.2.53',
      rndc_conf: '/etc/bind/rndc.conf',
      zone_dir: '/var/lib/bind',
      key_name: 'up',
    });
    for (const zone of ['alicezone.test', 'sub.zone2.test'])
      await db('dns_zones').insert({ id: randomUUID(), name: zone, owner_id: alice.id, server_id: server, status: 'active' });
  });

  after(async () => stack?.shutdown());

  test('two tenants may both have a site named shop; each reaches only their own', async () => {
    const a = await create('alice', 'shop');
    assert.equal(a.status, 202, JSON.stringify(a.body));
    const b = await create('bob', 'shop');
    assert.equal(b.status, 202, `no 409 telling bob that alice has a shop: ${JSON.stringify(b.body)}`);
    assert.notEqual(a.body.website.id, b.body.website.id);
    assert.deepEqual([a.body.website.tempDomain, b.body.website.tempDomain], ['shop-alice.p1.example.net', 'shop-bob.p1.example.net']);

    assert.equal((await call('bob', 'GET', '/v1/websites/shop')).body.id, b.body.website.id);
    assert.equal((await call('alice', 'GET', '/v1/websites/shop')).body.id, a.body.website.id);
    assert.equal((await call('bob', 'PATCH', '/v1/websites/shop', { maxBodySize: '7m' })).status, 202);
    assert.equal((await call('alice', 'GET', '/v1/websites/shop')).body.maxBodySize, '10m', "bob's edit changed only his own shop");
    assert.deepEqual(
      (await call('bob', 'GET', '/v1/websites')).body.items.map((s: Json) => s.id),
      [b.body.website.id],
    );

    const again = await create('bob', 'shop');
    assert.equal(again.status, 409);
    assert.equal(again.body.message, 'you already have a website named shop');
  });

  test("bob gets 404, never 409, for alice's site names on every website route", async () => {
    assert.equal((await create('alice', 'alicesonly')).status, 202);
    const routes: [string, string, unknown?][] = [
      ['GET', '/v1/websites/alicesonly'],
      ['PATCH', '/v1/websites/alicesonly', { maxBodySize: '1m' }],
      ['DELETE', '/v1/websites/alicesonly'],
      ['POST', '/v1/websites/alicesonly/content', { archive: 'H4sIAAAAAAAAA2NgGAWjYBQMRQAAGLoDGQAIAAA=' }],
      ['GET', '/v1/websites/alicesonly?owner=alice'],
      ['PATCH', '/v1/websites/alicesonly?owner=alice', { maxBodySize: '1m' }],
      ['DELETE', '/v1/websites/alicesonly?owner=alice'],
      ['GET', '/v1/websites/nobodyhasthis'],
    ];
    for (const [method, path, body] of routes) {
      const res = await call('bob', method, path, body);
      assert.equal(res.status, 404, `${method} ${path}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.message, 'website not found');
    }
    // bob's own name with another owner is not his either.
    assert.equal((await call('bob', 'GET', '/v1/websites/shop?owner=alice')).status, 404);
    assert.equal((await call('bob', 'GET', '/v1/websites/shop?owner=bob')).status, 200);
    const kept = await call('alice', 'GET', '/v1/websites/alicesonly');
    assert.equal(kept.status, 200);
    assert.equal(kept.body.maxBodySize, '10m');
  });

  test('admins address sites by name, and by ?owner= when several users have that name', async () => {
    const ambiguous = await call('admin', 'GET', '/v1/websites/shop');
    assert.equal(ambiguous.status, 409);
    assert.equal(ambiguous.body.message, 'several users have a website named shop (alice, bob): add ?owner=<user>');
    assert.equal((await call('admin', 'GET', '/v1/websites/shop?owner=alice')).body.owner, 'alice');
    assert.equal((await call('admin', 'GET', '/v1/websites/shop?owner=carol')).status, 404);
    assert.equal((await call('admin', 'PATCH', '/v1/websites/shop', { maxBodySize: '5m' })).status, 409);
    assert.equal((await call('admin', 'PATCH', '/v1/websites/shop?owner=bob', { maxBodySize: '5m' })).status, 202);
    assert.equal((await call('bob', 'GET', '/v1/websites/shop')).body.maxBodySize, '5m');
    assert.equal((await call('admin', 'DELETE', '/v1/websites/shop?owner=bob')).status, 202);
    assert.equal((await call('bob', 'GET', '/v1/websites/shop')).status, 404);
    // One shop left: the name alone is enough again.
    assert.equal((await call('admin', 'GET', '/v1/websites/shop')).body.owner, 'alice');
    assert.equal((await call('admin', 'GET', '/v1/websites/alicesonly')).body.owner, 'alice');
  });

  test("names under or above another user's site names or DNS zones are refused; siblings and one's own are not", async () => {
    assert.equal((await create('alice', 'www', ['www.alice.test'])).status, 202);
    const refusedForBob: [string, RegExp][] = [
      ['login.www.alice.test', /under or above a name another user's website or DNS zone holds/], // the review's reproduction
      ['deep.login.www.alice.test', /under or above/],
      ['alice.test', /under or above/], // above alice's name
      ['zone2.test', /under or above/], // above alice's zone sub.zone2.test
      ['www.alicezone.test', /lies in DNS zone alicezone\.test, which another user hosts here/], // in alice's zone
      ['alicezone.test', /lies in DNS zone alicezone\.test/],
      ['x.sub.zone2.test', /lies in DNS zone sub\.zone2\.test/],
    ];
    for (const [i, [name, reason]] of refusedForBob.entries()) {
      const res = await create('bob', `phish${i}`, [name]);
      assert.equal(res.status, 409, `${name}: ${JSON.stringify(res.body)}`);
      assert.match(res.body.message, reason, name);
      // Nothing alice holds is spelled out beyond bob's own name (and the zone it lies in, a suffix of it).
      const rest = res.body.message.split(name).join('');
      for (const held of ['www.alice.test', 'sub.zone2.test', 'alicezone.test'])
        if (!name.endsWith(held)) assert.ok(!rest.includes(held), `${name}: ${res.body.message}`);
    }
    // A sibling is bob's to take (first come): nothing of alice's is at, under or above it ...
    assert.equal((await create('bob', 'sibling', ['other.alice.test'])).status, 202);
    // ... after which the apex is under-and-above contested, for alice too.
    assert.equal((await call('alice', 'PATCH', '/v1/websites/www', { domains: ['www.alice.test', 'alice.test'] })).status, 409);
    // A name in a zone hosted here is the zone owner's, whatever another user's site claims above it.
    assert.equal((await create('alice', 'apex', ['deleg.test'])).status, 202);
    const db = stack.database!.knex;
    const bobId = (await db('users').where({ name: 'bob' }).first('id')).id;
    const server = (await db('dns_servers').first('id')).id;
    await db('dns_zones').insert({ id: randomUUID(), name: 'bob.deleg.test', owner_id: bobId, server_id: server, status: 'active' });
    assert.equal((await create('bob', 'delegated', ['www.bob.deleg.test'])).status, 202);
    assert.equal((await create('bob', 'undeleg', ['www.other.deleg.test'])).status, 409, "outside his zone, under alice's name");
    // alice's claim came first: her site stays editable with it, though bob's zone is now under it.
    assert.equal((await call('alice', 'PATCH', '/v1/websites/apex', { maxBodySize: '4m' })).status, 202);
    // alice's own names nest freely, also around her own zones.
    assert.equal((await create('alice', 'login', ['login.www.alice.test', 'zone2.test'])).status, 202);
    // Nothing bob was refused was stored.
    assert.deepEqual(
      (await call('bob', 'GET', '/v1/websites')).body.items.map((s: Json) => s.name),
      ['delegated', 'sibling'],
    );
  });

  test('public suffixes and names at, under or above a proxy wildcard domain are refused', async () => {
    for (const name of ['co.uk', 'github.io', 'blogspot.com', 'com.au']) {
      const res = await create('bob', 'suffix', [name]);
      assert.equal(res.status, 409, name);
      assert.match(res.body.message, /public suffixes/);
    }
    for (const name of ['example.net', 'p1.example.net', 'shop-alice.p1.example.net']) {
      const res = await create('bob', 'wild', [name]);
      assert.equal(res.status, 409, name);
      assert.match(res.body.message, /wildcard domain are reserved/);
    }
  });

  test('two keys that spell the same temporary subdomain: a 409, not a 500', async () => {
    assert.equal((await create('a_b', 'shop')).status, 202);
    const clash = await create('b', 'shop-a');
    assert.equal(clash.status, 409, JSON.stringify(clash.body));
    assert.equal(clash.body.message, 'the temporary subdomain shop-a-b.p1.example.net is taken: choose another name');
  });
});
