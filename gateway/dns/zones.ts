/** A zone as users address it, and the rules about whose a zone name may be. */
import type { FastifyRequest } from 'fastify';
import type { Knex } from 'knex';
import { normaliseZoneName } from '../../lib/dns/validate.ts';
import { dnsZoneDelete } from '../../queues/dns/ops.ts';
import type { OwnedKind } from '../domain.ts';
import { plan } from '../plan.ts';
import { conflict, notFound } from '../plugins/errors.ts';
import { scopeToCaller } from '../plugins/scope.ts';
import { zoneServerOf } from './plans.ts';
import { clashingZones, getServerById, zonesTable, type DnsZoneRow } from './store.ts';
import { zoneClashForUser } from './zone-claims.ts';

/** The caller's zone, or 404: another user's zone does not exist for them. */
export async function findZone(db: Knex, request: FastifyRequest, param: string): Promise<DnsZoneRow> {
  let name: string;
  try {
    name = normaliseZoneName(param, 'params/zone');
  } catch {
    throw notFound('zone');
  }
  const zone = await scopeToCaller(zonesTable(db), request.caller).where({ name }).first();
  if (!zone) throw notFound('zone');
  return zone;
}

/** The zone is on its way out: its row goes when dns.zone.delete succeeds. */
export const markDeleting = (zone: DnsZoneRow) => async (trx: Knex.Transaction, jobId: string) => {
  await trx('dns_zones')
    .where({ id: zone.id })
    .update({ status: 'deleting', status_message: null, last_job_id: jobId, updated_at: trx.fn.now() });
};

/** Deleting a user deletes their zones the way DELETE /v1/dns/zones/:zone does. */
export const OWNED_ZONE_KIND: OwnedKind = {
  kind: 'dnsZones',
  table: 'dns_zones',
  async planRemoval(trx, row) {
    const zone = row as unknown as DnsZoneRow;
    const server = await getServerById(trx, zone.server_id);
    if (!server) throw new Error(`the DNS server of zone ${zone.name} no longer exists`);
    return [
      plan({
        op: dnsZoneDelete,
        payload: { zone: zone.name, server: await zoneServerOf(trx, server, zone.name) },
        target: zone.name,
        resourceId: zone.id,
        alsoInTransaction: markDeleting(zone),
      }),
    ];
  },
};

/** Serialises the checks of zone names (an advisory lock for the transaction): "up_z". */
const ZONE_NAMES_LOCK = 0x75_70_5f_7a;

/**
 * Refuses `name` as a zone of `owner` when it clashes with what another user has here: another
 * user's zone at, above or under it (for admins too), and for users also proxy wildcards and
 * other users' website names (lib/db/zone-claims.ts). `except`: the zone itself, when it changes hands.
 */
export async function refuseTakenZoneName(
  db: Knex,
  name: string,
  owner: { id: string; role: 'admin' | 'user' },
  options: { locked?: boolean; except?: string } = {},
): Promise<void> {
  if (options.locked) await db.raw('SELECT pg_advisory_xact_lock(?)', [ZONE_NAMES_LOCK]);
  const clash = (await clashingZones(db, name)).find((z) => z.id !== options.except && (z.name === name || z.owner_id !== owner.id));
  if (clash) throw conflict(clash.name === name ? `zone ${name} exists already` : `${name} overlaps zone ${clash.name} of another user`);
  if (owner.role === 'admin') return;
  const taken = await zoneClashForUser(db, name, owner.id);
  if (taken) throw conflict(taken);
}
