import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Knex } from 'knex';
import { isUniqueViolation, recordRow, specOf, zoneRecords, type DnsRecordRow, type DnsZoneRow } from '../../lib/db/dns.ts';
import { describeManager, managersOf } from '../../lib/db/dns-managed.ts';
import { UUID_PATTERN } from '../../lib/ids.ts';
import { checkRRsetRules, presentValue, validateRecord, type RecordInput, type RecordSpec } from '../../lib/dns/validate.ts';
import { dnsZoneVerify, type RecordChange, type RecordSpecMessage } from '../../queues/ops/dns.ts';
import type { GatewayContext } from '../context.ts';
import { HttpError, conflict, notFound } from '../plugins/errors.ts';
import { errorResponses } from '../schemas.ts';
import { accepted } from './accepted.ts';
import { findZone, inputError } from './dns.ts';
import { endpointOf, nameserverOf, recordMessage, recordsApplyJob, serverOfZone } from './dns-payloads.ts';
import { DnsRecord, DnsRecordPatch, DnsRecordsBody, OWNED_ZONE, ZoneParam } from './dns-schemas.ts';
import { recordView } from './dns-views.ts';

const ZoneParams = Type.Object({ zone: ZoneParam });
const RecordParams = Type.Object({ zone: ZoneParam, id: Type.String({ pattern: UUID_PATTERN, description: 'record id' }) });

/** Records change only on a zone its server has (or had): a pending zone would answer NOTAUTH. */
function assertChangeable(zone: DnsZoneRow): void {
  if (zone.status === 'pending') throw conflict(`zone ${zone.name} is still being created (job ${zone.last_job_id}); try again when it is active`);
  if (zone.status === 'deleting') throw conflict(`zone ${zone.name} is being deleted`);
}

export const dnsRecordRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { db, outbox }) => {
  /** One job per request: the desired change commits with it, its UPDATE carries every change. */
  async function submitChanges(request: { caller: { actor: string; tenant: string | null } }, zone: DnsZoneRow, changes: RecordChange[], write: (trx: Knex.Transaction) => Promise<void>) {
    const planned = await recordsApplyJob(db, zone, changes);
    const { job } = await outbox.submit({
      ...planned,
      actor: request.caller.actor, tenant: request.caller.tenant, ownerId: zone.owner_id,
      alsoInTransaction: async (trx, jobId) => {
        await write(trx);
        await planned.alsoInTransaction(trx, jobId);
      },
    }).catch((error) => {
      if (isUniqueViolation(error)) throw conflict('that record exists already');
      throw error;
    });
    return job;
  }

  app.post('/v1/dns/zones/:zone/records', {
    config: { owned: OWNED_ZONE },
    schema: {
      operationId: 'createDnsRecords', tags: ['dns'], summary: 'Add one record, or a batch in `records` (one job, one UPDATE).',
      params: ZoneParams, body: DnsRecordsBody, response: { 202: Type.Ref('Job'), ...errorResponses(400, 401, 404, 409, 422) },
    },
  }, async (request, reply) => {
    const zone = await findZone(db, request, request.params.zone);
    const { records, ...single } = request.body;
    if (records && Object.keys(single).length > 0) throw new HttpError(400, 'bad_request', 'body: send either one record or `records`, not both');
    if (!records && (single.name === undefined || single.type === undefined)) throw new HttpError(400, 'bad_request', `body/${single.name === undefined ? 'name' : 'type'}: is required`);
    const inputs = (records ?? [single]).map((input, i) => ({ input: input as unknown as RecordInput, field: records ? `body/records/${i}` : 'body' }));
    const rows = await zoneRecords(db, zone.id);
    const existing = rows.map(specOf);
    let adding: { spec: RecordSpec; field: string; value: string }[] = [];
    try {
      adding = inputs.map(({ input, field }) => {
        const spec = validateRecord(input, zone.name, field);
        return { spec, field, value: presentValue(spec) };
      });
      checkRRsetRules(existing, adding);
    } catch (error) {
      inputError(error);
    }
    await refuseManagedNames(rows, adding);
    const seen = new Set<string>();
    for (const { spec, field, value } of adding) {
      const key = `${spec.name} ${spec.type} ${value}`;
      if (seen.has(key) || existing.some((e) => e.name === spec.name && e.type === spec.type && presentValue(e) === value)) {
        throw conflict(`${field}: ${spec.name} ${spec.type} ${value} exists already`);
      }
      seen.add(key);
    }
    assertChangeable(zone);
    const job = await submitChanges(request, zone, adding.map(({ spec }) => ({ op: 'add', record: spec as RecordSpecMessage })), async (trx) => {
      await trx('dns_records').insert(adding.map(({ spec, value }) => recordRow(zone.id, spec, value)));
    });
    return accepted(reply, job);
  });

  app.get('/v1/dns/zones/:zone/records', {
    config: { owned: OWNED_ZONE },
    schema: { operationId: 'listDnsRecords', tags: ['dns'], summary: "A zone's records, as PostgreSQL holds them.", params: ZoneParams, response: { 200: Type.Array(DnsRecord), ...errorResponses(400, 401, 404) } },
  }, async (request) => {
    const zone = await findZone(db, request, request.params.zone);
    const rows = await zoneRecords(db, zone.id);
    const managers = await managersOf(db, rows);
    return rows.map((row) => recordView(row, zone.name, managers.get(row.id) ?? null));
  });

  async function findRecord(zone: DnsZoneRow, id: string): Promise<DnsRecordRow> {
    const row = await db('dns_records').where({ zone_id: zone.id, id }).first();
    if (!row) throw notFound('record');
    return row;
  }

  /** A record kept for a website or a proxy group changes with it, never by hand. */
  async function refuseManaged(row: DnsRecordRow): Promise<void> {
    const manager = (await managersOf(db, [row])).get(row.id);
    if (manager) throw conflict(`${row.name} ${row.type} ${row.value} is kept for ${describeManager(manager)}; change the ${manager.kind === 'website' ? "website's domains" : "proxy group"} instead`);
  }

  /** Addresses or a CNAME next to a managed A/AAAA set would change where a site's name points. */
  async function refuseManagedNames(rows: DnsRecordRow[], adding: { spec: RecordSpec; field: string }[]): Promise<void> {
    for (const { spec, field } of adding) {
      if (!['A', 'AAAA', 'CNAME'].includes(spec.type)) continue;
      const managed = rows.find((r) => r.name === spec.name && (r.website_id || r.proxy_group_id));
      const manager = managed && (await managersOf(db, [managed])).get(managed.id);
      if (manager) throw conflict(`${field}/name: ${spec.name} is kept for ${describeManager(manager)}; its addresses follow the proxy group`);
    }
  }

  app.patch('/v1/dns/zones/:zone/records/:id', {
    config: { owned: OWNED_ZONE },
    schema: {
      operationId: 'updateDnsRecord', tags: ['dns'], summary: "Change a record's TTL or value (the type and name stay).",
      description: 'A new TTL applies to the whole RRset, as the server applies it.',
      params: RecordParams, body: DnsRecordPatch, response: { 202: Type.Ref('Job'), ...errorResponses(400, 401, 404, 409, 422) },
    },
  }, async (request, reply) => {
    const zone = await findZone(db, request, request.params.zone);
    const row = await findRecord(zone, request.params.id);
    await refuseManaged(row);
    const old = specOf(row);
    let spec!: RecordSpec;
    try {
      spec = validateRecord({ ...old, name: `${old.name}.`, ...request.body }, zone.name, 'body');
    } catch (error) {
      inputError(error);
    }
    const value = presentValue(spec);
    const siblings = (await zoneRecords(db, zone.id)).filter((r) => r.id !== row.id);
    if (siblings.some((r) => r.name === spec.name && r.type === spec.type && r.value === value)) throw conflict(`${spec.name} ${spec.type} ${value} exists already`);
    assertChangeable(zone);
    const rrset = siblings.filter((r) => r.name === spec.name && r.type === spec.type && r.ttl !== spec.ttl);
    const changes: RecordChange[] = [{ op: 'delete', record: recordMessage(row) }, { op: 'add', record: spec as RecordSpecMessage }];
    const job = await submitChanges(request, zone, changes, async (trx) => {
      const { data } = recordRow(zone.id, spec, value);
      await trx('dns_records').where({ id: row.id }).update({ ttl: spec.ttl, data, value, updated_at: trx.fn.now() });
      if (rrset.length > 0) await trx('dns_records').whereIn('id', rrset.map((r) => r.id)).update({ ttl: spec.ttl, updated_at: trx.fn.now() });
    });
    return accepted(reply, job);
  });

  app.delete('/v1/dns/zones/:zone/records/:id', {
    config: { owned: OWNED_ZONE },
    schema: {
      operationId: 'deleteDnsRecord', tags: ['dns'], summary: 'Delete one record (exactly that RR on the server).',
      params: RecordParams, response: { 202: Type.Ref('Job'), ...errorResponses(400, 401, 404, 409) },
    },
  }, async (request, reply) => {
    const zone = await findZone(db, request, request.params.zone);
    const row = await findRecord(zone, request.params.id);
    await refuseManaged(row);
    assertChangeable(zone);
    const job = await submitChanges(request, zone, [{ op: 'delete', record: recordMessage(row) }], async (trx) => {
      await trx('dns_records').where({ id: row.id }).delete();
    });
    return accepted(reply, job);
  });

  app.post('/v1/dns/zones/:zone/verify', {
    config: { owned: OWNED_ZONE },
    schema: {
      operationId: 'verifyDnsZone', tags: ['dns'], summary: 'Compare the served zone (signed AXFR) with its records; with `repair`, converge the server.',
      params: ZoneParams,
      body: Type.Object({ repair: Type.Boolean({ default: false }) }, { additionalProperties: false }),
      response: { 202: Type.Ref('Job'), ...errorResponses(400, 401, 404, 409) },
    },
  }, async (request, reply) => {
    const zone = await findZone(db, request, request.params.zone);
    assertChangeable(zone);
    const server = await serverOfZone(db, zone);
    const expected = (await zoneRecords(db, zone.id)).map(recordMessage);
    const { job } = await outbox.submit({
      op: dnsZoneVerify,
      payload: { zone: zone.name, server: { ...endpointOf(server), nameserver: nameserverOf(server, zone.name) }, expected, repair: request.body?.repair ?? false },
      actor: request.caller.actor, tenant: request.caller.tenant, ownerId: zone.owner_id, target: zone.name,
    });
    return accepted(reply, job);
  });
};
