/**
 * Upstreams through the API (security review finding 2): every spelling of the proxy's own
 * loopback, link-local and special addresses, the proxy hosts themselves, managed hosts' SSH
 * and UP_UPSTREAM_DENY are refused with 400 naming the route; what is accepted is stored and
 * sent in one canonical spelling; a proxy group's upstream networks hold for every site, and
 * narrowing them is refused while a site would break them. No handler runs here: nothing is
 * ever sent to the (documentation) addresses used.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createToken } from '../../gateway/users/token-store.ts';
import { createUser } from '../../gateway/users/store.ts';
import { startStack } from '../helpers/stack.ts';

type Stack = Awaited<ReturnType<typeof startStack>>;
type Json = Record<string, any>;

const DENY = '10.50.0.0/16, 10.60.0.1:5432, [fd60::1]:5672';

/** Refused, each with the reason it must give. */
const REFUSED: [string, RegExp][] = [
  // The review's reproductions.
  ['[::ffff:127.0.0.1]:9999', /loopback/],
  ['[::ffff:7f00:1]:9999', /loopback/],
  ['[0:0:0:0:0:0:0:1]:9998', /loopback/],
  ['[0::1]:80', /loopback/],
  ['[::ffff:169.254.169.254]:80', /loopback/],
  ['[::ffff:0.0.0.0]:80', /loopback/],
  // Variants: case, padding, hex, embedded by translation schemes.
  ['[::FFFF:7F00:0001]:80', /loopback/],
  ['[0000:0000:0000:0000:0000:0000:0000:0001]:80', /loopback/],
  ['[::127.0.0.1]:80', /IPv4-compatible/],
  ['[64:ff9b::7f00:1]:80', /embeds 127\.0\.0\.1/],
  ['[64:ff9b:1::a00:1]:80', /local-use NAT64/],
  ['[2002:a9fe:a9fe::1]:80', /embeds 169\.254\.169\.254/],
  ['[2001:0:4136:e378:8000:63bf:80ff:fffe]:80', /embeds 127\.0\.0\.1/],
  ['[fe80::1]:80', /loopback/],
  ['[ff02::1]:80', /loopback/],
  ['255.255.255.255:80', /loopback/],
  ['224.0.0.1:80', /loopback/],
  // Odd notations and scope ids: invalid, never reinterpreted.
  ['0177.0.0.1:80', /match pattern|invalid/],
  ['2130706433:80', /match pattern|must be ip:port/],
  ['127.1:80', /match pattern|invalid/],
  ['[fe80::1%eth0]:80', /match pattern|invalid/],
  ['[127.0.0.1]:80', /match pattern|bracket/],
  // The proxy itself: its public addresses and its members, on any port, in any spelling.
  ['192.0.2.10:8080', /proxy hosts themselves/],
  ['[::ffff:c000:20a]:22', /proxy hosts themselves/],
  ['[2001:DB8::10]:80', /proxy hosts themselves/],
  ['[2002:c000:20a::]:80', /proxy hosts themselves/],
  ['10.92.0.11:9000', /proxy hosts themselves/],
  // The control plane: managed hosts' SSH endpoints and UP_UPSTREAM_DENY.
  ['10.92.0.20:2222', /hosting platform's own services/],
  ['[::ffff:10.92.0.20]:2222', /hosting platform's own services/],
  ['10.50.3.4:80', /hosting platform's own services/],
  ['[64:ff9b::a32:304]:80', /hosting platform's own services/],
  ['10.60.0.1:5432', /hosting platform's own services/],
  ['[FD60:0::1]:5672', /hosting platform's own services/],
];

describe('website upstreams through the API', () => {
  let stack: Stack;
  let aliceToken: string;
  const savedDeny = process.env.UP_UPSTREAM_DENY;

  const call = async (method: string, path: string, body?: unknown, token?: string) => {
    const res = await fetch(`${stack.url}${path}`, {
      method,
      headers: {
        authorization: token ? `Bearer ${token}` : stack.auth.authorization,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as Json };
  };
  const alice = (method: string, path: string, body?: unknown) => call(method, path, body, aliceToken);
  const site = (name: string, upstream: string) => ({ name, proxy: 'p1', routes: [{ path: '/x', upstream }] });

  before(async () => {
    process.env.UP_UPSTREAM_DENY = DENY;
    stack = await startStack({ roles: ['gateway', 'recorder'] });
    const db = stack.database!.knex;
    await db('hosts').insert([
      {
        id: crypto.randomUUID(),
        name: 'm1',
        address: '10.92.0.11',
        port: 22,
        ssh_user: 'root',
        host_key_sha256: 'SHA256:m1',
        roles: ['proxy'],
      },
      {
        id: crypto.randomUUID(),
        name: 'db1',
        address: '10.92.0.20',
        port: 2222,
        ssh_user: 'root',
        host_key_sha256: 'SHA256:db1',
        roles: ['db'],
      },
    ]);
    const proxy = await call('POST', '/v1/proxies', {
      name: 'p1',
      wildcardDomain: 'p1.example.net',
      addresses: ['192.0.2.10', '2001:db8::10'],
    });
    assert.equal(proxy.status, 202, JSON.stringify(proxy.body));
    assert.equal((await call('POST', '/v1/proxies/p1/hosts', { host: 'm1' })).status, 202);
    const user = await createUser(db, { name: 'alice', role: 'user' });
    aliceToken = (
      await createToken(db, { userId: user!.id, name: 't', scopes: ['read', 'write'], allowFrom: [], ratePerMinute: null, expiresAt: null })
    ).secret;
  });

  after(async () => {
    await stack?.shutdown();
    if (savedDeny === undefined) delete process.env.UP_UPSTREAM_DENY;
    else process.env.UP_UPSTREAM_DENY = savedDeny;
  });

  test('every spelling of a refused upstream is a 400 naming the route, on create and on edit; nothing is stored or queued', async () => {
    for (const [i, [upstream, reason]] of REFUSED.entries()) {
      const created = await alice('POST', '/v1/websites', site(`s${i}`, upstream));
      assert.equal(created.status, 400, `${upstream}: ${JSON.stringify(created.body)}`);
      const said = [created.body.message, ...(created.body.details ?? [])].join(' ');
      assert.match(said, /routes\/0\/upstream/, upstream);
      assert.match(said, reason, `${upstream}: ${said}`);
      // What the platform holds is never spelled out beyond the tenant's own input.
      assert.doesNotMatch(said, /10\.50\.0\.0|10\.92\.0\.20:2222.*10\.92\.0\.11|fd60::1\]:5672.*10\.60/);
    }
    const db = stack.database!.knex;
    assert.equal(Number((await db('websites').count({ n: '*' }).first())?.n), 0);
    assert.equal(Number((await db('jobs').where({ op: 'website.apply' }).count({ n: '*' }).first())?.n), 0);

    const ok = await alice('POST', '/v1/websites', site('edited', '10.0.0.5:80'));
    assert.equal(ok.status, 202, JSON.stringify(ok.body));
    for (const [upstream] of REFUSED.slice(0, 6)) {
      const edit = await alice('PATCH', '/v1/websites/edited', { routes: [{ path: '/x', upstream }] });
      assert.equal(edit.status, 400, upstream);
      assert.match(edit.body.message, /routes\/0\/upstream/);
    }
    assert.deepEqual((await alice('GET', '/v1/websites/edited')).body.routes, [{ path: '/x/', upstream: '10.0.0.5:80', websocket: false }]);
    assert.equal((await alice('DELETE', '/v1/websites/edited')).status, 202);
  });

  test('accepted upstreams are stored and sent in one canonical spelling', async () => {
    const created = await alice('POST', '/v1/websites', {
      name: 'canon',
      proxy: 'p1',
      routes: [
        { path: '/a', upstream: '[::FFFF:a00:5]:80' },
        { path: '/b', upstream: '[2001:0DB8:0:0:0:0:0:0005]:08080' },
        { path: '/c', upstream: '10.92.0.20:80' },
      ],
    });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const expected = ['10.0.0.5:80', '[2001:db8::5]:8080', '10.92.0.20:80'];
    assert.deepEqual(
      created.body.website.routes.map((r: Json) => r.upstream),
      expected,
    );
    const apply = created.body.jobs.find((j: Json) => j.op === 'website.apply');
    const { body: job } = await alice('GET', `/v1/jobs/${apply.id}`);
    assert.deepEqual(
      job.payload.site.routes.map((r: Json) => r.upstream),
      expected,
    );
    assert.equal((await alice('DELETE', '/v1/websites/canon')).status, 202);
  });

  test("the range containers are published on, on a containers host's address or publish address, is reached only by naming a container", async () => {
    const db = stack.database!.knex;
    const id = crypto.randomUUID();
    await db('hosts').insert({
      id,
      name: 'c1',
      address: '10.92.0.30',
      port: 22,
      ssh_user: 'root',
      host_key_sha256: 'SHA256:c1',
      roles: ['containers'],
      labels: JSON.stringify({ 'publish-address': '10.93.0.30' }),
    });
    try {
      for (const upstream of ['10.92.0.30:20000', '10.93.0.30:29999', '[::ffff:10.93.0.30]:24000']) {
        const res = await alice('POST', '/v1/websites', site('pub', upstream));
        assert.equal(res.status, 400, `${upstream}: ${JSON.stringify(res.body)}`);
        assert.match(res.body.message, /routes\/0\/upstream is a port up publishes containers on: name your container instead/);
      }
      // Outside the range the host is like any other managed host.
      const outside = await alice('POST', '/v1/websites', site('pub', '10.93.0.30:8080'));
      assert.equal(outside.status, 202, JSON.stringify(outside.body));
      // The handler checks again: the message says where containers are published; the tenant's view of the job does not.
      const apply = outside.body.jobs.find((j: Json) => j.op === 'website.apply');
      const row = await db('jobs').where({ id: apply.id }).first('payload');
      assert.deepEqual(row.payload.site.publishers, ['10.92.0.30/32', '10.93.0.30/32']);
      const { body: shown } = await alice('GET', `/v1/jobs/${apply.id}`);
      assert.equal(shown.payload.site.publishers, undefined);
      assert.equal((await alice('DELETE', '/v1/websites/pub')).status, 202);
    } finally {
      await db('hosts').where({ id }).delete();
    }
  });

  test("a proxy group's upstream networks: set by the admin, refused while a site would break them, enforced on every site", async () => {
    const first = await alice('POST', '/v1/websites', site('netted', '10.0.0.5:80'));
    assert.equal(first.status, 202);
    assert.equal((await alice('PATCH', '/v1/proxies/p1', { upstreamNetworks: ['10.20.0.0/16'] })).status, 403);

    const bad = await call('PATCH', '/v1/proxies/p1', { upstreamNetworks: ['10.20.0.1/16'] });
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /body\/upstreamNetworks\/0 has host bits set/);

    const refused = await call('PATCH', '/v1/proxies/p1', { upstreamNetworks: ['10.20.0.0/16', 'FD20::/48'] });
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.deepEqual(refused.body.details, ['alice/netted /x/ → 10.0.0.5:80']);
    assert.equal((await call('GET', '/v1/proxies/p1')).body.upstreamNetworks, null, 'the refused edit changed nothing');

    assert.equal((await alice('PATCH', '/v1/websites/netted', { routes: [{ path: '/x', upstream: '10.20.0.5:80' }] })).status, 202);
    const narrowed = await call('PATCH', '/v1/proxies/p1', { upstreamNetworks: ['10.20.0.0/16', 'FD20::/48'] });
    assert.equal(narrowed.status, 200, JSON.stringify(narrowed.body));
    assert.deepEqual(narrowed.body.upstreamNetworks, ['10.20.0.0/16', 'fd20::/48']);

    const outside = await alice('POST', '/v1/websites', site('outside', '10.21.0.1:80'));
    assert.equal(outside.status, 400);
    assert.match(
      outside.body.message,
      /body\/routes\/0\/upstream must lie in the networks this proxy group allows for upstreams \(10\.20\.0\.0\/16, fd20::\/48\)/,
    );
    const inside = await alice('POST', '/v1/websites', site('inside', '[::ffff:10.20.0.9]:80'));
    assert.equal(inside.status, 202, JSON.stringify(inside.body));
    assert.equal(inside.body.website.routes[0].upstream, '10.20.0.9:80');
    // The handler gets the networks with the message and checks again.
    // As the admin: users see no layout in their jobs (the job view keeps infrastructure to admins).
    const { body: job } = await call('GET', `/v1/jobs/${inside.body.jobs.find((j: Json) => j.op === 'website.apply').id}`);
    assert.deepEqual(job.payload.layout.upstreamNetworks, ['10.20.0.0/16', 'fd20::/48']);
    // Still never loopback, even if an admin allowed everything.
    assert.equal((await call('PATCH', '/v1/proxies/p1', { upstreamNetworks: ['0.0.0.0/0', '::/0'] })).status, 200);
    assert.equal((await alice('POST', '/v1/websites', site('loop', '[::ffff:7f00:1]:80'))).status, 400);

    assert.equal((await call('PATCH', '/v1/proxies/p1', { upstreamNetworks: null })).status, 200);
    assert.equal((await call('GET', '/v1/proxies/p1')).body.upstreamNetworks, null);
    for (const name of ['netted', 'inside']) assert.equal((await alice('DELETE', `/v1/websites/${name}`)).status, 202);
  });

  test('a stored route the policy no longer allows refuses the next edit (409 naming it) until the routes change', async () => {
    assert.equal((await alice('POST', '/v1/websites', site('stale', '10.70.0.5:80'))).status, 202);
    process.env.UP_UPSTREAM_DENY = `${DENY}, 10.70.0.0/16`;
    try {
      const edit = await alice('PATCH', '/v1/websites/stale', { maxBodySize: '2m' });
      assert.equal(edit.status, 409, JSON.stringify(edit.body));
      assert.match(
        edit.body.message,
        /the stored route \/x\/ \(upstream 10\.70\.0\.5:80\) must not point at the hosting platform's own services/,
      );
      assert.equal((await alice('PATCH', '/v1/websites/stale', { routes: [{ path: '/x', upstream: '10.71.0.5:80' }] })).status, 202);
    } finally {
      process.env.UP_UPSTREAM_DENY = DENY;
    }
    assert.equal((await alice('DELETE', '/v1/websites/stale')).status, 202);
  });

  test('a proxy group is created with canonical upstream networks; a bad one is a 400 naming it', async () => {
    const created = await call('POST', '/v1/proxies', {
      name: 'p2',
      wildcardDomain: 'p2.example.net',
      addresses: ['192.0.2.20'],
      upstreamNetworks: ['::ffff:10.30.0.0/112', 'FD30::/64'],
    });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    assert.deepEqual(created.body.proxy.upstreamNetworks, ['10.30.0.0/16', 'fd30::/64']);
    const bad = await call('POST', '/v1/proxies', {
      name: 'p3',
      wildcardDomain: 'p3.example.net',
      addresses: ['192.0.2.30'],
      upstreamNetworks: ['10.0.0.0/8', '10.0.0.0/33'],
    });
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /upstreamNetworks\/1/);
  });
});
