import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { isIP } from 'node:net';
import { Type } from 'typebox';
import type { Knex } from 'knex';
import { getServerById, getServerByName, isUniqueViolation, listServers, newId, zonesTable } from './store.ts';
import { getHostByName } from '../hosts/store.ts';
import { normaliseZoneName } from '../../lib/dns/validate.ts';
import { checkZoneNameForAnyone, checkZoneNameForUser } from '../../lib/dns/zone-names.ts';
import { dnsZoneCreate, dnsZoneDelete, type RecordSpecMessage } from '../../queues/dns/ops.ts';
import type { GatewayContext } from '../context.ts';
import { HttpError, conflict, notFound } from '../plugins/errors.ts';
import { enforceLimit } from '../plugins/limits.ts';
import { requireAdmin, scopeToCaller } from '../plugins/scope.ts';
import { keyset, pageOf } from '../pages.ts';
import { errorResponses, Page, pageQuery } from '../schemas.ts';
import { accepted } from '../routes/accepted.ts';
import { zoneServerOf } from './plans.ts';
import { DnsServer, DnsServerInput, DnsZone, OWNED_ZONE, OWNED_ZONES, SERVER_NAME_PATTERN, ZoneParam } from './schemas.ts';
import { serverView, zoneView } from './views.ts';
import { adoptedRecords, inFirstZoneFile } from './managed.ts';
import { findZone, markDeleting, refuseTakenZoneName } from './zones.ts';

export const dnsRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, context) => {
  const { db, outbox } = context;

  app.post(
    '/v1/dns/servers',
    {
      schema: {
        operationId: 'createDnsServer',
        tags: ['dns'],
        summary: 'Register an authoritative DNS server (admin).',
        description: 'The TSIG secret is not sent: handlers read it from the file named after the key in UP_TSIG_KEYS_DIR.',
        body: DnsServerInput,
        response: { 201: DnsServer, ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      requireAdmin(request);
      const body = request.body;
      if (!isIP(body.address)) throw new HttpError(400, 'bad_request', 'body/address: must be an IPv4 or IPv6 address');
      const badSecondary = body.secondaries.findIndex((a) => !isIP(a));
      if (badSecondary >= 0) throw new HttpError(400, 'bad_request', `body/secondaries/${badSecondary}: must be an IPv4 or IPv6 address`);
      if (!(await getHostByName(db, body.primary))) throw new HttpError(400, 'bad_request', `body/primary: no host named ${body.primary}`);
      const row = {
        id: newId(),
        name: body.name,
        primary_host: body.primary,
        address: body.address,
        port: body.port,
        rndc_conf: body.rndcConf,
        zone_dir: body.zoneDir,
        key_name: body.keyName,
        algorithm: body.algorithm ?? 'hmac-sha256',
        nameserver: body.nameserver?.replace(/\.$/, '').toLowerCase() ?? null,
        secondaries: JSON.stringify(body.secondaries),
      };
      try {
        await db('dns_servers').insert(row);
      } catch (error) {
        if (isUniqueViolation(error)) throw conflict(`a DNS server named ${body.name} exists already`);
        throw error;
      }
      return reply.code(201).send(serverView((await getServerByName(db, body.name))!));
    },
  );

  app.get(
    '/v1/dns/servers',
    {
      schema: {
        operationId: 'listDnsServers',
        tags: ['dns'],
        summary: 'DNS servers by name (admin).',
        querystring: Type.Object(pageQuery({ default: 100, maximum: 500 }), { additionalProperties: false }),
        response: { 200: Page(DnsServer), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      requireAdmin(request);
      const { limit, after } = request.query;
      const page = pageOf(await keyset(db('dns_servers'), { columns: ['name'] }, { limit, after }), limit, (s) => [s.name]);
      return { ...page, items: page.items.map(serverView) };
    },
  );

  app.delete(
    '/v1/dns/servers/:name',
    {
      schema: {
        operationId: 'deleteDnsServer',
        tags: ['dns'],
        summary: 'Forget a DNS server that holds no zones (admin).',
        params: Type.Object({ name: Type.String({ pattern: SERVER_NAME_PATTERN }) }),
        response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      requireAdmin(request);
      const server = await getServerByName(db, request.params.name);
      if (!server) throw notFound('DNS server');
      const zones = await db('dns_zones').where({ server_id: server.id }).count<{ count: string }[]>({ count: '*' });
      if (Number(zones[0].count) > 0) throw conflict(`DNS server ${server.name} still holds ${zones[0].count} zone(s)`);
      await db('dns_servers').where({ id: server.id }).delete();
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/dns/zones',
    {
      config: { owned: OWNED_ZONES },
      schema: {
        operationId: 'createDnsZone',
        tags: ['dns'],
        summary: 'Create a zone (dns.zone.create adds it to the primary).',
        description:
          "No zone overlaps another user's zone, nor is a special-use name (localhost, invalid, local, onion, alt). " +
          "A user's zone is a domain registered under a public suffix (never `co.uk` or `github.io` itself), nothing under .arpa " +
          "(an admin creates reverse zones and assigns them), not at, under or above a proxy group's wildcard domain, " +
          "and holds no name another user's website uses.",
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 253, description: 'the domain; IDN allowed, stored as punycode' }),
            server: Type.Optional(Type.String({ pattern: SERVER_NAME_PATTERN, description: 'default: the only server' })),
          },
          { additionalProperties: false, examples: [{ name: 'example.net', server: 'ns' }] },
        ),
        response: { 202: Type.Ref('Job'), ...errorResponses(400, 401, 403, 409, 422) },
      },
    },
    async (request, reply) => {
      const name = normaliseZoneName(request.body.name, 'body/name');
      checkZoneNameForAnyone(name, 'body/name');
      if (request.caller.role !== 'admin') checkZoneNameForUser(name, 'body/name');
      const server = request.body.server ? await getServerByName(db, request.body.server) : await onlyServer(db);
      if (!server) throw new HttpError(400, 'bad_request', `body/server: no DNS server named ${request.body.server}`);
      const owner = { id: request.caller.userId, role: request.caller.role };
      await refuseTakenZoneName(db, name, owner);
      const adopted = await adoptedRecords(db, name, request.caller.userId);
      const id = newId();
      const { job } = await outbox
        .submit({
          op: dnsZoneCreate,
          payload: {
            zone: name,
            server: await zoneServerOf(db, server, name),
            ...(adopted.specs.some(inFirstZoneFile) ? { records: adopted.specs.filter(inFirstZoneFile) as RecordSpecMessage[] } : {}),
          },
          actor: request.caller.actor,
          tenant: request.caller.tenant,
          ownerId: request.caller.userId,
          target: name,
          resourceId: id,
          alsoInTransaction: async (trx, jobId) => {
            // Again under the lock: two requests checked before it cannot both take overlapping names.
            await refuseTakenZoneName(trx, name, owner, { locked: true });
            await enforceLimit(trx, request.caller, 'dnsZones', trx('dns_zones').where({ owner_id: request.caller.userId }));
            await trx('dns_zones').insert({
              id,
              name,
              owner_id: request.caller.userId,
              server_id: server.id,
              status: 'pending',
              last_job_id: jobId,
            });
            await adopted.write(trx, id);
          },
        })
        .catch((error) => {
          if (isUniqueViolation(error)) throw conflict(`zone ${name} exists already`);
          throw error;
        });
      return accepted(reply, job);
    },
  );

  app.get(
    '/v1/dns/zones',
    {
      config: { owned: OWNED_ZONES },
      schema: {
        operationId: 'listDnsZones',
        tags: ['dns'],
        summary: 'Your zones by name (all zones for admins).',
        querystring: Type.Object(pageQuery({ default: 100, maximum: 500 }), { additionalProperties: false }),
        response: { 200: Page(DnsZone), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { limit, after } = request.query;
      const rows = await scopeToCaller(keyset(zonesTable(db), { columns: ['name'] }, { limit, after }), request.caller);
      const page = pageOf(rows, limit, (z) => [z.name]);
      const servers = new Map((await listServers(db)).map((s) => [s.id, s]));
      return { ...page, items: page.items.map((row) => zoneView(row, servers.get(row.server_id), request.caller)) };
    },
  );

  app.get(
    '/v1/dns/zones/:zone',
    {
      config: { owned: OWNED_ZONE },
      schema: {
        operationId: 'getDnsZone',
        tags: ['dns'],
        summary: 'A zone and whether its server has it (status, serial).',
        params: Type.Object({ zone: ZoneParam }),
        response: { 200: DnsZone, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const zone = await findZone(db, request, request.params.zone);
      return zoneView(zone, await getServerById(db, zone.server_id), request.caller);
    },
  );

  app.delete(
    '/v1/dns/zones/:zone',
    {
      config: { owned: OWNED_ZONE },
      schema: {
        operationId: 'deleteDnsZone',
        tags: ['dns'],
        summary: 'Delete a zone and its records (dns.zone.delete removes it from the primary).',
        params: Type.Object({ zone: ZoneParam }),
        response: { 202: Type.Ref('Job'), ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request, reply) => {
      const zone = await findZone(db, request, request.params.zone);
      const server = await getServerById(db, zone.server_id);
      if (!server) throw conflict(`the DNS server of zone ${zone.name} no longer exists`);
      const { job } = await outbox.submit({
        op: dnsZoneDelete,
        payload: { zone: zone.name, server: await zoneServerOf(db, server, zone.name) },
        actor: request.caller.actor,
        tenant: request.caller.tenant,
        ownerId: zone.owner_id,
        target: zone.name,
        resourceId: zone.id,
        alsoInTransaction: markDeleting(zone),
      });
      return accepted(reply, job);
    },
  );
};

async function onlyServer(db: Knex) {
  const servers = await listServers(db);
  if (servers.length === 0) throw conflict('no DNS server is registered yet: an admin adds one with `up dns servers add`');
  if (servers.length > 1) throw new HttpError(400, 'bad_request', `body/server: choose one of ${servers.map((s) => s.name).join(', ')}`);
  return servers[0];
}
