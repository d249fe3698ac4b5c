import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { Knex } from 'knex';
import { isIP } from 'node:net';
import { Type } from 'typebox';
import { getHostByName, hostRefOf, type HostRow } from './store.ts';
import { newJobId } from '../../lib/ids.ts';
import type { HostRef } from '../../queues/host-ref.ts';
import { hostKeyscan } from '../../queues/hosts/keyscan.ts';
import { hostPrepare } from '../../queues/hosts/prepare.ts';
import { hostProbe } from '../../queues/hosts/probe.ts';
import { hostUpdate } from '../../queues/hosts/update.ts';
import type { Operation } from '../../queues/operation.ts';
import type { GatewayContext } from '../context.ts';
import { conflict, HttpError, notFound } from '../plugins/errors.ts';
import { requireAdmin } from '../plugins/scope.ts';
import { keyset, pageOf } from '../pages.ts';
import { errorResponses, Page, pageQuery } from '../schemas.ts';
import { Capacity, Fingerprint, Host, HostAddress, HostCreate, hostView, HostName, LabelKey, Labels, Roles, SshPort } from './views.ts';
import { domains } from '../domains.ts';
import { InputError } from '../../lib/errors.ts';
import { packagesFor, rolesOf } from './roles.ts';
import { accepted } from '../routes/accepted.ts';

const badRequest = (message: string) => new HttpError(400, 'bad_request', message);
const NameParam = Type.Object({ name: HostName });
const jobResponses = { 202: Type.Ref('Job'), ...errorResponses(400, 401, 403, 404, 409) };

/** Dotted numbers that are not an IPv4 address would otherwise pass as a DNS name. */
function assertAddress(address: string): void {
  if (/^[0-9.]+$/.test(address) && isIP(address) !== 4)
    throw badRequest(`body/address ${JSON.stringify(address)} is not a valid IPv4 address`);
}

/** A jump host must exist and be reached directly: messages carry one hop. */
async function jumpHostRow(db: Knex, name: string): Promise<HostRow> {
  const jump = await getHostByName(db, name);
  if (!jump) throw badRequest(`body/jumpHost: no host named ${name}`);
  if (jump.jump_host) throw badRequest(`body/jumpHost: ${name} is itself reached through ${jump.jump_host}; one hop only`);
  if (jump.local) throw badRequest(`body/jumpHost: ${name} is this machine, not an SSH host`);
  return jump;
}

const jumpRefOf = (jump: HostRow): NonNullable<HostRef['jump']> => ({
  name: jump.name,
  address: jump.address,
  port: jump.port,
  user: jump.ssh_user,
  hostKeySha256: jump.host_key_sha256,
});

/** Every role a domain sets hosts up for. */
const ROLES = rolesOf(domains);

/** Roles passed the schema's pattern; each must be one a domain declares. */
function assertRoles(roles: readonly string[] | undefined, field = (i: number) => `body/roles/${i}`): void {
  roles?.forEach((role, i) => {
    if (!ROLES.some((r) => r.role === role))
      throw new InputError(field(i), `is not a role up knows (${ROLES.map((r) => r.role).join(', ')})`);
  });
}

export const hostRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { db, outbox }) => {
  app.addHook('onRequest', async (request) => requireAdmin(request));

  const hostOrThrow = async (name: string) => (await getHostByName(db, name)) ?? Promise.reject(notFound(`host ${name}`));

  /** A job on one host, with the host's connection details snapshotted into the message. */
  async function submitOnHost(request: FastifyRequest, op: Operation, host: HostRow, extra: Record<string, unknown> = {}) {
    const payload = { host: await hostRefOf(db, host), ...extra };
    return (await outbox.submit({ op, payload, actor: request.caller.actor, tenant: null, target: host.name })).job;
  }

  app.post(
    '/v1/hosts/keyscans',
    {
      schema: {
        operationId: 'scanHostKey',
        tags: ['hosts'],
        summary: hostKeyscan.summary,
        description: "The job's result is `{ hostKeySha256 }`: show it to a person, then pin it with `POST /v1/hosts`.",
        body: Type.Object(
          { address: HostAddress, port: Type.Optional(SshPort), jumpHost: Type.Optional(HostName) },
          { additionalProperties: false, examples: [{ address: '192.0.2.10' }] },
        ),
        response: jobResponses,
      },
    },
    async (request, reply) => {
      const { address, port = 22, jumpHost } = request.body;
      assertAddress(address);
      const jump = jumpHost ? jumpRefOf(await jumpHostRow(db, jumpHost)) : undefined;
      const { job } = await outbox.submit({
        op: hostKeyscan,
        payload: { address, port, ...(jump ? { jump } : {}) },
        actor: request.caller.actor,
        tenant: null,
        target: address,
      });
      return accepted(reply, job);
    },
  );

  app.post(
    '/v1/hosts',
    {
      schema: {
        operationId: 'createHost',
        tags: ['hosts'],
        summary: 'Add a host to the inventory, pinning its SSH host key.',
        body: HostCreate,
        response: { 201: Type.Ref('Host'), ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      assertAddress(body.address);
      assertRoles(body.roles);
      if (await getHostByName(db, body.name)) throw conflict(`a host named ${body.name} already exists`);
      if (body.jumpHost) await jumpHostRow(db, body.jumpHost);
      const row = {
        id: newJobId(),
        name: body.name,
        address: body.address,
        port: body.port,
        ssh_user: body.user,
        host_key_sha256: body.hostKeySha256,
        jump_host: body.jumpHost ?? null,
        roles: body.roles ?? [],
        labels: JSON.stringify(body.labels ?? {}),
        capacity: JSON.stringify(body.capacity ?? {}),
      };
      try {
        await db('hosts').insert(row);
      } catch (error) {
        if ((error as { code?: string }).code === '23505') throw conflict(`a host named ${body.name} already exists`);
        throw error;
      }
      return reply
        .code(201)
        .header('location', `/v1/hosts/${body.name}`)
        .send(hostView((await getHostByName(db, body.name))!));
    },
  );

  app.get(
    '/v1/hosts',
    {
      schema: {
        operationId: 'listHosts',
        tags: ['hosts'],
        summary: 'List hosts by name.',
        querystring: Type.Object(
          { role: Type.Optional(Roles.items), ...pageQuery({ default: 100, maximum: 500 }) },
          { additionalProperties: false },
        ),
        response: { 200: Page(Host), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { role, limit, after } = request.query;
      const query = keyset(db<HostRow>('hosts'), { columns: ['name'] }, { limit, after });
      assertRoles(role === undefined ? undefined : [role], () => 'querystring/role');
      if (role) query.whereRaw('? = ANY(roles)', [role]);
      const page = pageOf<HostRow>(await query, limit, (h) => [h.name]);
      return { ...page, items: page.items.map(hostView) };
    },
  );

  app.get(
    '/v1/hosts/:name',
    {
      schema: {
        operationId: 'getHost',
        tags: ['hosts'],
        summary: 'A host with its facts.',
        params: NameParam,
        response: { 200: Type.Ref('Host'), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => hostView(await hostOrThrow(request.params.name)),
  );

  app.patch(
    '/v1/hosts/:name',
    {
      schema: {
        operationId: 'updateHost',
        tags: ['hosts'],
        summary: 'Change roles, labels (merged), capacity, maintenance, or — with rekey — the pinned host key.',
        params: NameParam,
        body: Type.Object(
          {
            roles: Type.Optional(Roles),
            labels: Type.Optional(Labels),
            removeLabels: Type.Optional(Type.Array(LabelKey, { maxItems: 64, description: 'label keys to remove' })),
            capacity: Type.Optional(Capacity),
            maintenance: Type.Optional(Type.Boolean()),
            hostKeySha256: Type.Optional(Fingerprint),
            rekey: Type.Optional(Type.Boolean({ description: 'must be true to change hostKeySha256' })),
          },
          { additionalProperties: false, examples: [{ labels: { site: 'ams1' }, maintenance: false }] },
        ),
        response: { 200: Type.Ref('Host'), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const host = await hostOrThrow(request.params.name);
      const body = request.body;
      if (body.hostKeySha256 !== undefined && body.hostKeySha256 !== host.host_key_sha256 && body.rekey !== true) {
        throw badRequest('body/hostKeySha256: changing the pinned host key needs rekey: true');
      }
      if (body.rekey && body.hostKeySha256 === undefined) throw badRequest('body/rekey needs the new hostKeySha256');
      assertRoles(body.roles);
      const changes: Record<string, unknown> = { updated_at: db.fn.now() };
      if (body.roles) changes.roles = body.roles;
      if (body.capacity) changes.capacity = JSON.stringify(body.capacity);
      if (body.maintenance !== undefined) changes.maintenance = body.maintenance;
      if (body.hostKeySha256 !== undefined) changes.host_key_sha256 = body.hostKeySha256;
      if (body.labels || body.removeLabels) {
        const labels: Record<string, string> = { ...hostView(host).labels, ...body.labels };
        for (const key of body.removeLabels ?? []) delete labels[key];
        if (Object.keys(labels).length > 64) throw badRequest('body/labels: a host has at most 64 labels');
        changes.labels = JSON.stringify(labels);
      }
      await db('hosts').where({ name: host.name }).update(changes);
      return hostView((await getHostByName(db, host.name))!);
    },
  );

  app.delete(
    '/v1/hosts/:name',
    {
      schema: {
        operationId: 'deleteHost',
        tags: ['hosts'],
        summary: 'Remove a host from the inventory (nothing on the host changes).',
        params: NameParam,
        response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const host = await hostOrThrow(request.params.name);
      const through = await db<HostRow>('hosts').where({ jump_host: host.name }).orderBy('name').pluck('name');
      if (through.length > 0) throw conflict(`${host.name} is the jump host of ${through.join(', ')}; change or remove those first`);
      await db('hosts').where({ name: host.name }).delete();
      return reply.code(204).send(null);
    },
  );

  const jobRoute = (verb: 'probe' | 'prepare' | 'update', op: Operation, operationId: string, body?: ReturnType<typeof Type.Object>) =>
    app.post(
      `/v1/hosts/:name/${verb}`,
      {
        schema: { operationId, tags: ['hosts'], summary: op.summary, params: NameParam, ...(body ? { body } : {}), response: jobResponses },
      },
      async (request, reply) => {
        const host = await hostOrThrow((request.params as { name: string }).name);
        if (verb !== 'probe' && host.maintenance) {
          throw conflict(`host ${host.name} is in maintenance (maintenance: true); ${verb} is refused until it is switched off`);
        }
        const extra =
          verb === 'prepare'
            ? { packages: packagesFor(ROLES, host.roles) }
            : verb === 'update'
              ? { apply: false, ...(request.body as object) }
              : {};
        return accepted(reply, await submitOnHost(request, op, host, extra));
      },
    );

  jobRoute('probe', hostProbe, 'probeHost');
  jobRoute('prepare', hostPrepare, 'prepareHost');
  jobRoute(
    'update',
    hostUpdate,
    'updateHostPackages',
    Type.Object(
      {
        apply: Type.Boolean({ default: false, description: 'install the pending updates; without it, only list them' }),
        refresh: Type.Optional(Type.Boolean({ description: 'run apt-get update first' })),
      },
      { additionalProperties: false, examples: [{ apply: true, refresh: true }] },
    ),
  );
};
