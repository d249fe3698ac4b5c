import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeCursor, encodeCursor, pageOf, pageOfList } from '../../gateway/pages.ts';
import { HttpError } from '../../gateway/plugins/errors.ts';

test('a cursor is opaque base64url and decodes back to the sort key it holds', () => {
  const cursor = encodeCursor(['www.example.net', '0193a5c6-7e8f-7091-a213-c4d5e6f70819']);
  assert.match(cursor, /^[A-Za-z0-9_-]+$/);
  assert.deepEqual(decodeCursor(cursor, 2), ['www.example.net', '0193a5c6-7e8f-7091-a213-c4d5e6f70819']);
});

test('a cursor no list gave is a 400, not a 500', () => {
  for (const [cursor, arity] of [
    ['bm90IGpzb24', 1],
    [encodeCursor(['a']), 2],
    [Buffer.from('{"a":1}').toString('base64url'), 1],
    [Buffer.from('[null]').toString('base64url'), 1],
  ] as const)
    assert.throws(
      () => decodeCursor(cursor, arity),
      (error: unknown) => error instanceof HttpError && error.statusCode === 400,
    );
});

test('pageOf gives next only when the extra row shows more follow', () => {
  const rows = ['a', 'b', 'c'];
  assert.deepEqual(
    pageOf(rows, 3, (r) => [r]),
    { items: rows },
  );
  const page = pageOf(rows, 2, (r) => [r]);
  assert.deepEqual(page.items, ['a', 'b']);
  assert.deepEqual(decodeCursor(page.next!, 1), ['b']);
});

test('pageOfList walks a list held in memory page by page', () => {
  const rows = ['q1', 'q2', 'q3', 'q4', 'q5'];
  const seen: string[] = [];
  let after: string | undefined;
  do {
    const page = pageOfList(rows, { limit: 2, after }, (r) => r);
    seen.push(...page.items);
    after = page.next;
  } while (after);
  assert.deepEqual(seen, rows);
});
