/**
 * Which zones a user may create (security review, finding 3): none that holds another user's
 * website names or temporary subdomains, a proxy group's wildcard domain, a public suffix or a
 * reverse zone. Every reproduction of the review, in other spellings too. Decided by the gateway
 * before any job: only the gateway runs, and the jobs of accepted zones stay queued.
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

const WILDCARD = 'lab.example.net';

describe('a user cannot take zones that hold what others use here', () => {
  let stack: Stack;
  let alice: Auth;
  let bob: Auth;

  before(async () => {
    stack = await startStack({ roles: ['gateway'] });
    const db = stack.database!.knex;
    await db('hosts').insert({
      id: v7(),
      name: 'dns1',
      address: '127.0.0.1',
      port: 22,
      ssh_user: 'root',
      host_key_sha256: `SHA256:${'A'.repeat(43)}`,
      local: true,
    });
    const token = async (name: string) => {
      const user = (await createUser(db, { name, role: 'user' }))!;
      const { secret } = await createToken(db, {
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
      address: '127.0.0.1',
      port: 5300,
      keyName: 'lab-key',
    });
    assert.equal(server.statusCode, 201, server.body);
    assert.equal((await call('POST', '/v1/proxies', { name: 'px', wildcardDomain: WILDCARD, addresses: ['192.0.2.10'] })).statusCode, 202);
    // alice's site: www.tena-site.test, its DNS elsewhere; it answers at once at sitea-alice.lab.example.net.
    const site = await call('POST', '/v1/websites', { name: 'sitea', proxy: 'px', domains: ['www.tena-site.test'] }, alice);
    assert.equal(site.statusCode, 202, site.body);
  });

  after(async () => {
    await stack?.shutdown();
  });

  function call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown, auth: Auth = stack.auth) {
    return stack.app!.inject({ method, url, payload: body as never, headers: auth });
  }

  async function refused(name: string, auth: Auth, status: number, message: RegExp): Promise<void> {
    const res = await call('POST', '/v1/dns/zones', { name }, auth);
    assert.equal(res.statusCode, status, `${name}: ${res.body}`);
    assert.match(res.json().message, message, name);
  }

  const zones = async (auth: Auth) => ((await call('GET', '/v1/dns/zones', undefined, auth)).json().items as Json[]).map((z) => z.name);

  test("the review's reproduction: bob cannot take the zone of alice's site name, and alice can still edit her site", async () => {
    for (const name of ['tena-site.test', 'TENA-SITE.TEST.', ' Tena-Site.Test '])
      await refused(name, bob, 409, /tena-site\.test holds www\.tena-site\.test, a name another user's website uses/);
    await refused('www.tena-site.test', bob, 409, /www\.tena-site\.test is a name another user's website uses/);
    await refused('login.www.tena-site.test', bob, 409, /lies under www\.tena-site\.test, a name another user's website uses/);
    const edit = await call('PATCH', '/v1/websites/sitea', { static: false }, alice);
    assert.equal(edit.statusCode, 202, edit.body);
    assert.deepEqual(await zones(bob), []);
  });

  test("bob cannot take the proxy group's wildcard domain, a name under it, or a parent of it", async () => {
    for (const name of ['lab.example.net', 'LAB.EXAMPLE.NET.', 'hostile.lab.example.net', 'example.net', 'Example.Net.']) {
      await refused(name, bob, 409, /wildcard domain of proxy group px/);
    }
    // alice's temporary subdomain lies under the wildcard: hers alone.
    await refused('sitea-alice.lab.example.net', bob, 409, /lab\.example\.net.*proxy group px/);
    await refused('x.sitea-alice.lab.example.net', bob, 409, /proxy group px/);
    // Nor may alice: the wildcard's names are every tenant's temporary subdomains.
    await refused('example.net', alice, 409, /wildcard domain of proxy group px/);
    assert.deepEqual(await zones(bob), []);
  });

  test('nor a public suffix, in any spelling, from either section of the list', async () => {
    for (const name of ['co.uk', 'CO.UK.', 'ｃｏ．ｕｋ', 'com.au', 'github.io', 'GitHub.IO.', 'blogspot.com', '公司.cn', 'xn--55qx5d.cn']) {
      await refused(name, bob, 422, /public suffix/);
    }
  });

  test('nor a reverse zone: an admin creates it and assigns it (403)', async () => {
    for (const name of ['in-addr.arpa', '10.in-addr.arpa', 'IP6.ARPA.', '2.0.192.in-addr.arpa'])
      await refused(name, bob, 403, /arpa.*admin/);
  });

  test('special-use names are refused for everyone, the admin too', async () => {
    for (const name of ['foo.localhost', 'x.invalid', 'printer.local', 'abc.onion']) {
      await refused(name, bob, 422, /special-use/);
      await refused(name, stack.auth, 422, /special-use/);
    }
  });

  test("what is nobody else's is fine: a .test lab zone, a registrable domain, a name under a private suffix", async () => {
    for (const name of ['bob-shop.test', 'example.co.uk', 'bob.github.io']) {
      const res = await call('POST', '/v1/dns/zones', { name }, bob);
      assert.equal(res.statusCode, 202, `${name}: ${res.body}`);
    }
    assert.deepEqual((await zones(bob)).sort(), ['bob-shop.test', 'bob.github.io', 'example.co.uk']);
  });

  test("alice's zone for her own site's names is fine, and starts with the site's records", async () => {
    const res = await call('POST', '/v1/dns/zones', { name: 'tena-site.test' }, alice);
    assert.equal(res.statusCode, 202, res.body);
    assert.deepEqual(res.json().payload.records, [{ name: 'www.tena-site.test', type: 'A', ttl: 300, address: '192.0.2.10' }]);
  });

  test("the converse stays refused: alice's site cannot claim a name in bob's zone", async () => {
    const res = await call('POST', '/v1/websites', { name: 'steal', proxy: 'px', domains: ['www.bob-shop.test'] }, alice);
    assert.equal(res.statusCode, 409, res.body);
    assert.match(res.json().message, /lies in DNS zone bob-shop\.test, which another user hosts here/);
  });

  test("the admin may host the wildcard's zone, a suffix and reverse zones", async () => {
    for (const name of ['example.net', '2.0.192.in-addr.arpa']) {
      const res = await call('POST', '/v1/dns/zones', { name });
      assert.equal(res.statusCode, 202, `${name}: ${res.body}`);
    }
  });

  test('two users asking at once for overlapping zones: one of them gets it', async () => {
    for (let round = 0; round < 5; round++) {
      const parent = `race${round}.test`;
      const [a, b] = await Promise.all([
        call('POST', '/v1/dns/zones', { name: `www.${parent}` }, alice),
        call('POST', '/v1/dns/zones', { name: parent }, bob),
      ]);
      assert.deepEqual([a.statusCode, b.statusCode].sort(), [202, 409], `${parent}: ${a.body} / ${b.body}`);
    }
  });
});
