/**
 * An admin acting for a tenant (`X-Up-As`, `up --as`): the request runs as the user, with
 * their scope, ownership and plan limits; the audit names both; nobody else may send it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../helpers/eventually.ts';
import { memoryGateway } from '../helpers/gateway.ts';

const ADMIN = 'auth-act-as-admin-token-0123456789abcdef';
type Gateway = Awaited<ReturnType<typeof memoryGateway>>;

describe('X-Up-As', () => {
  let gw: Gateway;
  const admin = { authorization: `Bearer ${ADMIN}` };
  const asUser = (name: string) => ({ ...admin, 'x-up-as': name });
  const secrets: Record<string, string> = {};
  const bearer = (user: string) => ({ authorization: `Bearer ${secrets[user]}` });
  const call = (method: string, url: string, headers: Record<string, string>, body?: unknown) =>
    gw.app.inject({ method: method as 'GET', url, headers, ...(body === undefined ? {} : { payload: body as object }) });

  before(async () => {
    gw = await memoryGateway(ADMIN);
    for (const [name, role, limits] of [
      ['alice', 'user', { dnsZones: 1 }],
      ['bob', 'user', {}],
      ['sam', 'user', {}],
      ['root', 'admin', {}],
    ] as const) {
      assert.equal((await call('POST', '/v1/users', admin, { name, role, limits })).statusCode, 201);
      const token = await call('POST', '/v1/tokens', admin, { name: 'laptop', user: name });
      assert.equal(token.statusCode, 201, token.body);
      secrets[name] = token.json().secret;
    }
    assert.equal((await call('POST', '/v1/users/sam/suspend', admin)).statusCode, 200);
    const host = await call('POST', '/v1/hosts', admin, {
      name: 'ns1',
      address: '192.0.2.53',
      hostKeySha256: `SHA256:${'A'.repeat(43)}`,
      roles: ['dns'],
    });
    assert.equal(host.statusCode, 201, host.body);
    const server = await call('POST', '/v1/dns/servers', admin, { name: 'ns', primary: 'ns1', address: '192.0.2.53', keyName: 'up' });
    assert.equal(server.statusCode, 201, server.body);
  });
  after(() => gw?.close());

  test('an admin creates a zone as alice: it is hers, her limit counts, the job is hers, the audit names both', async () => {
    const created = await call('POST', '/v1/dns/zones', asUser('alice'), { name: 'alice.test' });
    assert.equal(created.statusCode, 202, created.body);
    const job = created.json();
    assert.equal(job.tenant, 'alice');
    assert.equal(job.actor, 'alice');

    // Hers: she sees the zone and its job, bob sees neither.
    const zones = (await call('GET', '/v1/dns/zones', bearer('alice'))).json().items as { name: string }[];
    assert.deepEqual(
      zones.map((z) => z.name),
      ['alice.test'],
    );
    assert.equal((await call('GET', `/v1/jobs/${job.id}`, bearer('alice'))).statusCode, 200);
    assert.equal((await call('GET', `/v1/jobs/${job.id}`, bearer('bob'))).statusCode, 404);
    assert.deepEqual((await call('GET', '/v1/dns/zones', bearer('bob'))).json(), { items: [] });

    // Her plan: one zone. An admin acting as her is held to it.
    const second = await call('POST', '/v1/dns/zones', asUser('alice'), { name: 'alice2.test' });
    assert.equal(second.statusCode, 422, second.body);

    // The audit: the request ran as alice, made by the admin; found under either name.
    const entry = await eventually('the audit entry', async () => {
      const page = (await call('GET', '/v1/audit?user=alice', admin)).json() as { items: Record<string, unknown>[] };
      return page.items.find((e) => e.jobId === job.id);
    });
    assert.equal(entry.user, 'alice');
    assert.equal(entry.impersonator, 'admin');
    assert.equal(entry.route, '/v1/dns/zones');
    const byAdmin = (await call('GET', '/v1/audit?user=admin', admin)).json() as { items: { id: string }[] };
    assert.ok(
      byAdmin.items.some((e) => e.id === entry.id),
      'listed under the admin too',
    );
    // Alice sees what was done in her name.
    const hers = (await call('GET', '/v1/audit', bearer('alice'))).json() as { items: { id: string; impersonator: string | null }[] };
    assert.equal(hers.items.find((e) => e.id === entry.id)?.impersonator, 'admin');
  });

  test("acting as a tenant, an admin has only the tenant's rights", async () => {
    const res = await call('GET', '/v1/hosts', asUser('bob'));
    assert.equal(res.statusCode, 403, res.body);
    const me = (await call('GET', '/v1/whoami', asUser('bob'))).json();
    assert.equal(me.name, 'bob');
    assert.equal(me.role, 'user');
    // A stored admin token works the same way.
    assert.equal((await call('GET', '/v1/whoami', { ...bearer('root'), 'x-up-as': 'bob' })).json().name, 'bob');
  });

  test('a tenant sending the header gets 403, whoever it names; the attempt is audited as denied', async () => {
    for (const name of ['bob', 'alice', 'admin', 'nosuchuser']) {
      for (const [method, url] of [
        ['GET', '/v1/dns/zones'],
        ['POST', '/v1/system/ping'],
      ]) {
        const res = await call(method, url, { ...bearer('alice'), 'x-up-as': name }, method === 'POST' ? {} : undefined);
        assert.equal(res.statusCode, 403, `${name} ${method} ${url}: ${res.body}`);
        assert.match(res.json().message, /only an admin/);
      }
    }
    await eventually('the denied entry', async () => {
      const page = (await call('GET', '/v1/audit?user=alice&outcome=denied', admin)).json() as {
        items: { route: string; impersonator: null }[];
      };
      return page.items.some((e) => e.route === '/v1/system/ping' && e.impersonator === null);
    });
  });

  test('the header must name one active user', async () => {
    const cases: [string, number, RegExp][] = [
      ['nosuchuser', 400, /x-up-as: no user named nosuchuser/],
      ['Alice', 400, /x-up-as must be one user name/],
      ['alice,bob', 400, /x-up-as must be one user name/],
      ['', 400, /x-up-as must be one user name/],
      ['sam', 403, /sam is suspended/],
    ];
    for (const [value, status, message] of cases) {
      const res = await call('GET', '/v1/dns/zones', asUser(value));
      assert.equal(res.statusCode, status, `${JSON.stringify(value)}: ${res.body}`);
      assert.match(res.json().message, message);
    }
    // Acting as oneself changes nothing.
    assert.equal((await call('GET', '/v1/hosts', asUser('admin'))).statusCode, 200);
  });
});
