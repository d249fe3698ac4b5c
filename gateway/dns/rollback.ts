/**
 * A dns.records.apply the server refused changed nothing there (an UPDATE is atomic), so the
 * change comes out of PostgreSQL too: a hosting panel that says "refused" and still lists the
 * record would be believed on the list, and every verify and health check would report it as
 * drift. Records kept for websites and proxy groups follow their owner and stay.
 */
import type { Knex } from 'knex';
import { presentValue, type RecordSpec } from '../../lib/dns/validate.ts';
import type { RecordChange } from '../../queues/dns/ops.ts';
import { recordRow } from './store.ts';

const unmanaged = { manager_kind: null };

/** Undoes `changes` in the zone's records; returns what it undid, for the zone's status. */
export async function rollBackChanges(trx: Knex.Transaction, zoneId: string, changes: readonly RecordChange[]): Promise<string[]> {
  const undone: string[] = [];
  const deletes = changes.filter((c) => c.op === 'delete').map((c) => c.record as RecordSpec);
  for (const change of changes.filter((c) => c.op === 'add')) {
    const spec = change.record as RecordSpec;
    const value = presentValue(spec);
    const row = await trx('dns_records')
      .where({ zone_id: zoneId, name: spec.name, type: spec.type, value, ...unmanaged })
      .first();
    if (!row) continue;
    // An edit (delete + add of one name and type) goes back to its old value, keeping its id.
    const old = deletes.findIndex((d) => d.name === spec.name && d.type === spec.type);
    if (old >= 0) {
      const [previous] = deletes.splice(old, 1);
      const { data, value: previousValue } = recordRow(zoneId, previous, presentValue(previous));
      await trx('dns_records').where({ id: row.id }).update({ ttl: previous.ttl, data, value: previousValue, updated_at: trx.fn.now() });
      undone.push(`${spec.name} ${spec.type} ${value} is back to ${previousValue}`);
    } else {
      await trx('dns_records').where({ id: row.id }).delete();
      undone.push(`${spec.name} ${spec.type} ${value} removed`);
    }
  }
  for (const spec of deletes) {
    const value = presentValue(spec);
    const inserted = await trx('dns_records')
      .insert(recordRow(zoneId, spec, value))
      .onConflict()
      .ignore()
      .returning('id');
    if (inserted.length > 0) undone.push(`${spec.name} ${spec.type} ${value} kept`);
  }
  return undone;
}
