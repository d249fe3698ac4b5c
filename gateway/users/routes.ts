import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { getHostByName, hostRefOf } from '../hosts/store.ts';
import type { JobRow } from '../jobs-store.ts';
import { BOOTSTRAP_ADMIN_ID } from '../../lib/db/migrations/002-users-hosts.ts';
import { revokeUserTokens } from './token-store.ts';
import {
  createUser,
  getUserById,
  getUserByName,
  LIMIT_KINDS,
  listUsers,
  ownedResourceCounts,
  setUserLimits,
  setUserStatus,
  SUBID_COUNT,
  tenantHosts,
  USER_NAME_PATTERN,
  type UserRow,
} from './store.ts';
import { HOST_NAME_PATTERN } from '../../queues/host-ref.ts';
import { tenantDeprovision, tenantProvision } from '../../queues/users/ops.ts';
import type { GatewayContext } from '../context.ts';
import type { Outbox } from '../outbox.ts';
import type { JobPlan } from '../plan.ts';
import { conflict, notFound } from '../plugins/errors.ts';
import { keyset, pageOf } from '../pages.ts';
import { errorResponses, exampleOf, JOB_EXAMPLE, Page, pageQuery } from '../schemas.ts';
import { jobView } from '../views.ts';
import { accepted } from '../routes/accepted.ts';
import { User, userView } from './views.ts';
import { domains } from '../domains.ts';

/** Every kind of resource users own: what deleting a user removes. */
const OWNED_KINDS = domains.flatMap((d) => d.owned ?? []);

const UserName = Type.String({
  pattern: USER_NAME_PATTERN,
  description: 'lower-case letters and digits; the Unix user on hosts is up-<name>',
});
const NameParam = Type.Object({ name: UserName });
const LimitsPatch = Type.Object(
  Object.fromEntries(LIMIT_KINDS.map((k) => [k, Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 }))])),
  { additionalProperties: false, description: 'plan limits; a kind left out keeps the default plan' },
);

export const userRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { db, outbox }) => {
  const userOr404 = async (name: string): Promise<UserRow> => {
    const user = await getUserByName(db, name);
    if (!user || user.status === 'deleted') throw notFound(`user ${name}`);
    return user;
  };
  const show = async (user: UserRow) => userView(user, await tenantHosts(db, user.id));

  app.get(
    '/v1/whoami',
    {
      config: { access: 'caller' },
      schema: {
        operationId: 'whoAmI',
        tags: ['users'],
        summary: 'The calling user and token.',
        response: { 200: User, ...errorResponses(401, 403) },
      },
    },
    async (request) => {
      const user = (await getUserById(db, request.caller.userId))!;
      return { ...(await show(user)), tokenId: request.caller.tokenId, scopes: [...request.credential.scopes] };
    },
  );

  app.post(
    '/v1/users',
    {
      schema: {
        operationId: 'createUser',
        tags: ['users'],
        summary: 'Create a user (admin).',
        body: Type.Object(
          {
            name: UserName,
            role: Type.Optional(Type.Union([Type.Literal('user'), Type.Literal('admin')])),
            limits: Type.Optional(LimitsPatch),
          },
          { additionalProperties: false, examples: [{ name: 'alice', limits: { websites: 10, dnsZones: 5 } }] },
        ),
        response: { 201: User, ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const { name, role = 'user', limits = {} } = request.body;
      const user = await createUser(db, { name, role, limits });
      if (!user) throw conflict(`the name ${name} is taken (also by deleted users: it stays in their jobs and audit)`);
      return reply
        .code(201)
        .header('location', `/v1/users/${name}`)
        .send(await show(user));
    },
  );

  app.get(
    '/v1/users',
    {
      schema: {
        operationId: 'listUsers',
        tags: ['users'],
        summary: 'List users by name (admin).',
        querystring: Type.Object(
          { all: Type.Boolean({ default: false, description: 'include deleted users' }), ...pageQuery({ default: 100, maximum: 500 }) },
          { additionalProperties: false },
        ),
        response: { 200: Page(User), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { all, limit, after } = request.query;
      const rows: UserRow[] = await keyset(listUsers(db, { includeDeleted: all }), { columns: ['name'] }, { limit, after });
      const page = pageOf(rows, limit, (u) => [u.name]);
      return { ...page, items: page.items.map((u) => userView(u)) };
    },
  );

  app.get(
    '/v1/users/:name',
    {
      schema: {
        operationId: 'getUser',
        tags: ['users'],
        summary: 'A user with limits and hosts (admin).',
        params: NameParam,
        response: { 200: User, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => show(await userOr404(request.params.name)),
  );

  app.patch(
    '/v1/users/:name',
    {
      schema: {
        operationId: 'updateUser',
        tags: ['users'],
        summary: "Set a user's plan limits (admin).",
        params: NameParam,
        body: Type.Object({ limits: LimitsPatch }, { additionalProperties: false, examples: [{ limits: { websites: 20 } }] }),
        response: { 200: User, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const user = await userOr404(request.params.name);
      await setUserLimits(db, user.id, { ...user.limits, ...request.body.limits });
      return show((await getUserById(db, user.id))!);
    },
  );

  for (const [verb, status] of [
    ['suspend', 'suspended'],
    ['unsuspend', 'active'],
  ] as const) {
    app.post(
      `/v1/users/:name/${verb}`,
      {
        schema: {
          operationId: `${verb}User`,
          tags: ['users'],
          summary:
            verb === 'suspend' ? 'Suspend a user: their tokens stop working at once (admin).' : 'Let a suspended user in again (admin).',
          params: NameParam,
          response: { 200: User, ...errorResponses(400, 401, 403, 404, 409) },
        },
      },
      async (request) => {
        const user = await userOr404(request.params.name);
        if (user.id === BOOTSTRAP_ADMIN_ID) throw conflict('the bootstrap admin cannot be suspended');
        if (user.status === 'deleting') throw conflict(`user ${user.name} is being deleted`);
        await setUserStatus(db, user.id, status);
        return show((await getUserById(db, user.id))!);
      },
    );
  }

  app.delete(
    '/v1/users/:name',
    {
      schema: {
        operationId: 'deleteUser',
        tags: ['users'],
        summary: 'Delete a user: their tokens stop, their resources and Unix users are removed by jobs (admin).',
        description:
          'Refused with 409 while the user owns resources, unless `force=true`: then every resource gets a removal job and the user stays `deleting`; delete again once those jobs are done to remove the Unix users.',
        params: NameParam,
        querystring: Type.Object({ force: Type.Boolean({ default: false }) }, { additionalProperties: false }),
        response: {
          202: Type.Object(
            { user: User, jobs: Type.Array(Type.Ref('Job')) },
            {
              examples: [
                {
                  user: { ...(exampleOf(User) as object), status: 'deleting' },
                  jobs: [{ ...JOB_EXAMPLE, op: 'tenant.deprovision', target: 'web1', payload: { user: 'alice' }, result: null }],
                },
              ],
            },
          ),
          ...errorResponses(400, 401, 403, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const user = await userOr404(request.params.name);
      if (user.id === BOOTSTRAP_ADMIN_ID) throw conflict('the bootstrap admin cannot be deleted');
      const counts = await ownedResourceCounts(db, user.id, OWNED_KINDS);
      const owned = Object.entries(counts).map(([kind, n]) => `${n} ${kind}`);
      if (owned.length > 0 && !request.query.force) {
        throw conflict(`user ${user.name} still owns ${owned.join(', ')}; delete them first, or use force=true to schedule their removal`);
      }
      await setUserStatus(db, user.id, 'deleting');
      await revokeUserTokens(db, user.id);
      const actor = request.caller.actor;
      const jobs = owned.length > 0 ? await removeResources(db, outbox, user, actor) : await removeTenant(db, outbox, user, actor);
      if (owned.length === 0) await setUserStatus(db, user.id, 'deleted');
      if (jobs[0]) reply.header('location', `/v1/jobs/${jobs[0].id}`);
      return reply.code(202).send({ user: userView((await getUserById(db, user.id))!), jobs: jobs.map((j) => jobView(j, request.caller)) });
    },
  );

  app.post(
    '/v1/users/:name/hosts',
    {
      schema: {
        operationId: 'provisionUserOnHost',
        tags: ['users'],
        summary: "Create the user's Unix user up-<name> on a host (tenant.provision; admin). Resource routes do this on their own.",
        params: NameParam,
        body: Type.Object(
          { host: Type.String({ pattern: HOST_NAME_PATTERN, maxLength: 63 }) },
          { additionalProperties: false, examples: [{ host: 'web1' }] },
        ),
        response: { 202: Type.Ref('Job'), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const user = await userOr404(request.params.name);
      if (user.status !== 'active' && user.status !== 'suspended') throw conflict(`user ${user.name} is ${user.status}`);
      if (user.role !== 'user') throw conflict('admins are not tenants: they own no resources on hosts');
      const host = await getHostByName(db, request.body.host);
      if (!host) throw notFound(`host ${request.body.host}`);
      const { job } = await outbox.submit({
        op: tenantProvision,
        payload: { host: await hostRefOf(db, host), tenant: user.name, uidRange: { start: Number(user.subid_start), count: SUBID_COUNT } },
        actor: request.caller.actor,
        tenant: user.name,
        ownerId: user.id,
        target: host.name,
      });
      return accepted(reply, job);
    },
  );

  app.delete(
    '/v1/users/:name/hosts/:host',
    {
      schema: {
        operationId: 'deprovisionUserOnHost',
        tags: ['users'],
        summary: "Remove the user's Unix user from a host (tenant.deprovision; admin).",
        params: Type.Object({ name: UserName, host: Type.String({ pattern: HOST_NAME_PATTERN, maxLength: 63 }) }),
        response: { 202: Type.Ref('Job'), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const user = await userOr404(request.params.name);
      const host = await getHostByName(db, request.params.host);
      if (!host) throw notFound(`host ${request.params.host}`);
      const payload = { host: await hostRefOf(db, host), tenant: user.name };
      const { job } = await outbox.submit({
        op: tenantDeprovision,
        payload,
        actor: request.caller.actor,
        tenant: user.name,
        ownerId: user.id,
        target: host.name,
      });
      return accepted(reply, job);
    },
  );
};

/** Every owned resource removed as its kind plans it, in one transaction; published after the commit. */
async function removeResources(_db: GatewayContext['db'], outbox: Outbox, user: UserRow, actor: string): Promise<JobRow[]> {
  return outbox.submitPlans({ actor, tenant: user.name, ownerId: user.id }, async (trx) => {
    const plans: JobPlan[] = [];
    for (const kind of OWNED_KINDS) {
      const rows: Record<string, unknown>[] = await trx(kind.table).where(kind.ownerColumn ?? 'owner_id', user.id);
      for (const row of rows) plans.push(...(await kind.planRemoval(trx, row)));
    }
    return plans;
  });
}

/** With no resources left, the Unix users go from every host that has one. */
async function removeTenant(db: GatewayContext['db'], outbox: Outbox, user: UserRow, actor: string): Promise<JobRow[]> {
  const jobs: JobRow[] = [];
  for (const name of await tenantHosts(db, user.id)) {
    const host = await getHostByName(db, name);
    if (!host) continue;
    const payload = { host: await hostRefOf(db, host), tenant: user.name };
    jobs.push((await outbox.submit({ op: tenantDeprovision, payload, actor, tenant: user.name, ownerId: user.id, target: host.name })).job);
  }
  return jobs;
}
