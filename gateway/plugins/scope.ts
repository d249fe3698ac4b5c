import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Knex } from 'knex';
import type { Caller } from './auth.ts';
import { guardApiRoutes, isApiRoute } from './api-routes.ts';
import { conflict, HttpError, notFound } from './errors.ts';

/**
 * How a route declares who may call it (fastify route `config`):
 * - `owned: {...}`: a route of a resource users own. With `idParam`, the row is looked up
 *   here, before the handler runs, and another user's row answers 404 (existence never leaks).
 *   Without `idParam` it lists (GET) or creates (POST); the list query goes through
 *   `scopeToCaller`, and a create takes the owner from `ownerOf(request)`, never from the body.
 * - `access: 'caller'`: any authenticated caller; the route scopes its data to the caller itself.
 * - `access: 'admin'` (also what a route without any declaration gets): admins only, 403 for users.
 */
export interface OwnedRoute {
  /** Plural, as in the API (`websites`); names the resource in 404s and in the isolation matrix. */
  kind: string;
  table: string;
  /** The path parameter holding the resource id (item routes). */
  idParam?: string;
  /** Default `id`. */
  idColumn?: string;
  /** Default `owner_id`. */
  ownerColumn?: string;
}

export type Access = 'admin' | 'caller';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
    owned?: OwnedRoute;
  }
  interface FastifyInstance {
    /** Every `/v1` route with its declaration: what the isolation matrix test walks. */
    routeAccess: RouteAccess[];
  }
}

export interface RouteAccess {
  method: string;
  url: string;
  access: Access;
  owned: OwnedRoute | null;
}

const OWNER_FIELDS = ['owner', 'owner_id', 'ownerId', 'ownerName'];

/** Admins may pass; users are refused. Routes without a declaration are admin-only. */
export const accessOf = (config: { access?: Access; owned?: OwnedRoute } | undefined): Access =>
  config?.owned ? 'caller' : (config?.access ?? 'admin');

/**
 * The one place where a query is narrowed to what the caller may see: admins see all,
 * users only the rows they own. Routes never filter by owner themselves.
 */
export function scopeToCaller<Q extends Knex.QueryBuilder>(query: Q, caller: Caller, ownerColumn = 'owner_id'): Q {
  if (caller.role !== 'admin') query.where(ownerColumn, caller.userId);
  return query;
}

/** The owner of anything the caller creates: always the caller. */
export const ownerOf = (request: FastifyRequest): string => request.caller.userId;

/**
 * One of `table`'s rows by name, as the caller may address it. Names are unique per owner: a
 * user finds only their own (another user's name answers 404, as a name nobody has); an admin
 * finds anyone's and adds `?owner=<user>` when several users have one of that name (409 names
 * them: admins see all).
 */
export async function ownedByName<T extends { owner_id: string }>(
  db: Knex,
  table: string,
  what: string,
  caller: Caller,
  name: string,
  owner?: string,
): Promise<T> {
  const query = scopeToCaller(db(`${table} as r`).join('users as u', 'u.id', 'r.owner_id').where('r.name', name), caller, 'r.owner_id');
  if (owner !== undefined) query.where('u.name', owner);
  const rows: (T & { owner_name: string })[] = await query.select('r.*', 'u.name as owner_name').orderBy('u.name');
  if (rows.length === 0) throw notFound(what);
  if (rows.length > 1)
    throw conflict(`several users have a ${what} named ${name} (${rows.map((r) => r.owner_name).join(', ')}): add ?owner=<user>`);
  const { owner_name: _, ...row } = rows[0];
  return row as unknown as T;
}

/** Admin-only routes answer 403 to users: the route is public knowledge, the resource is not. */
export function requireAdmin(request: FastifyRequest): void {
  if (request.caller.role !== 'admin') throw new HttpError(403, 'forbidden', 'this needs an admin token');
}

/**
 * Installs the access rules for every request matched to an API route (by the route's
 * pattern, never the request's URL). Call right after auth, before any plugin.
 */
export function enforceAccess(app: FastifyInstance, options: { db: Knex }): void {
  const table: RouteAccess[] = [];
  app.decorate('routeAccess', table);
  app.addHook('onRoute', (route) => {
    if (!isApiRoute(route.url)) return;
    const config = route.config as { access?: Access; owned?: OwnedRoute } | undefined;
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue;
      table.push({ method, url: route.url, access: accessOf(config), owned: config?.owned ?? null });
    }
  });

  // Default deny: every API route needs a caller (reading it without one is a 401), admin-only ones an admin.
  guardApiRoutes(app, 'onRequest', async (request: FastifyRequest) => {
    const caller = request.caller;
    if (accessOf(request.routeOptions.config) === 'admin' && caller.role !== 'admin')
      throw new HttpError(403, 'forbidden', 'this needs an admin token');
  });

  // Before validation, so that an owner field is refused even where the schema would ignore it.
  guardApiRoutes(app, 'preValidation', async (request: FastifyRequest) => {
    if (!request.body || typeof request.body !== 'object') return;
    const field = OWNER_FIELDS.find((f) => Object.hasOwn(request.body as object, f));
    if (field) throw new HttpError(400, 'bad_request', `body/${field} is not accepted: the owner is always the caller`);
  });

  guardApiRoutes(app, 'preHandler', async (request: FastifyRequest) => {
    const owned = request.routeOptions.config?.owned;
    if (!owned?.idParam) return;
    const id = (request.params as Record<string, string>)[owned.idParam];
    const ownerColumn = owned.ownerColumn ?? 'owner_id';
    const row: Record<string, unknown> | undefined = await options
      .db(owned.table)
      .where(owned.idColumn ?? 'id', id)
      // Some ids are unique per owner only (website names): a user's lookup is among their own rows.
      .modify((query) => scopeToCaller(query, request.caller, ownerColumn))
      .first(ownerColumn);
    if (!row || (request.caller.role !== 'admin' && row[ownerColumn] !== request.caller.userId)) {
      throw notFound(singular(owned.kind));
    }
  });
}

const singular = (kind: string) => kind.replace(/ies$/, 'y').replace(/s$/, '');
