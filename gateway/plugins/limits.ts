import type { Knex } from 'knex';
import { effectiveLimits, type LimitKind, type UserRow } from '../users/store.ts';
import type { Caller } from './auth.ts';
import { HttpError } from './errors.ts';

/** How much of a kind the user already has: a count query, or a function (e.g. a sum of disk). */
export type Usage = Knex.QueryBuilder | ((trx: Knex.Transaction) => Promise<number>);

/**
 * Refuses a create that would take the caller past their plan, with 422 naming the limit.
 * Call it inside the transaction that writes the new resource (outbox `alsoInTransaction`):
 * it locks the user's row, so two concurrent creates cannot both take the last slot.
 *
 *   await outbox.submit({ ..., alsoInTransaction: async (trx, jobId) => {
 *     await enforceLimit(trx, request.caller, 'websites', trx('websites').where({ owner_id: request.caller.userId }));
 *     await trx('websites').insert({ ..., owner_id: ownerOf(request) });
 *   } });
 *
 * `adding` is how much the create adds (1 resource, or the disk size in GB). Admins have no limits.
 * `caller` is whose plan counts: the caller, or the user an admin creates something for.
 */
export async function enforceLimit(
  trx: Knex.Transaction,
  caller: Pick<Caller, 'userId' | 'role'>,
  kind: LimitKind,
  usage: Usage,
  adding = 1,
): Promise<void> {
  if (caller.role === 'admin') return;
  const user: Pick<UserRow, 'limits'> | undefined = await trx('users').where({ id: caller.userId }).forUpdate().first('limits');
  if (!user) throw new HttpError(401, 'unauthorized', 'the calling user no longer exists');
  const limit = effectiveLimits(user)[kind];
  const used = typeof usage === 'function' ? await usage(trx) : await countOf(usage);
  if (used + adding > limit) {
    throw new HttpError(422, 'limit_reached', `plan limit reached: at most ${limit} ${kind}`, [`${kind}: ${used} used of ${limit}`]);
  }
}

async function countOf(query: Knex.QueryBuilder): Promise<number> {
  const row = (await query.clone().clearSelect().clearOrder().count({ count: '*' }).first()) as { count?: string | number } | undefined;
  return Number(row?.count ?? 0);
}
