import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Caller, Credential } from '../../gateway/plugins/auth.ts';
import { HttpError } from '../../gateway/plugins/errors.ts';
import { subnetInside } from '../../gateway/plugins/ip-allow.ts';
import { boundedByParent } from '../../gateway/users/token-bounds.ts';

test('subnets inside subnets: same family, prefix at least as long, same leading bits', () => {
  assert.ok(subnetInside('10.1.2.0/24', '10.0.0.0/8'));
  assert.ok(subnetInside('10.0.0.0/8', '10.0.0.0/8'));
  assert.ok(subnetInside('127.0.0.1/32', '127.0.0.1/32'));
  assert.ok(subnetInside('2001:db8:1::/48', '2001:db8::/32'));
  assert.ok(!subnetInside('10.0.0.0/7', '10.0.0.0/8'), 'wider');
  assert.ok(!subnetInside('11.0.0.0/24', '10.0.0.0/8'), 'elsewhere');
  assert.ok(!subnetInside('0.0.0.0/0', '10.0.0.0/8'));
  assert.ok(!subnetInside('::ffff:10.0.0.0/120', '10.0.0.0/8'), 'another family is never inside');
  assert.ok(!subnetInside('10.0.0.0/8', '::/0'));
  assert.ok(!subnetInside('2001:db9::/32', '2001:db8::/32'));
});

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-06T00:00:00Z');
const tenant: Caller = { userId: 'u', actor: 'alice', role: 'user', tenant: 'alice', tokenId: 't' };
const storedAdmin: Caller = { userId: 'a', actor: 'root', role: 'admin', tenant: null, tokenId: 't2' };
const bootstrap: Caller = { userId: 'a', actor: 'admin', role: 'admin', tenant: null, tokenId: null };
const narrow: Credential = { scopes: ['write'], ratePerMinute: 30, expiresAt: new Date(NOW + DAY), allowFrom: ['192.0.2.0/24'] };
const wide: Credential = { scopes: ['read', 'write'], ratePerMinute: null, expiresAt: new Date(NOW + 365 * DAY), allowFrom: [] };
const refusal = (field: string) => (error: unknown) =>
  error instanceof HttpError && error.statusCode === 403 && error.message.startsWith(`body/${field}:`);

test('a minted token inherits what it leaves out, and never more than its parent', () => {
  assert.deepEqual(boundedByParent({}, tenant, narrow, 1200, NOW), {
    scopes: ['write'],
    expiresAt: new Date(NOW + DAY),
    allowFrom: ['192.0.2.0/24'],
    ratePerMinute: 30,
  });
  assert.deepEqual(
    boundedByParent({}, tenant, wide, 1200, NOW).expiresAt,
    new Date(NOW + 90 * DAY),
    '90 days when the parent lives longer',
  );
  const narrower = boundedByParent(
    { scopes: ['write'], expiresInDays: 1, allowFrom: ['192.0.2.128/25', '192.0.2.7/32'], ratePerMinute: 5 },
    tenant,
    narrow,
    1200,
    NOW,
  );
  assert.deepEqual(narrower.allowFrom, ['192.0.2.128/25', '192.0.2.7/32']);
  assert.equal(narrower.ratePerMinute, 5);
});

test('each way of asking for more than the parent is refused, naming the field', () => {
  assert.throws(() => boundedByParent({ scopes: ['read', 'write'] }, tenant, narrow, 1200, NOW), refusal('scopes'));
  assert.throws(() => boundedByParent({ expiresInDays: 2 }, tenant, narrow, 1200, NOW), refusal('expiresInDays'));
  assert.throws(() => boundedByParent({ expiresInDays: 3650 }, tenant, narrow, 1200, NOW), refusal('expiresInDays'));
  assert.throws(() => boundedByParent({ allowFrom: [] }, tenant, narrow, 1200, NOW), refusal('allowFrom'));
  assert.throws(() => boundedByParent({ allowFrom: ['192.0.0.0/16'] }, tenant, narrow, 1200, NOW), refusal('allowFrom/0'));
  assert.throws(() => boundedByParent({ allowFrom: ['192.0.2.0/24', '10.0.0.1/32'] }, tenant, narrow, 1200, NOW), refusal('allowFrom/1'));
  assert.throws(() => boundedByParent({ allowFrom: ['::ffff:192.0.2.1/128'] }, tenant, narrow, 1200, NOW), refusal('allowFrom/0'));
  assert.throws(() => boundedByParent({ ratePerMinute: 31 }, tenant, narrow, 1200, NOW), refusal('ratePerMinute'));
  // The review's reproduction, all at once.
  assert.throws(() => boundedByParent({ expiresInDays: 3650, ratePerMinute: 100_000 }, tenant, narrow, 1200, NOW), HttpError);
});

test('rates above the default are for admins to grant, within their own token', () => {
  assert.throws(
    () => boundedByParent({ ratePerMinute: 100_000 }, tenant, wide, 1200, NOW),
    (e: Error) => refusal('ratePerMinute')(e) && /only an admin/.test(e.message),
  );
  assert.equal(boundedByParent({ ratePerMinute: 1200 }, tenant, wide, 1200, NOW).ratePerMinute, 1200);
  assert.throws(
    () => boundedByParent({ ratePerMinute: 1201 }, storedAdmin, wide, 1200, NOW),
    refusal('ratePerMinute'),
    "a stored admin token's rate is the default",
  );
  assert.equal(boundedByParent({ ratePerMinute: 5000 }, storedAdmin, { ...wide, ratePerMinute: 5000 }, 1200, NOW).ratePerMinute, 5000);
  const full: Credential = { scopes: ['read', 'write'], ratePerMinute: null, expiresAt: null, allowFrom: [] };
  assert.equal(
    boundedByParent({ ratePerMinute: 100_000, expiresInDays: 3650 }, bootstrap, full, 1200, NOW).ratePerMinute,
    100_000,
    'the bootstrap admin token has no bounds',
  );
});
