/**
 * How often, and what a failure costs: a user's tokens share the user's rate; wrong tokens
 * are throttled per address and per claimed token id with a growing wait, but a token that
 * verifies is never refused for them (the review locked the admin out with 21 wrong tokens);
 * unknown routes are 404s, not failed logins; answers carry security headers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { memoryGateway } from '../helpers/gateway.ts';

const ADMIN = 'auth-limits-admin-token-0123456789abcdef';
const DEFAULT_RATE = 20;
type Gateway = Awaited<ReturnType<typeof memoryGateway>>;

describe('rates per token and per user; failures throttled, never valid tokens', () => {
  let gw: Gateway;
  const admin = { authorization: `Bearer ${ADMIN}` };
  const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });
  const call = (method: string, url: string, headers: Record<string, string>, remoteAddress = '127.0.0.1', body?: unknown) =>
    gw.app.inject({ method: method as 'GET', url, headers, remoteAddress, ...(body === undefined ? {} : { payload: body as object }) });
  async function userWithTokens(name: string, count: number, extra: Record<string, unknown> = {}) {
    assert.equal((await call('POST', '/v1/users', admin, undefined, { name })).statusCode, 201);
    const secrets: string[] = [];
    for (let i = 0; i < count; i++) {
      const res = await call('POST', '/v1/tokens', admin, undefined, { name: `t${i}`, user: name, ...extra });
      assert.equal(res.statusCode, 201, res.body);
      secrets.push(res.json().secret);
    }
    return secrets;
  }
  /** A secret in our format that names `id` but is not its token. */
  const forged = (id: string, n: number) => `up_${id.replace(/-/g, '')}_${String(n).padStart(43, 'A')}`;
  const wrong = (n: number) => forged('0123456789abcdef0123456789abcdef'.replace(/(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-'), n);

  before(async () => {
    process.env.UP_RATE_LIMIT_PER_MINUTE = String(DEFAULT_RATE);
    gw = await memoryGateway(ADMIN);
  });
  after(async () => {
    delete process.env.UP_RATE_LIMIT_PER_MINUTE;
    await gw?.close();
  });

  test("five tokens of one user share the user's rate: they do not make five times the rate", async () => {
    const tokens = await userWithTokens('erin', 5);
    const statuses: number[] = [];
    for (let i = 0; i < DEFAULT_RATE + 5; i++) statuses.push((await call('GET', '/v1/whoami', bearer(tokens[i % 5]))).statusCode);
    assert.deepEqual(statuses, [...Array(DEFAULT_RATE).fill(200), ...Array(5).fill(429)]);
    const refused = await call('GET', '/v1/whoami', bearer(tokens[0]));
    assert.match(refused.json().message, /at most 20 requests per minute for user erin \(all tokens together\)/);
    assert.ok(Number(refused.headers['retry-after']) > 0);

    const [other] = await userWithTokens('frank', 1);
    assert.equal((await call('GET', '/v1/whoami', bearer(other))).statusCode, 200, 'another user has their own count');
    for (let i = 0; i < 3 * DEFAULT_RATE; i++)
      assert.equal((await call('GET', '/v1/whoami', admin)).statusCode, 200, 'the bootstrap admin token is not limited');
  });

  test("a token's own rate still holds, and a rate an admin granted lifts the user's count for that token only", async () => {
    const [slow] = await userWithTokens('gina', 1, { ratePerMinute: 3 });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await call('GET', '/v1/whoami', bearer(slow))).statusCode);
    assert.deepEqual(statuses, [200, 200, 200, 429]);
    assert.match((await call('GET', '/v1/whoami', bearer(slow))).json().message, /for this token/);

    const [fast] = await userWithTokens('hugo', 1, { ratePerMinute: 2 * DEFAULT_RATE });
    const plain = (await call('POST', '/v1/tokens', admin, undefined, { name: 'plain', user: 'hugo' })).json().secret as string;
    for (let i = 0; i < DEFAULT_RATE + 10; i++)
      assert.equal((await call('GET', '/v1/whoami', bearer(fast))).statusCode, 200, `request ${i} on the granted token`);
    assert.equal(
      (await call('GET', '/v1/whoami', bearer(plain))).statusCode,
      429,
      "a default token of the same user is past the user's default rate",
    );
  });

  test('21 wrong tokens from one address: failures get 429 with a growing Retry-After, valid tokens from there still work', async () => {
    const [tenant] = await userWithTokens('ivan', 1);
    const from = '198.51.100.7';
    for (let i = 0; i < 20; i++)
      assert.equal((await call('GET', '/v1/whoami', bearer(`wrong-${i}`), from)).statusCode, 401, `failure ${i + 1}`);
    const waits: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await call('GET', '/v1/whoami', bearer(`wrong-again-${i}`), from);
      assert.equal(res.statusCode, 429, res.body);
      assert.match(res.json().message, /^invalid token; too many failed authentications from this address: wait \d+ s/);
      waits.push(Number(res.headers['retry-after']));
    }
    assert.deepEqual(waits, [1, 2, 4]);
    // The review's lockout: the admin's token and a tenant's, from the same address.
    assert.equal((await call('GET', '/v1/whoami', admin, from)).statusCode, 200);
    assert.equal((await call('GET', '/v1/whoami', bearer(tenant), from)).statusCode, 200);
    assert.equal((await call('POST', '/v1/tokens', bearer(tenant), from, { name: 'still-works' })).statusCode, 201);
    const later = await call('GET', '/v1/whoami', bearer(wrong(1)), from);
    assert.equal(later.statusCode, 429);
    assert.equal(later.headers['retry-after'], '8', 'a valid token in between resets nothing for the guesser');
    assert.equal((await call('GET', '/v1/whoami', {}, from)).statusCode, 401, 'no token guesses nothing: 401, not counted');
    assert.equal((await call('GET', '/v1/whoami', bearer('wrong'), '198.51.100.8')).statusCode, 401, 'other addresses are not affected');
  });

  test('a token id guessed from many addresses is throttled from any of them; the token itself still works', async () => {
    const [secret] = await userWithTokens('judy', 1);
    const id = (await call('GET', '/v1/whoami', bearer(secret))).json().tokenId as string;
    for (let i = 0; i < 10; i++) assert.equal((await call('GET', '/v1/whoami', bearer(forged(id, i)), `192.0.2.${i + 1}`)).statusCode, 401);
    const res = await call('GET', '/v1/whoami', bearer(forged(id, 10)), '192.0.2.200');
    assert.equal(res.statusCode, 429, res.body);
    assert.match(res.json().message, new RegExp(`too many failed authentications for token ${id}`));
    assert.equal(res.headers['retry-after'], '1');
    assert.equal((await call('GET', '/v1/whoami', bearer(secret), '192.0.2.201')).statusCode, 200);
  });

  test('unknown routes answer 404 and do not count as failed authentication', async () => {
    const from = '203.0.113.50';
    for (let i = 0; i < 30; i++) {
      const res = await call('GET', i % 2 ? '/v1/nothing' : `/v1/users/x/y/${i}`, bearer(`wrong-${i}`), from);
      assert.equal(res.statusCode, 404, res.body);
      assert.match(res.json().message, /^no route GET/);
    }
    assert.equal((await call('GET', '/v1/whoami', bearer('wrong'), from)).statusCode, 401);
  });

  test('answers carry security headers; the API is never cached; /docs still works', async () => {
    for (const res of [
      await call('GET', '/v1/whoami', admin),
      await call('GET', '/v1/whoami', {}),
      await call('GET', '/v1/nothing', {}),
      await call('GET', '/healthz', {}),
    ]) {
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['referrer-policy'], 'no-referrer');
      assert.equal(res.headers['x-frame-options'], 'DENY');
      assert.equal(res.headers['cache-control'], 'no-store');
    }
    const created = await call('POST', '/v1/tokens', admin, undefined, { name: 'cached?' });
    assert.equal(created.headers['cache-control'], 'no-store', 'the secret is never cached');
    const docs = await call('GET', '/docs', {});
    assert.equal(docs.statusCode, 200);
    assert.match(String(docs.headers['content-type']), /text\/html/);
    assert.equal(docs.headers['x-content-type-options'], 'nosniff');
    const bundle = await call('GET', '/docs/static/swagger-ui-bundle.js', {});
    assert.equal(bundle.statusCode, 200);
    assert.equal((await call('GET', '/openapi.json', {})).statusCode, 200);
  });
});
