/**
 * The hostile-input corpus against every field of the website and proxy APIs: each answer
 * is 400 naming the field, nothing is stored, no job exists.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createToken } from '../../gateway/users/token-store.ts';
import { createUser } from '../../gateway/users/store.ts';
import { startStack } from '../helpers/stack.ts';

type Stack = Awaited<ReturnType<typeof startStack>>;

const HOSTILE = [';', '{', '}', '#', '"', "'", '$', '\n', '\0', '..', '`', '\\'];

/** A valid body, and for each field how to put a hostile string into it. */
const site = (over: Record<string, unknown>) => ({ name: 'okname', proxy: 'p1', ...over });
const WEBSITE_FIELDS: Record<string, (bad: string) => Record<string, unknown>> = {
  name: (bad) => site({ name: `a${bad}b` }),
  proxy: (bad) => site({ proxy: `p${bad}1` }),
  'domains/0': (bad) => site({ domains: [`ex${bad}ample.com`] }),
  'routes/0/path': (bad) => site({ routes: [{ path: `/a${bad}b`, upstream: '10.0.0.1:80' }] }),
  'routes/0/upstream': (bad) => site({ routes: [{ path: '/api', upstream: `10.0.0.1${bad}:80` }] }),
  maxBodySize: (bad) => site({ maxBodySize: `10${bad}m` }),
  'basicAuth/realm': (bad) => site({ basicAuth: { realm: `r${bad}r`, users: [{ name: 'u', password: 'longenough' }] } }),
  'basicAuth/users/0/name': (bad) => site({ basicAuth: { realm: 'r', users: [{ name: `u${bad}u`, password: 'longenough' }] } }),
  'errorPages/0/path': (bad) => site({ errorPages: [{ code: 404, path: `/4${bad}04.html` }] }),
  'headers/0/name': (bad) => site({ headers: [{ name: `X-Frame-Options${bad}`, value: 'DENY' }] }),
  'headers/0/value': (bad) => site({ headers: [{ name: 'X-Frame-Options', value: `DE${bad}NY` }] }),
  wwwRedirect: (bad) => site({ wwwRedirect: `to-apex${bad}` }),
};
const PROXY_FIELDS: Record<string, (bad: string) => Record<string, unknown>> = {
  name: (bad) => ({ name: `p${bad}2`, wildcardDomain: 'p2.example.net', addresses: ['192.0.2.1'] }),
  wildcardDomain: (bad) => ({ name: 'p2', wildcardDomain: `p2${bad}.example.net`, addresses: ['192.0.2.1'] }),
  'addresses/0': (bad) => ({ name: 'p2', wildcardDomain: 'p2.example.net', addresses: [`192.0.2.1${bad}`] }),
  baseDir: (bad) => ({ name: 'p2', wildcardDomain: 'p2.example.net', addresses: ['192.0.2.1'], baseDir: `/srv/up${bad}/x` }),
  nginxUser: (bad) => ({ name: 'p2', wildcardDomain: 'p2.example.net', addresses: ['192.0.2.1'], nginxUser: `www${bad}` }),
};

describe('hostile input never reaches a template', () => {
  let stack: Stack;
  const call = async (method: string, path: string, body: unknown) => {
    const res = await fetch(`${stack.url}${path}`, {
      method,
      headers: { ...stack.auth, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as { error: string; message: string; details?: string[] } };
  };

  before(async () => {
    stack = await startStack();
    const created = await call('POST', '/v1/proxies', { name: 'p1', wildcardDomain: 'p1.example.net', addresses: ['192.0.2.10'] });
    assert.equal(created.status, 202, JSON.stringify(created.body));
  });
  after(async () => stack?.shutdown());

  for (const [field, make] of Object.entries(WEBSITE_FIELDS)) {
    test(`website ${field}: every hostile character → 400 naming the field`, async () => {
      for (const bad of HOSTILE) {
        const answer = await call('POST', '/v1/websites', make(bad));
        assert.equal(answer.status, 400, `${JSON.stringify(bad)} in ${field}: ${JSON.stringify(answer.body)}`);
        const said = [answer.body.message, ...(answer.body.details ?? [])].join(' ');
        assert.ok(said.includes(field.split('/')[0]), `${JSON.stringify(bad)} in ${field}: ${said}`);
      }
    });
  }

  for (const [field, make] of Object.entries(PROXY_FIELDS)) {
    test(`proxy ${field}: every hostile character → 400 naming the field`, async () => {
      for (const bad of HOSTILE) {
        const answer = await call('POST', '/v1/proxies', make(bad));
        assert.equal(answer.status, 400, `${JSON.stringify(bad)} in ${field}: ${JSON.stringify(answer.body)}`);
        const said = [answer.body.message, ...(answer.body.details ?? [])].join(' ');
        assert.ok(said.includes(field.split('/')[0]), `${JSON.stringify(bad)} in ${field}: ${said}`);
      }
    });
  }

  test('a website beyond the plan is refused with 422 naming the limit', async () => {
    const db = stack.database!.knex;
    const user = await createUser(db, { name: 'limited', role: 'user' });
    await db('users')
      .where({ id: user!.id })
      .update({ limits: JSON.stringify({ websites: 1 }) });
    const { secret } = await createToken(db, {
      userId: user!.id,
      name: 'test',
      scopes: ['read', 'write'],
      allowFrom: [],
      ratePerMinute: null,
      expiresAt: null,
    });
    const asUser = async (body: unknown) => {
      const res = await fetch(`${stack.url}/v1/websites`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as { error: string; message: string } };
    };
    const first = await asUser(site({ name: 'limitedone' }));
    assert.equal(first.status, 202, JSON.stringify(first.body));
    const second = await asUser(site({ name: 'limitedtwo' }));
    assert.equal(second.status, 422, JSON.stringify(second.body));
    assert.deepEqual([second.body.error, second.body.message], ['limit_reached', 'plan limit reached: at most 1 websites']);
    await db('websites').where({ owner_id: user!.id }).delete();
  });

  test('edits get the same checks, and nothing was stored or queued', async () => {
    assert.equal((await call('PATCH', '/v1/websites/okname', { maxBodySize: '1;m' })).status, 400);
    const { body: sites } = (await fetch(`${stack.url}/v1/websites`, { headers: stack.auth }).then(async (r) => ({
      body: await r.json(),
    }))) as { body: unknown };
    assert.deepEqual(sites, { items: [] });
    const jobs = await stack.database!.knex('jobs').whereIn('op', ['website.apply', 'proxy.apply']).count({ n: '*' }).first();
    assert.equal(Number(jobs?.n), 0);
  });

  test('a basic-auth password is stored and queued only as a SHA-512-crypt hash, and never echoed', async () => {
    const password = 'plaintext-canary-7f3a9c';
    // A member, so that website.apply jobs carry the site (on loopback, where no sshd listens: its jobs just retry).
    await stack.database!.knex('hosts').insert({
      id: crypto.randomUUID(),
      name: 'nowhere',
      address: '127.0.0.1',
      port: 1,
      ssh_user: 'root',
      host_key_sha256: 'SHA256:none',
      roles: ['proxy'],
    });
    assert.equal((await call('POST', '/v1/proxies/p1/hosts', { host: 'nowhere' })).status, 202);
    const created = await call(
      'POST',
      '/v1/websites',
      site({ name: 'hashed', basicAuth: { realm: 'r', users: [{ name: 'ann', password }] } }),
    );
    assert.equal(created.status, 202, JSON.stringify(created.body));
    assert.doesNotMatch(JSON.stringify(created.body), new RegExp(password));
    const queued = await stack.database!.knex('jobs').where({ op: 'website.apply' }).first('payload');
    assert.match(queued.payload.site.basicAuth.users[0].hash, /^\$6\$/, 'the job carries the hash');
    const edited = await call('PATCH', '/v1/websites/hashed', {
      basicAuth: {
        realm: 'r',
        users: [
          { name: 'ann', password: `${password}-2` },
          { name: 'x', password: 'short' },
        ],
      },
    });
    assert.equal(edited.status, 400);
    assert.doesNotMatch(JSON.stringify(edited.body), /plaintext-canary|short/);
    const db = stack.database!.knex;
    const stored = await db('websites').where({ name: 'hashed' }).first();
    assert.match(stored.spec.basicAuth.users[0].hash, /^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
    // Every row of every table, as text.
    const tables: { table_name: string }[] = (
      await db.raw("select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'")
    ).rows;
    for (const { table_name: table } of tables) {
      const hits = (await db.raw(`select count(*)::int as n from ?? t where t::text like ?`, [table, `%${password}%`])).rows[0].n;
      assert.equal(hits, 0, `the password is in ${table}`);
    }
    assert.equal((await fetch(`${stack.url}/v1/websites/hashed`, { method: 'DELETE', headers: stack.auth })).status, 202);
  });

  test('IDN that is not a valid name after punycode, loopback upstreams and dot segments are refused by name', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [site({ domains: ['-bad-.example'] }), 'domains/0'],
      [site({ domains: ['localhost'] }), 'domains/0'],
      [site({ routes: [{ path: '/api', upstream: '127.0.0.1:22' }] }), 'routes/0/upstream'],
      [site({ routes: [{ path: '/api', upstream: '[::1]:22' }] }), 'routes/0/upstream'],
      [site({ routes: [{ path: '/a/../b', upstream: '10.0.0.1:80' }] }), 'routes/0/path'],
      [site({ routes: [{ path: '/api', upstream: '10.0.0.1:99999' }] }), 'routes/0/upstream'],
    ];
    for (const [body, field] of cases) {
      const answer = await call('POST', '/v1/websites', body);
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.match(answer.body.message, new RegExp(field.replace(/\//g, '.')), answer.body.message);
    }
  });
});
