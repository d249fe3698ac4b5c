import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Knex } from 'knex';
import { isUniqueViolation, recordRow, specOf, zoneRecords, type DnsRecordRow, type DnsZoneRow } from './store.ts';
import { describeManager, managerChange, managersOf } from './managed-store.ts';
import { UUID_PATTERN } from '../../lib/ids.ts';
import { checkIntegrity } from '../../lib/dns/integrity.ts';
import { checkRRsetRules, presentValue, validateRecord, type RecordInput, type RecordSpec } from '../../lib/dns/validate.ts';
import type { RecordChange, RecordSpecMessage } from '../../queues/dns/ops.ts';
import type { GatewayContext } from '../context.ts';
import { HttpError, conflict, notFound } from '../plugins/errors.ts';
import { keyset, pageOf } from '../pages.ts';
import { errorResponses, Page, pageQuery } from '../schemas.ts';
import { accepted } from '../routes/accepted.ts';
import { findZone } from './zones.ts';
import { nameserverOf, recordMessage, recordsApplyJob, serverOfZone, verifyJob } from './plans.ts';
import { DnsRecord, DnsRecordPatch, DnsRecordsBody, OWNED_ZONE, ZoneParam } from './schemas.ts';
import { recordView } from './views.ts';

const ZoneParams = Type.Object({ zone: ZoneParam });
const RecordParams = Type.Object({ zone: ZoneParam, id: Type.String({ pattern: UUID_PATTERN, description: 'record id' }) });

/** Records change only on a zone its server has (or had): a pending zone would answer NOTAUTH. */
export function assertChangeable(zone: DnsZoneRow): void {
  if (zone.status === 'pending')
    throw conflict(`zone ${zone.name} is still being created (job ${zone.last_job_id}); try again when it is active`);
  if (zone.status === 'deleting') throw conflict(`zone ${zone.name} is being deleted`);
}

/** Names the zone has an address for outside its records: its in-zone nameserver (dns.zone.create writes it). */
async function zoneAddressed(db: Knex, zone: DnsZoneRow): Promise<string[]> {
  return [nameserverOf(await serverOfZone(db, zone), zone.name)];
}

export const dnsRecordRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { db, outbox }) => {
  /** One job per request: the desired change commits with it, its UPDATE carries every change. */
  async function submitChanges(
    request: { caller: { actor: string; tenant: string | null } },
    zone: DnsZoneRow,
    changes: RecordChange[],
    write: (trx: Knex.Transaction) => Promise<void>,
  ) {
    const planned = await recordsApplyJob(db, zone, changes);
    const { job } = await outbox
      .submit({
        ...planned,
        actor: request.caller.actor,
        tenant: request.caller.tenant,
        ownerId: zone.owner_id,
        alsoInTransaction: async (trx, jobId) => {
          await write(trx);
          await planned.alsoInTransaction?.(trx, jobId);
        },
      })
      .catch((error) => {
        if (isUniqueViolation(error)) throw conflict('that record exists already');
        throw error;
      });
    return job;
  }

  app.post(
    '/v1/dns/zones/:zone/records',
    {
      config: { owned: OWNED_ZONE },
      schema: {
        operationId: 'createDnsRecords',
        tags: ['dns'],
        summary: 'Add one record, or a batch in `records` (one job, one UPDATE).',
        params: ZoneParams,
        body: DnsRecordsBody,
        response: { 202: Type.Ref('Job'), ...errorResponses(400, 401, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      const zone = await findZone(db, request, request.params.zone);
      const { records, ...single } = request.body;
      if (records && Object.keys(single).length > 0)
        throw new HttpError(400, 'bad_request', 'body: send either one record or `records`, not both');
      if (!records && (single.name === undefined || single.type === undefined))
        throw new HttpError(400, 'bad_request', `body/${single.name === undefined ? 'name' : 'type'}: is required`);
      const inputs = (records ?? [single]).map((input, i) => ({
        input: input as unknown as RecordInput,
        field: records ? `body/records/${i}` : 'body',
      }));
      const rows = await zoneRecords(db, zone.id);
      const existing = rows.map(specOf);
      const adding = inputs.map(({ input, field }) => {
        const spec = validateRecord(input, zone.name, field);
        return { spec, field, value: presentValue(spec) };
      });
      checkRRsetRules(existing, adding);
      checkIntegrity(zone.name, { staying: existing, adding, addressed: await zoneAddressed(db, zone) });
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
      const job = await submitChanges(
        request,
        zone,
        adding.map(({ spec }) => ({ op: 'add', record: spec as RecordSpecMessage })),
        async (trx) => {
          await trx('dns_records').insert(adding.map(({ spec, value }) => recordRow(zone.id, spec, value)));
        },
      );
      return accepted(reply, job);
    },
  );

  app.get(
    '/v1/dns/zones/:zone/records',
    {
      config: { owned: OWNED_ZONE },
      schema: {
        operationId: 'listDnsRecords',
        tags: ['dns'],
        summary: "A zone's records by name, type and value, as PostgreSQL holds them.",
        params: ZoneParams,
        querystring: Type.Object(pageQuery({ default: 500, maximum: 1000 }), { additionalProperties: false }),
        response: { 200: Page(DnsRecord), ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const { limit, after } = request.query;
      const zone = await findZone(db, request, request.params.zone);
      const rows: DnsRecordRow[] = await keyset(
        db('dns_records').where({ zone_id: zone.id }),
        { columns: ['name', 'type', 'value', 'id'] },
        { limit, after },
      );
      const page = pageOf(rows, limit, (r) => [r.name, r.type, r.value, r.id]);
      const managers = await managersOf(db, page.items);
      return { ...page, items: page.items.map((row) => recordView(row, zone.name, managers.get(row.id) ?? null)) };
    },
  );

  async function findRecord(zone: DnsZoneRow, id: string): Promise<DnsRecordRow> {
    const row = await db('dns_records').where({ zone_id: zone.id, id }).first();
    if (!row) throw notFound('record');
    return row;
  }

  /** A record kept for a website or a proxy group changes with it, never by hand. */
  async function refuseManaged(row: DnsRecordRow): Promise<void> {
    const manager = (await managersOf(db, [row])).get(row.id);
    if (manager)
      throw conflict(
        `${row.name} ${row.type} ${row.value} is kept for ${await describeManager(manager)}; change ${await managerChange(manager)} instead`,
      );
  }

  /** Addresses or a CNAME next to a managed A/AAAA set would change where a site's name points. */
  async function refuseManagedNames(rows: DnsRecordRow[], adding: { spec: RecordSpec; field: string }[]): Promise<void> {
    for (const { spec, field } of adding) {
      if (!['A', 'AAAA', 'CNAME'].includes(spec.type)) continue;
      const managed = rows.find((r) => r.name === spec.name && r.manager_kind !== null);
      const manager = managed && (await managersOf(db, [managed])).get(managed.id);
      if (manager)
        throw conflict(`${field}/name: ${spec.name} is kept for ${await describeManager(manager)}; its addresses follow the proxy group`);
    }
  }

  app.patch(
    '/v1/dns/zones/:zone/records/:id',
    {
      config: { owned: OWNED_ZONE },
      schema: {
        operationId: 'updateDnsRecord',
        tags: ['dns'],
        summary: "Change a record's TTL or value (the type and name stay).",
        description: 'A new TTL applies to the whole RRset, as the server applies it.',
        params: RecordParams,
        body: DnsRecordPatch,
        response: { 202: Type.Ref('Job'), ...errorResponses(400, 401, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      const zone = await findZone(db, request, request.params.zone);
      const row = await findRecord(zone, request.params.id);
      await refuseManaged(row);
      const old = specOf(row);
      const spec = validateRecord({ ...old, name: `${old.name}.`, ...request.body }, zone.name, 'body');
      const value = presentValue(spec);
      const siblings = (await zoneRecords(db, zone.id)).filter((r) => r.id !== row.id);
      if (siblings.some((r) => r.name === spec.name && r.type === spec.type && r.value === value))
        throw conflict(`${spec.name} ${spec.type} ${value} exists already`);
      checkIntegrity(zone.name, {
        staying: siblings.map(specOf),
        removing: [old],
        adding: [{ spec, field: 'body' }],
        removingField: 'params/id',
        addressed: await zoneAddressed(db, zone),
      });
      assertChangeable(zone);
      const rrset = siblings.filter((r) => r.name === spec.name && r.type === spec.type && r.ttl !== spec.ttl);
      const changes: RecordChange[] = [
        { op: 'delete', record: recordMessage(row) },
        { op: 'add', record: spec as RecordSpecMessage },
      ];
      const job = await submitChanges(request, zone, changes, async (trx) => {
        const { data } = recordRow(zone.id, spec, value);
        await trx('dns_records').where({ id: row.id }).update({ ttl: spec.ttl, data, value, updated_at: trx.fn.now() });
        if (rrset.length > 0)
          await trx('dns_records')
            .whereIn(
              'id',
              rrset.map((r) => r.id),
            )
            .update({ ttl: spec.ttl, updated_at: trx.fn.now() });
      });
      return accepted(reply, job);
    },
  );

  app.delete(
    '/v1/dns/zones/:zone/records/:id',
    {
      config: { owned: OWNED_ZONE },
      schema: {
        operationId: 'deleteDnsRecord',
        tags: ['dns'],
        summary: 'Delete one record (exactly that RR on the server).',
        params: RecordParams,
        response: { 202: Type.Ref('Job'), ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request, reply) => {
      const zone = await findZone(db, request, request.params.zone);
      const row = await findRecord(zone, request.params.id);
      await refuseManaged(row);
      const staying = (await zoneRecords(db, zone.id)).filter((r) => r.id !== row.id).map(specOf);
      checkIntegrity(zone.name, { staying, removing: [specOf(row)], addressed: await zoneAddressed(db, zone) });
      assertChangeable(zone);
      const job = await submitChanges(request, zone, [{ op: 'delete', record: recordMessage(row) }], async (trx) => {
        await trx('dns_records').where({ id: row.id }).delete();
      });
      return accepted(reply, job);
    },
  );

  app.post(
    '/v1/dns/zones/:zone/verify',
    {
      config: { owned: OWNED_ZONE },
      schema: {
        operationId: 'verifyDnsZone',
        tags: ['dns'],
        summary: 'Compare the served zone (signed AXFR) with its records; with `repair`, converge the server.',
        params: ZoneParams,
        body: Type.Object({ repair: Type.Boolean({ default: false }) }, { additionalProperties: false, examples: [{ repair: true }] }),
        response: { 202: Type.Ref('Job'), ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request, reply) => {
      const zone = await findZone(db, request, request.params.zone);
      assertChangeable(zone);
      const { job } = await outbox.submit({
        ...(await verifyJob(db, zone, request.body?.repair ?? false)),
        actor: request.caller.actor,
        tenant: request.caller.tenant,
        ownerId: zone.owner_id,
      });
      return accepted(reply, job);
    },
  );
};
