/**
 * Minting tokens as the security review tried it: a token never mints one broader than
 * itself (expiry, source subnets, rate, scopes — each tried alone and all at once), tenants
 * do not pick rates above the gateway's default, and a user has a bounded number of working
 * tokens.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { memoryGateway } from '../helpers/gateway.ts';

const ADMIN = 'auth-tokens-admin-token-0123456789abcdef';
type Gateway = Awaited<ReturnType<typeof memoryGateway>>;

describe('a minted token is never broader than the token that mints it', () => {
  let gw: Gateway;
  const admin = { authorization: `Bearer ${ADMIN}` };
  const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });
  const call = (method: string, url: string, headers: Record<string, string>, body?: unknown, remoteAddress = '127.0.0.1') =>
    gw.app.inject({ method: method as 'GET', url, headers, remoteAddress, ...(body === undefined ? {} : { payload: body as object }) });
  async function mint(headers: Record<string, string>, body: Record<string, unknown>) {
    const res = await call('POST', '/v1/tokens', headers, { name: 'test', ...body });
    assert.equal(res.statusCode, 201, res.body);
    return res.json() as {
      id: string;
      secret: string;
      expiresAt: string;
      allowFrom: string[];
      ratePerMinute: number | null;
      scopes: string[];
    };
  }
  const tokensOf = async (user: string) =>
    Number(
      (await gw.database.knex('tokens').join('users', 'users.id', 'tokens.user_id').where('users.name', user).count({ n: '*' }).first())!.n,
    );

  before(async () => {
    gw = await memoryGateway(ADMIN);
    for (const [name, role] of [
      ['alice', 'user'],
      ['bob', 'user'],
      ['carol', 'user'],
      ['dave', 'user'],
      ['root', 'admin'],
    ]) {
      const res = await call('POST', '/v1/users', admin, { name, role });
      assert.equal(res.statusCode, 201, res.body);
    }
  });
  after(() => gw?.close());

  test("the review's narrow token (1 day, 127.0.0.1/32, 30/min) cannot mint a wide one, in any dimension", async () => {
    const narrow = await mint(admin, { user: 'alice', expiresInDays: 1, allowFrom: ['127.0.0.1/32'], ratePerMinute: 30 });
    const before = await tokensOf('alice');
    const attempts: [Record<string, unknown>, RegExp][] = [
      [{ expiresInDays: 3650, ratePerMinute: 100_000 }, /^body\/(expiresInDays|ratePerMinute):/],
      [{ expiresInDays: 2 }, /^body\/expiresInDays: the token that creates it expires at /],
      [{ expiresInDays: 3650 }, /^body\/expiresInDays:/],
      [{ allowFrom: [] }, /^body\/allowFrom: .*cannot work from anywhere/],
      [{ allowFrom: ['127.0.0.0/8'] }, /^body\/allowFrom\/0: 127\.0\.0\.0\/8 is not inside/],
      [{ allowFrom: ['127.0.0.1/32', '10.0.0.1/32'] }, /^body\/allowFrom\/1:/],
      [{ allowFrom: ['::1/128'] }, /^body\/allowFrom\/0:/],
      [{ allowFrom: ['::ffff:127.0.0.1/128'] }, /^body\/allowFrom\/0:/],
      [{ allowFrom: ['0.0.0.0/0'] }, /^body\/allowFrom\/0:/],
      [{ ratePerMinute: 31 }, /^body\/ratePerMinute: the token that creates it allows 30/],
      [{ ratePerMinute: 100_000 }, /^body\/ratePerMinute:/],
    ];
    for (const [body, message] of attempts) {
      const res = await call('POST', '/v1/tokens', bearer(narrow.secret), { name: 'wide', ...body });
      assert.equal(res.statusCode, 403, `${JSON.stringify(body)}: ${res.body}`);
      assert.match(res.json().message, message, JSON.stringify(body));
    }
    assert.equal(await tokensOf('alice'), before, 'no token was created');

    // What it leaves out, the new token inherits; what it narrows, it gets.
    const child = await mint(bearer(narrow.secret), {});
    assert.deepEqual(child.allowFrom, ['127.0.0.1/32']);
    assert.equal(child.ratePerMinute, 30);
    assert.ok(Date.parse(child.expiresAt) <= Date.parse(narrow.expiresAt), 'expires with its parent at the latest');
    const narrower = await mint(bearer(narrow.secret), { ratePerMinute: 5, allowFrom: ['127.0.0.1/32'], scopes: ['read'] });
    assert.deepEqual([narrower.ratePerMinute, narrower.scopes], [5, ['read']]);
    // The bounds hold down the chain, and in use.
    assert.equal((await call('POST', '/v1/tokens', bearer(child.secret), { name: 'grandchild', expiresInDays: 1 })).statusCode, 403);
    assert.equal((await call('GET', '/v1/whoami', bearer(child.secret))).statusCode, 200);
    assert.equal((await call('GET', '/v1/whoami', bearer(child.secret), undefined, '192.0.2.1')).statusCode, 403);
  });

  test('scopes: a token grants none it does not have', async () => {
    const writeOnly = await mint(admin, { user: 'alice', scopes: ['write'] });
    const res = await call('POST', '/v1/tokens', bearer(writeOnly.secret), { name: 'x', scopes: ['read', 'write'] });
    assert.equal(res.statusCode, 403, res.body);
    assert.match(res.json().message, /^body\/scopes: .*cannot grant read/);
    assert.deepEqual((await mint(bearer(writeOnly.secret), {})).scopes, ['write']);
  });

  test('a tenant cannot give itself 100000/min; only an admin grants rates above the default, within its own', async () => {
    const tb = await mint(admin, { user: 'bob' });
    let res = await call('POST', '/v1/tokens', bearer(tb.secret), { name: 'fast', ratePerMinute: 100_000 });
    assert.equal(res.statusCode, 403, res.body);
    assert.match(res.json().message, /^body\/ratePerMinute: above the gateway's default of 1200 .*only an admin/);
    assert.equal((await call('POST', '/v1/tokens', bearer(tb.secret), { name: 'fast', ratePerMinute: 1201 })).statusCode, 403);
    assert.equal((await mint(bearer(tb.secret), { ratePerMinute: 1200 })).ratePerMinute, 1200);
    assert.equal((await mint(admin, { user: 'bob', ratePerMinute: 100_000 })).ratePerMinute, 100_000, 'the bootstrap admin grants it');
    // A stored admin token is bounded like any other: its own rate is the default.
    const root = await mint(admin, { user: 'root' });
    res = await call('POST', '/v1/tokens', bearer(root.secret), { name: 'fast', user: 'bob', ratePerMinute: 5000 });
    assert.equal(res.statusCode, 403, res.body);
    assert.match(res.json().message, /allows 1200 requests per minute/);
    const granted = await mint(admin, { user: 'root', ratePerMinute: 5000 });
    assert.equal((await mint(bearer(granted.secret), { user: 'bob', ratePerMinute: 5000 })).ratePerMinute, 5000);
  });

  test('a user has at most limits.tokens working tokens: 422 naming the limit; revoked and expired ones do not count', async () => {
    const shown = await call('GET', '/v1/users/carol', admin);
    assert.equal(shown.json().limits.tokens, 50, 'the default plan');
    assert.equal((await call('PATCH', '/v1/users/carol', admin, { limits: { tokens: 3 } })).statusCode, 200);
    const own = await mint(admin, { user: 'carol' });
    const second = await mint(admin, { user: 'carol' });
    const third = await mint(bearer(own.secret), {});
    for (const headers of [admin, bearer(own.secret)]) {
      const res = await call('POST', '/v1/tokens', headers, { name: 'one-too-many', user: 'carol' });
      assert.equal(res.statusCode, 422, res.body);
      assert.match(res.json().message, /plan limit reached: at most 3 tokens/);
    }
    const spare = await mint(admin, { user: 'root' });
    assert.ok(spare, "another user's tokens are another count");

    assert.equal((await call('DELETE', `/v1/tokens/${second.id}`, bearer(own.secret))).statusCode, 200);
    await mint(bearer(own.secret), {});
    await gw.database
      .knex('tokens')
      .where({ id: third.id })
      .update({ expires_at: new Date(Date.now() - 1000) });
    await mint(bearer(own.secret), {});
    assert.equal((await call('POST', '/v1/tokens', bearer(own.secret), { name: 'x' })).statusCode, 422);

    assert.equal((await call('PATCH', '/v1/users/carol', admin, { limits: { tokens: 4 } })).statusCode, 200);
    await mint(bearer(own.secret), {});
  });

  test('the default cap is 50, also against concurrent creates; admins are not capped', async () => {
    for (let i = 0; i < 49; i++) await mint(admin, { user: 'dave' });
    const racing = await Promise.all(Array.from({ length: 8 }, () => call('POST', '/v1/tokens', admin, { name: 'race', user: 'dave' })));
    assert.deepEqual(racing.map((r) => r.statusCode).sort(), [201, 422, 422, 422, 422, 422, 422, 422]);
    assert.equal(await tokensOf('dave'), 50);
    for (let i = 0; i < 51; i++) await mint(admin, { user: 'root' });
  });
});
