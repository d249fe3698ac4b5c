/**
 * Users and tokens as a person meets them: the admin creates users, each gets a token,
 * and every way a token can be wrong is refused with the right status and a clear message.
 * Then the audit shows who did what, with no secret in it, and `up login` works.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runUp } from '../helpers/processes.ts';
import { startStack } from '../helpers/stack.ts';

type Stack = Awaited<ReturnType<typeof startStack>>;

describe('users, tokens, limits and audit', () => {
  let stack: Stack;
  const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });
  const call = (method: string, url: string, headers: Record<string, string>, body?: unknown, remoteAddress?: string) =>
    stack.app!.inject({
      method: method as 'GET',
      url,
      headers,
      ...(body === undefined ? {} : { payload: body as object }),
      ...(remoteAddress ? { remoteAddress } : {}),
    });
  const admin = (method: string, url: string, body?: unknown) => call(method, url, stack.auth, body);
  async function token(user: string, extra: Record<string, unknown> = {}) {
    const res = await admin('POST', '/v1/tokens', { name: 'test', user, ...extra });
    assert.equal(res.statusCode, 201, res.body);
    return res.json() as { id: string; secret: string };
  }
  const secrets: string[] = [];

  before(async () => {
    stack = await startStack();
    for (const name of ['carol', 'dave']) assert.equal((await admin('POST', '/v1/users', { name })).statusCode, 201);
  });
  after(() => stack.shutdown());

  test('user names are strict: hostile ones are 400 naming the field, taken ones 409', async () => {
    for (const name of ['Root', 'a', 'x;rm -rf', '../etc', 'a'.repeat(40), 'up-x']) {
      const res = await admin('POST', '/v1/users', { name });
      assert.equal(res.statusCode, 400, name);
      assert.match(res.json().message, /body\/name/);
    }
    assert.equal((await admin('POST', '/v1/users', { name: 'carol' })).statusCode, 409);
    assert.equal((await admin('POST', '/v1/users', { name: 'eve', owner: 'carol' })).statusCode, 400);
  });

  test('a token works, and its secret is shown once and stored only as a hash', async () => {
    const t = await token('carol');
    secrets.push(t.secret);
    assert.match(t.secret, /^up_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$/);
    const me = await call('GET', '/v1/whoami', bearer(t.secret));
    assert.equal(me.statusCode, 200, me.body);
    assert.equal(me.json().name, 'carol');
    const listed = await call('GET', '/v1/tokens', bearer(t.secret));
    assert.ok(!listed.body.includes(t.secret) && !listed.body.includes('hash'));
    const stored = JSON.stringify(await stack.database!.knex('tokens').select());
    assert.ok(!stored.includes(t.secret), 'the database holds no secret');
  });

  test('expired and revoked tokens are 401, with a message saying which', async () => {
    const expired = await token('carol');
    await stack
      .database!.knex('tokens')
      .where({ id: expired.id })
      .update({ expires_at: new Date(Date.now() - 1000) });
    let res = await call('GET', '/v1/whoami', bearer(expired.secret));
    assert.equal(res.statusCode, 401);
    assert.match(res.json().message, /expired/);

    const revoked = await token('carol');
    assert.equal((await call('DELETE', `/v1/tokens/${revoked.id}`, bearer(revoked.secret))).statusCode, 200);
    res = await call('GET', '/v1/whoami', bearer(revoked.secret));
    assert.equal(res.statusCode, 401);
    assert.match(res.json().message, /revoked/);
    // A made-up token in our format, and the right id with a wrong secret.
    assert.equal((await call('GET', '/v1/whoami', bearer(`${revoked.secret.slice(0, -4)}AAAA`))).statusCode, 401);
  });

  test('a read token cannot change anything (403); a write token can', async () => {
    const read = await token('carol', { scopes: ['read'] });
    assert.equal((await call('GET', '/v1/tokens', bearer(read.secret))).statusCode, 200);
    const res = await call('POST', '/v1/tokens', bearer(read.secret), { name: 'escalate' });
    assert.equal(res.statusCode, 403);
    assert.match(res.json().message, /write/);
    assert.equal((await call('DELETE', `/v1/tokens/${read.id}`, bearer(read.secret))).statusCode, 403);
  });

  test('a token with an address allowlist works only from there (IPv4 and IPv6)', async () => {
    const t = await token('carol', { allowFrom: ['192.0.2.0/24', '2001:db8::/32'] });
    assert.equal((await call('GET', '/v1/whoami', bearer(t.secret), undefined, '192.0.2.7')).statusCode, 200);
    assert.equal((await call('GET', '/v1/whoami', bearer(t.secret), undefined, '2001:db8::5')).statusCode, 200);
    const res = await call('GET', '/v1/whoami', bearer(t.secret), undefined, '198.51.100.1');
    assert.equal(res.statusCode, 403);
    assert.match(res.json().message, /not allowed from 198\.51\.100\.1/);
    const bad = await admin('POST', '/v1/tokens', { name: 'x', user: 'carol', allowFrom: ['10.0.0.0/33'] });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().message, /body\/allowFrom\/0/);
  });

  test('suspending a user stops their tokens at once; unsuspending lets them in again', async () => {
    const t = await token('dave');
    assert.equal((await call('GET', '/v1/whoami', bearer(t.secret))).statusCode, 200);
    assert.equal((await admin('POST', '/v1/users/dave/suspend')).statusCode, 200);
    const res = await call('GET', '/v1/whoami', bearer(t.secret));
    assert.equal(res.statusCode, 403);
    assert.match(res.json().message, /dave is suspended/);
    assert.equal((await admin('POST', '/v1/users/dave/unsuspend')).statusCode, 200);
    assert.equal((await call('GET', '/v1/whoami', bearer(t.secret))).statusCode, 200);
  });

  test('a token past its rate gets 429 with Retry-After', async () => {
    const t = await token('carol', { ratePerMinute: 3 });
    for (let i = 0; i < 3; i++) assert.equal((await call('GET', '/v1/whoami', bearer(t.secret))).statusCode, 200);
    const res = await call('GET', '/v1/whoami', bearer(t.secret));
    assert.equal(res.statusCode, 429);
    assert.ok(Number(res.headers['retry-after']) > 0);
    assert.match(res.json().message, /at most 3 requests per minute/);
  });

  test('an address that keeps sending bad tokens is slowed down with 429', async () => {
    const from = '203.0.113.9';
    for (let i = 0; i < 20; i++)
      assert.equal((await call('GET', '/v1/jobs', bearer(`up_guess_${i}_xxxxxxxxxxxxxxxx`), undefined, from)).statusCode, 401);
    const res = await call('GET', '/v1/jobs', bearer('up_guess_again_xxxxxxxxxxxxxxx'), undefined, from);
    assert.equal(res.statusCode, 429);
    assert.equal(
      (await call('GET', '/v1/whoami', stack.auth, undefined, '203.0.113.10')).statusCode,
      200,
      'other addresses are not affected',
    );
  });

  test('plan limits are set by the admin and shown with the user', async () => {
    const res = await admin('PATCH', '/v1/users/carol', { limits: { websites: 2, vms: 0 } });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().limits.websites, 2);
    assert.equal(res.json().limits.databases, 10, 'unset kinds keep the default plan');
    assert.equal((await admin('PATCH', '/v1/users/carol', { limits: { websites: -1 } })).statusCode, 400);
  });

  test('deleting a user without resources marks them deleted and stops their tokens', async () => {
    assert.equal((await admin('POST', '/v1/users', { name: 'frank' })).statusCode, 201);
    const t = await token('frank');
    const res = await admin('DELETE', '/v1/users/frank');
    assert.equal(res.statusCode, 202, res.body);
    assert.equal(res.json().user.status, 'deleted');
    assert.equal((await call('GET', '/v1/whoami', bearer(t.secret))).statusCode, 401);
    assert.equal((await admin('GET', '/v1/users/frank')).statusCode, 404);
    assert.equal((await admin('DELETE', '/v1/users/admin')).statusCode, 409);
  });

  test('the audit shows who did what, from where, and never a secret', async () => {
    const t = await token('carol');
    secrets.push(t.secret);
    const created = await call('POST', '/v1/tokens', bearer(t.secret), { name: 'from-carol' }, '192.0.2.44');
    secrets.push(created.json().secret);
    await call('DELETE', `/v1/tokens/${created.json().id}`, bearer(t.secret), undefined, '192.0.2.44');
    await call('POST', '/v1/tokens', bearer(`up_0123456789abcdef0123456789abcdef_${'A'.repeat(43)}`), { name: 'nope' }, '192.0.2.45');
    await stack.app!.inject({ method: 'GET', url: '/healthz' }); // lets onResponse hooks finish
    const entries = async () => (await admin('GET', '/v1/audit?limit=500')).json().items as Record<string, unknown>[];
    let items = await entries();
    for (let i = 0; i < 50 && !items.some((e) => e.ip === '192.0.2.45'); i++)
      items = (await new Promise((r) => setTimeout(r, 20)), await entries());
    const revoke = items.find((e) => e.method === 'DELETE' && e.resourceId === created.json().id);
    assert.ok(revoke, 'the revoke is recorded');
    assert.equal(revoke.user, 'carol');
    assert.equal(revoke.tokenId, t.id);
    assert.equal(revoke.ip, '192.0.2.44');
    assert.equal(revoke.route, '/v1/tokens/:id');
    assert.equal(revoke.outcome, 'ok');
    const create = items.find((e) => e.method === 'POST' && e.resourceId === created.json().id);
    assert.equal(create?.status, 201);
    const refused = items.find((e) => e.ip === '192.0.2.45');
    assert.equal(refused?.status, 401);
    assert.equal(refused?.outcome, 'denied');
    assert.equal(refused?.user, null);

    const rows = JSON.stringify(await stack.database!.knex('audit').select());
    for (const secret of [...secrets, 'test-admin-token-0123456789abcdef'])
      assert.ok(!rows.includes(secret), 'no token in the audit table');
    assert.ok(!rows.includes(secrets[0].split('_').pop()!), 'not even the random part');

    const mine = (await call('GET', '/v1/audit?limit=500', bearer(t.secret))).json().items as { user: string }[];
    assert.ok(mine.length > 0 && mine.every((e) => e.user === 'carol'));
  });

  test('up login stores the URL and token (0600) and the CLI then uses them', async () => {
    const home = mkdtempSync(join(tmpdir(), 'up-login-'));
    try {
      const t = await token('carol');
      // UP_URL and UP_TOKEN unset (an empty one is an error): the stored login is used.
      const env = { XDG_CONFIG_HOME: home, UP_TOKEN: undefined, UP_URL: undefined, UP_DATA_DIR: join(home, 'data') } as unknown as Record<
        string,
        string
      >;
      const login = await runUp(['login', '--url', stack.url!, '--token', t.secret], env);
      assert.equal(login.code, 0, login.stderr);
      assert.match(login.stdout, /logged in as carol/);
      const file = join(home, 'up', 'config.json');
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), {
        current: 'default',
        contexts: { default: { url: stack.url, token: t.secret, user: 'carol', role: 'user' } },
      });

      const list = await runUp(['tokens', 'list', '--json'], env);
      assert.equal(list.code, 0, list.stderr);
      const items = JSON.parse(list.stdout).items as { id: string; user: string }[];
      assert.ok(items.some((i) => i.id === t.id) && items.every((i) => i.user === 'carol'));

      const wrong = await runUp(['login', '--url', stack.url!, '--token', `up_0123456789abcdef0123456789abcdef_${'B'.repeat(43)}`], {
        ...env,
        XDG_CONFIG_HOME: join(home, 'other'),
      });
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stderr, /401/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
