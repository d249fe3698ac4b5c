/** Plan limits, token secrets, address allowlists and subordinate id ranges: the pure parts. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Caller } from '../../gateway/plugins/auth.ts';
import { addressAllowed, cidrProblem } from '../../gateway/plugins/ip-allow.ts';
import { enforceLimit } from '../../gateway/plugins/limits.ts';
import { HttpError } from '../../gateway/plugins/errors.ts';
import { openDatabase, type Database } from '../../lib/db/connect.ts';
import { hashSecret, tokenIdOf } from '../../gateway/users/token-store.ts';
import { collisions, firstFreeRange, parseSubids } from '../../handlers/users/tenant.provision/subids.ts';

describe('enforceLimit', () => {
  let database: Database;
  const user: Caller = { userId: '00000000-0000-7000-8000-0000000000aa', actor: 'gina', role: 'user', tenant: 'gina', tokenId: null };
  const admin: Caller = { ...user, role: 'admin', tenant: null };

  before(async () => {
    database = openDatabase({ url: null, inMemory: true });
    const db = database.knex;
    // Just enough of the schema: the user's limits and a fake resource kind.
    await db.schema.createTable('users', (t) => {
      t.uuid('id').primary();
      t.jsonb('limits').notNullable().defaultTo('{}');
    });
    await db.schema.createTable('websites', (t) => {
      t.increments('id');
      t.uuid('owner_id').notNullable();
    });
    await db('users').insert({ id: user.userId, limits: JSON.stringify({ websites: 2 }) });
  });
  after(() => database.close());

  const create = (caller: Caller) =>
    database.knex.transaction(async (trx) => {
      await enforceLimit(trx, caller, 'websites', trx('websites').where({ owner_id: user.userId }));
      await trx('websites').insert({ owner_id: user.userId });
    });

  test('creates up to the limit, then 422 naming the limit', async () => {
    await create(user);
    await create(user);
    const error = await create(user).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(error instanceof HttpError);
    assert.equal(error.statusCode, 422);
    assert.equal(error.code, 'limit_reached');
    assert.equal(error.message, 'plan limit reached: at most 2 websites');
    assert.equal((await database.knex('websites').count({ n: '*' }).first())?.n, 2, 'the refused create wrote nothing');
  });

  test('kinds the admin did not set use the default plan; a function can measure usage (disk)', async () => {
    await database.knex.transaction((trx) => enforceLimit(trx, user, 'diskGb', async () => 9, 1));
    const error = await database.knex.transaction((trx) => enforceLimit(trx, user, 'diskGb', async () => 9, 2)).catch((e) => e);
    assert.match(error.message, /at most 10 diskGb/);
  });

  test('admins have no limits', async () => {
    await create(admin);
  });
});

describe('token secrets', () => {
  test('the id is read from the secret; anything else is not ours', () => {
    const secret = `up_0190f5e2a1b27c3d8e4f5a6b7c8d9e0f_${'A'.repeat(43)}`;
    assert.equal(tokenIdOf(secret), '0190f5e2-a1b2-7c3d-8e4f-5a6b7c8d9e0f');
    assert.equal(tokenIdOf('up_short'), null);
    assert.equal(tokenIdOf(`${secret}x`), null);
    assert.equal(hashSecret(secret).length, 64);
  });
});

describe('address allowlists', () => {
  test('IPv4 and IPv6 subnets, v4-mapped addresses, empty means anywhere', () => {
    assert.equal(addressAllowed([], '198.51.100.1'), true);
    assert.equal(addressAllowed(['10.1.0.0/16'], '10.1.200.3'), true);
    assert.equal(addressAllowed(['10.1.0.0/16'], '::ffff:10.1.2.3'), true);
    assert.equal(addressAllowed(['10.1.0.0/16'], '10.2.0.1'), false);
    assert.equal(addressAllowed(['2001:db8::/32'], '2001:db8:1::1'), true);
    assert.equal(addressAllowed(['2001:db8::/32'], '2001:db9::1'), false);
    assert.equal(addressAllowed(['10.0.0.0/8'], 'not-an-ip'), false);
  });

  test('bad subnets are explained', () => {
    assert.equal(cidrProblem('192.0.2.0/24'), null);
    assert.equal(cidrProblem('2001:db8::/48'), null);
    assert.match(cidrProblem('192.0.2.0/33')!, /prefix/);
    assert.match(cidrProblem('999.0.2.0/8')!, /not an IPv4 or IPv6/);
    assert.match(cidrProblem('10.0.0.0')!, /prefix/);
  });
});

describe('subordinate id ranges', () => {
  const subuid = parseSubids('containers:2147483647:2147483648\nup-a:1000000000:65536\nbroken line\n');

  test('parses entries and finds collisions with other owners only', () => {
    assert.equal(subuid.length, 2);
    assert.deepEqual(
      collisions(subuid, 'up-b', { start: 1000030000, count: 65536 }).map((e) => e.owner),
      ['up-a'],
    );
    assert.deepEqual(collisions(subuid, 'up-a', { start: 1000000000, count: 65536 }), []);
    assert.deepEqual(collisions(subuid, 'up-b', { start: 1000065536, count: 65536 }), [], 'adjacent ranges do not overlap');
  });

  test('the first free range is above every taken one it would overlap, in both files', () => {
    assert.deepEqual(firstFreeRange([subuid, parseSubids('up-c:1000065536:65536')], 1_000_000_000, 65536), {
      start: 1000131072,
      count: 65536,
    });
    assert.deepEqual(firstFreeRange([[]], 1_000_000_000, 65536), { start: 1_000_000_000, count: 65536 });
  });
});

describe('tenant operation payloads', () => {
  test('only strict tenant names reach a host', async () => {
    const { validator } = await import('../../queues/validate.ts');
    const { tenantProvision } = await import('../../queues/users/ops.ts');
    const check = validator(tenantProvision.payload);
    const host = { name: 'h1', address: '10.0.0.1', port: 22, user: 'root', hostKeySha256: `SHA256:${'A'.repeat(43)}` };
    assert.equal(check.check({ host, tenant: 'alice' }), true);
    for (const tenant of ['Alice', 'a', 'a;reboot', '../x', 'a b', '$(id)', 'x'.repeat(32)]) {
      assert.equal(check.check({ host, tenant }), false, tenant);
    }
    assert.equal(check.check({ host, tenant: 'alice', uidRange: { start: 5, count: 65536 } }), false, 'no range below the system ids');
  });
});
