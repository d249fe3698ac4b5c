import type { Knex } from 'knex';
import { HttpError } from './plugins/errors.ts';

/**
 * Paging of every list (the shape is `Page` in schemas.ts): a page is `limit` items in the list's
 * order, and `next`, when more follow, is an opaque cursor holding the sort key of the page's
 * last item. The next page is the items after that key (keyset paging), so rows created or
 * deleted between two pages never shift one.
 */

type Key = (string | number)[];

export const encodeCursor = (key: Key): string => Buffer.from(JSON.stringify(key)).toString('base64url');

/** The sort key in a cursor this list gave; anything else is a 400. */
export function decodeCursor(cursor: string, arity: number): Key {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  if (!Array.isArray(key) || key.length !== arity || !key.every((v) => typeof v === 'string' || typeof v === 'number'))
    throw new HttpError(400, 'bad_request', 'querystring/after is not a cursor this list gave (pass back its `next`)');
  return key;
}

export interface Page<T> {
  items: T[];
  next?: string;
}

/**
 * The page from rows read with `limit + 1` (see `keyset`): at most `limit` items, and `next`
 * (the key of the last one) only when the extra row shows that more follow.
 */
export function pageOf<R>(rows: R[], limit: number, cursorOf: (row: R) => Key): Page<R> {
  if (rows.length <= limit) return { items: rows };
  const items = rows.slice(0, limit);
  return { items, next: encodeCursor(cursorOf(items[items.length - 1])) };
}

/** The same page with each item turned into its view. */
export async function mapPage<R, V>(page: Page<R>, view: (row: R) => V | Promise<V>): Promise<Page<V>> {
  const items = await Promise.all(page.items.map(view));
  return page.next === undefined ? { items } : { items, next: page.next };
}

/**
 * Orders a query by `columns` (all ascending or all descending; the last one unique), starts it
 * after the cursor's key and reads one row more than the page, for `pageOf`.
 */
export function keyset<Q extends Knex.QueryBuilder>(
  query: Q,
  order: { columns: string[]; desc?: boolean },
  page: { limit: number; after?: string },
): Q {
  const direction = order.desc ? 'desc' : 'asc';
  query.clearOrder().orderBy(order.columns.map((column) => ({ column, order: direction })));
  query.limit(page.limit + 1);
  if (page.after !== undefined) {
    const key = decodeCursor(page.after, order.columns.length);
    const marks = order.columns.map(() => '?').join(', ');
    query.whereRaw(`(${order.columns.map(() => '??').join(', ')}) ${order.desc ? '<' : '>'} (${marks})`, [...order.columns, ...key]);
  }
  return query;
}

/**
 * A page of a short list held in memory (from elsewhere than a query: the broker's queues): the
 * items after the one whose key is the cursor's (none if that one is gone: such lists are fixed).
 */
export function pageOfList<R>(rows: R[], page: { limit: number; after?: string }, keyOf: (row: R) => string): Page<R> {
  let start = 0;
  if (page.after !== undefined) {
    const [after] = decodeCursor(page.after, 1);
    const at = rows.findIndex((row) => keyOf(row) === after);
    start = at >= 0 ? at + 1 : rows.length;
  }
  return pageOf(rows.slice(start, start + page.limit + 1), page.limit, (row) => [keyOf(row)]);
}
