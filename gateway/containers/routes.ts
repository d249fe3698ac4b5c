import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Knex } from 'knex';
import { Type } from 'typebox';
import { CONTAINER_NAME, ContainerCreate, ContainerEdit } from '../../lib/validate/containers.ts';
import { containerStats } from '../../queues/containers/ops.ts';
import type { GatewayContext } from '../context.ts';
import { getHostByName, hostRefOf } from '../hosts/store.ts';
import { keyset, mapPage, pageOf } from '../pages.ts';
import { plan, requesterOf, type JobPlan } from '../plan.ts';
import { conflict, HttpError, notFound } from '../plugins/errors.ts';
import { enforceLimit } from '../plugins/limits.ts';
import { ownedByName, scopeToCaller } from '../plugins/scope.ts';
import { errorResponses, Page, pageQuery, refTo } from '../schemas.ts';
import { jobView } from '../views.ts';
import type { Caller } from '../plugins/auth.ts';
import { USER_NAME_PATTERN } from '../users/store.ts';
import type { JobRow } from '../jobs-store.ts';
import { placeContainer } from './placement.ts';
import { applyJobs, containerRemoval, logsJob, POWER_OPS, powerJob, targetOf, type PowerVerb } from './plans.ts';
import {
  allocatePorts,
  containerKey,
  DEFAULT_CONTAINER_LIMITS,
  ownerOf,
  portsOf,
  publishAddress,
  upstreamName,
  type ContainerRow,
  type StoredContainerSpec,
} from './store.ts';
import { ContainerView, containerView } from './views.ts';
import { checkSecretUses } from '../secrets/store.ts';
import { sitesNaming } from '../websites/container-upstreams.ts';
import { rerenderJobs } from '../websites/plans.ts';

const Params = Type.Object({ container: Type.String({ pattern: CONTAINER_NAME }) });
const OwnerQuery = Type.Object(
  {
    owner: Type.Optional(
      Type.String({
        pattern: USER_NAME_PATTERN,
        description: 'admins: whose container, when several users have one of this name (409 otherwise)',
      }),
    ),
  },
  { additionalProperties: false },
);
const DeleteQuery = Type.Object(
  {
    ...OwnerQuery.properties,
    force: Type.Optional(Type.Boolean({ description: 'delete even when websites route to it (they answer 502 until it is back)' })),
  },
  { additionalProperties: false },
);
const owned = (idParam?: string) => ({
  owned: { kind: 'containers', table: 'containers', idColumn: 'name', ...(idParam ? { idParam } : {}) },
});
const TAGS = ['containers'];

type Fields = Partial<
  Omit<StoredContainerSpec, 'limits' | 'volumes'> & {
    limits: Partial<StoredContainerSpec['limits']>;
    volumes: { name: string; target: string; readOnly?: boolean }[];
  }
>;

/** The stored spec: what the owner said over what was there (or the defaults), volumes and ports each once. */
function mergeSpec(base: StoredContainerSpec | null, fields: Fields & { image?: string }): StoredContainerSpec {
  const spec: StoredContainerSpec = {
    image: fields.image ?? base?.image ?? '',
    command: fields.command ?? base?.command ?? [],
    env: fields.env ?? base?.env ?? {},
    ports: fields.ports ?? base?.ports ?? [],
    volumes: (fields.volumes ?? base?.volumes ?? []).map((v) => ({ ...v, readOnly: v.readOnly ?? false })),
    limits: { ...DEFAULT_CONTAINER_LIMITS, ...base?.limits, ...fields.limits },
    restart: fields.restart ?? base?.restart ?? 'on-failure',
    healthcheck: fields.healthcheck === undefined ? (base?.healthcheck ?? null) : fields.healthcheck,
    secrets: (fields.secrets ?? base?.secrets ?? []).map((u) => ({ name: u.name, ...(u.env ? { env: u.env } : {}) })),
  };
  const twice = (what: string, values: (string | number)[]) => {
    const seen = values.filter((v, i) => values.indexOf(v) !== i);
    if (seen.length)
      throw new HttpError(400, 'bad_request', `body/${what} names ${seen[0]} twice`, [`body/${what} names ${seen[0]} twice`]);
  };
  twice(
    'ports',
    spec.ports.map((p) => p.container),
  );
  twice(
    'volumes',
    spec.volumes.map((v) => v.target),
  );
  return spec;
}

/** The owner's plan: containers, and the sums of their memory and CPU limits (this container's counted once). */
async function enforceContainerLimits(
  trx: Knex.Transaction,
  caller: Caller,
  ownerId: string,
  spec: StoredContainerSpec,
  except: string | null,
): Promise<void> {
  const others = () => {
    const q = trx('containers').where({ owner_id: ownerId });
    return except ? q.whereNot({ id: except }) : q;
  };
  const sumOf = (field: 'memoryMb' | 'cpus') => async () =>
    Number(
      (
        await others()
          .sum({ total: trx.raw(`(spec->'limits'->>'${field}')::numeric`) })
          .first()
      )?.total ?? 0,
    );
  if (!except) await enforceLimit(trx, caller, 'containers', others());
  await enforceLimit(trx, caller, 'containerMemoryMb', sumOf('memoryMb'), spec.limits.memoryMb);
  await enforceLimit(trx, caller, 'containerCpus', sumOf('cpus'), spec.limits.cpus);
}

export const containerRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { db, outbox }) => {
  /** A container by name: users address their own (another user's is 404), admins anyone's (?owner= when ambiguous). */
  const containerOf = (caller: Caller, name: string, owner?: string) =>
    ownedByName<ContainerRow>(db, 'containers', 'container', caller, name, owner);

  /** An app's replica changes with its app (a deploy, a scale), never on its own: it would drift from the app. */
  async function ownContainerOf(caller: Caller, name: string, owner?: string): Promise<ContainerRow> {
    const row = await containerOf(caller, name, owner);
    if (row.app_id) {
      const app: { name: string } | undefined = await db('apps').where({ id: row.app_id }).first('name');
      throw conflict(`${name} is a replica of the app ${app?.name ?? row.service}: change it with up apps (deploy, scale, env)`);
    }
    return row;
  }

  async function view(row: ContainerRow) {
    const host = await getHostByName(db, row.host);
    return containerView(row, {
      owner: (await ownerOf(db, row.owner_id)).name,
      ports: await portsOf(db, row.id),
      address: host ? publishAddress(host) : '',
    });
  }

  /** A read of a container (logs, stats) runs on its host as a job of the container's owner. */
  async function readOf(row: ContainerRow) {
    const owner = await ownerOf(db, row.owner_id);
    const host = await getHostByName(db, row.host);
    if (!host) throw notFound('host');
    return {
      host: await hostRefOf(db, host),
      key: containerKey(row.name, owner.name),
      job: { target: targetOf(row), ownerId: row.owner_id },
    };
  }

  const submitRead = async (caller: Caller, read: JobPlan) => (await outbox.submitPlans(requesterOf(caller), async () => [read]))[0];

  const accepted = (reply: { request: { caller: Caller }; code(n: number): any }, job: JobRow) =>
    reply.code(202).header('location', `/v1/jobs/${job.id}`).send(jobView(job, reply.request.caller));

  const changed = async (reply: { request: { caller: Caller }; code(n: number): any }, row: ContainerRow, jobs: JobRow[]) =>
    reply
      .code(202)
      .header('location', jobs.at(-1) ? `/v1/jobs/${jobs.at(-1)!.id}` : `/v1/containers/${row.name}`)
      .send({ container: await view(row), jobs: jobs.map((j) => jobView(j, reply.request.caller)) });

  app.post(
    '/v1/containers',
    {
      config: owned(),
      schema: {
        operationId: 'createContainer',
        tags: TAGS,
        summary: 'Run a container on a host of the containers role, in your own id range and network; published ports are allocated.',
        body: refTo(ContainerCreate),
        response: { 202: Type.Ref('ContainerChange'), ...errorResponses(400, 401, 403, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      const { name, host: named, running, ...fields } = request.body;
      if (named && request.caller.role !== 'admin') throw new HttpError(403, 'forbidden', 'only admins place a container on a named host');
      const spec = mergeSpec(null, fields);
      const id = randomUUID();
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        await enforceContainerLimits(trx, request.caller, request.caller.userId, spec, null);
        await checkSecretUses(trx, request.caller.userId, spec.secrets ?? [], spec.env);
        if (await trx('containers').where({ owner_id: request.caller.userId, name }).first('id'))
          throw conflict(`you already have a container named ${name}`);
        if (await trx('apps').where({ owner_id: request.caller.userId, name }).first('id'))
          throw conflict(`you have an app named ${name}: its site routes to its replicas by that name`);
        const host = await placeContainer(trx, spec.limits.memoryMb, named);
        await trx('containers').insert({
          id,
          name,
          owner_id: request.caller.userId,
          host: host.name,
          spec: JSON.stringify(spec),
          generation: 1,
          running: running ?? true,
        });
        await allocatePorts(
          trx,
          { id, host: host.name },
          spec.ports.map((p) => p.container),
        );
        return applyJobs(trx, await trx('containers').where({ id }).first());
      });
      return changed(reply, await db('containers').where({ id }).first(), jobs);
    },
  );

  app.get(
    '/v1/containers',
    {
      config: owned(),
      schema: {
        operationId: 'listContainers',
        tags: TAGS,
        summary: 'Your containers by name (admins: all).',
        querystring: Type.Object(pageQuery({ default: 100, maximum: 500 }), { additionalProperties: false }),
        response: { 200: Page(ContainerView), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { limit, after } = request.query;
      const rows: ContainerRow[] = await scopeToCaller(
        keyset(db('containers'), { columns: ['name', 'id'] }, { limit, after }),
        request.caller,
      );
      return mapPage(
        pageOf(rows, limit, (r) => [r.name, r.id]),
        view,
      );
    },
  );

  app.get(
    '/v1/containers/:container',
    {
      config: owned('container'),
      schema: {
        operationId: 'getContainer',
        tags: TAGS,
        summary: 'One container: its spec, host, published ports and the state its host last reported.',
        params: Params,
        querystring: OwnerQuery,
        response: { 200: Type.Ref('Container'), ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request) => view(await containerOf(request.caller, request.params.container, request.query.owner)),
  );

  app.patch(
    '/v1/containers/:container',
    {
      config: owned('container'),
      schema: {
        operationId: 'editContainer',
        tags: TAGS,
        summary:
          'Change a container: a new generation, applied by recreating it from the new spec (host ports kept where the container port is).',
        params: Params,
        querystring: OwnerQuery,
        body: refTo(ContainerEdit),
        response: { 202: Type.Ref('ContainerChange'), ...errorResponses(400, 401, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      const current = await ownContainerOf(request.caller, request.params.container, request.query.owner);
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        const row: ContainerRow = await trx('containers').where({ id: current.id }).forUpdate().first();
        const spec = mergeSpec(row.spec, request.body);
        await enforceContainerLimits(trx, request.caller, row.owner_id, spec, row.id);
        await checkSecretUses(trx, row.owner_id, spec.secrets ?? [], spec.env);
        const published = new Set(spec.ports.map((p) => p.container));
        const stranded = (await sitesNaming(trx, row.owner_id, upstreamName(row))).flatMap((site) =>
          site.spec.routes.flatMap((r) =>
            typeof r.upstream !== 'string' && r.upstream.container === upstreamName(row) && !published.has(r.upstream.port)
              ? [`${site.name} ${r.path} → port ${r.upstream.port}`]
              : [],
          ),
        );
        if (stranded.length)
          throw conflict(`your websites route to ports this change stops publishing (${stranded.join(', ')}): change their routes first`);
        await trx('containers')
          .where({ id: row.id })
          .update({ spec: JSON.stringify(spec), generation: row.generation + 1, updated_at: trx.fn.now() });
        await allocatePorts(
          trx,
          row,
          spec.ports.map((p) => p.container),
        );
        return applyJobs(trx, await trx('containers').where({ id: row.id }).first());
      });
      return changed(reply, await db('containers').where({ id: current.id }).first(), jobs);
    },
  );

  for (const verb of Object.keys(POWER_OPS) as PowerVerb[]) {
    app.post(
      `/v1/containers/:container/${verb}`,
      {
        config: owned('container'),
        schema: {
          operationId: `${verb}Container`,
          tags: TAGS,
          summary: {
            start: 'Start a stopped container; it is kept running from now on.',
            stop: 'Stop a container; it stays stopped (health checks expect it stopped) until started.',
            restart: 'Restart a container in place.',
          }[verb],
          params: Params,
          querystring: OwnerQuery,
          response: { 202: Type.Ref('ContainerChange'), ...errorResponses(400, 401, 404, 409) },
        },
      },
      async (request, reply) => {
        const current = await containerOf(request.caller, request.params.container, request.query.owner);
        const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
          const row: ContainerRow = await trx('containers').where({ id: current.id }).forUpdate().first();
          if (verb === 'restart') return [await powerJob(trx, row, verb)];
          // Start and stop change the desired state: a new generation, so an older message cannot undo them.
          const next = { ...row, running: verb === 'start', generation: row.generation + 1 };
          await trx('containers')
            .where({ id: row.id })
            .update({ running: next.running, generation: next.generation, updated_at: trx.fn.now() });
          return [await powerJob(trx, next, verb)];
        });
        return changed(reply, await db('containers').where({ id: current.id }).first(), jobs);
      },
    );
  }

  app.delete(
    '/v1/containers/:container',
    {
      config: owned('container'),
      schema: {
        operationId: 'deleteContainer',
        tags: TAGS,
        summary: 'Remove a container (and your network on its host when it was your last container there). Its volumes stay.',
        params: Params,
        querystring: DeleteQuery,
        response: { 202: Type.Ref('Job'), ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request, reply) => {
      const current = await ownContainerOf(request.caller, request.params.container, request.query.owner);
      const [job] = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        const row: ContainerRow | undefined = await trx('containers').where({ id: current.id }).forUpdate().first();
        if (!row) throw notFound('container');
        // The owner's own sites only: whose routes name it is the owner's business, nobody else's.
        const sites = await sitesNaming(trx, row.owner_id, upstreamName(row));
        if (sites.length && !request.query.force)
          throw conflict(
            `website(s) ${sites.map((s) => s.name).join(', ')} route to ${row.name}: change their routes first, or delete with ?force=true (they answer 502 until a container of this name is back)`,
          );
        // The container's delete job first: the sites' re-render follows it.
        return [...(await containerRemoval(trx, row)), ...(await rerenderJobs(trx, sites))];
      });
      return accepted(reply, job);
    },
  );

  app.post(
    '/v1/containers/:container/logs',
    {
      config: owned('container'),
      schema: {
        operationId: 'readContainerLogs',
        tags: TAGS,
        summary:
          "Read a container's last log lines: a job whose result holds them (follow: ask again with `since` = the result's `until`).",
        params: Params,
        querystring: OwnerQuery,
        body: Type.Object(
          {
            tail: Type.Integer({ minimum: 1, maximum: 10_000, default: 100 }),
            since: Type.Optional(Type.String({ format: 'date-time' })),
          },
          { additionalProperties: false, examples: [{ tail: 100, since: '2026-12-06T10:00:00.000Z' }] },
        ),
        response: { 202: Type.Ref('Job'), ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request, reply) => {
      const row = await containerOf(request.caller, request.params.container, request.query.owner);
      const read = await logsJob(db, row, request.body);
      if (!read) throw notFound('host');
      return accepted(reply, await submitRead(request.caller, read));
    },
  );

  app.post(
    '/v1/containers/:container/stats',
    {
      config: owned('container'),
      schema: {
        operationId: 'readContainerStats',
        tags: TAGS,
        summary: "Sample a container's CPU, memory and processes: a job whose result holds them.",
        params: Params,
        querystring: OwnerQuery,
        response: { 202: Type.Ref('Job'), ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request, reply) => {
      const row = await containerOf(request.caller, request.params.container, request.query.owner);
      const { host, key, job } = await readOf(row);
      return accepted(reply, await submitRead(request.caller, plan({ op: containerStats, payload: { host, keys: [key] }, ...job })));
    },
  );
};
