import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newId } from '../../lib/ids.ts';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('ids are UUIDv7, unique, and strictly ordered within a process even inside one millisecond', () => {
  const ids = Array.from({ length: 50_000 }, newId);
  assert.equal(new Set(ids).size, ids.length);
  for (const id of ids.slice(0, 100)) assert.match(id, UUID_V7);
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1] < ids[i], `${ids[i - 1]} before ${ids[i]}`);
});

test("an id's time prefix is the moment it was made", () => {
  const before = Date.now();
  const ms = parseInt(newId().replace(/-/g, '').slice(0, 12), 16);
  assert.ok(ms >= before && ms <= Date.now() + 1, `${ms} within [${before}, now]`);
});
