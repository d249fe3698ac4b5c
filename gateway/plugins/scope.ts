import type { Knex } from 'knex';
import type { FastifyRequest } from 'fastify';
import type { Caller } from './auth.ts';
import { HttpError } from './errors.ts';

/**
 * The one place where a query is narrowed to what the caller may see: admins see all,
 * users only the rows they own. Routes never filter by owner themselves.
 */
export function scopeToCaller<Q extends Knex.QueryBuilder>(query: Q, caller: Caller, ownerColumn = 'owner_id'): Q {
  if (caller.role !== 'admin') query.where(ownerColumn, caller.userId);
  return query;
}

/** Admin-only routes answer 403 to users: the route is public knowledge, the resource is not. */
export function requireAdmin(request: FastifyRequest): void {
  if (request.caller.role !== 'admin') throw new HttpError(403, 'forbidden', 'this needs an admin token');
}
