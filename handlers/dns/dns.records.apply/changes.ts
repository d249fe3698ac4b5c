/** From the records `up` stores to the changes and prerequisites of one RFC 2136 UPDATE. */
import type { ResourceRecord } from '../../../lib/dns/records.ts';
import type { Change, Prerequisite } from '../../../lib/dns/update.ts';
import type { RecordChange, RecordSpecMessage } from '../../../queues/dns/ops.ts';

export function resourceRecord(spec: RecordSpecMessage): ResourceRecord {
  return spec as ResourceRecord;
}

/**
 * A server silently ignores a CNAME added where other data lives, and other data added where a
 * CNAME lives (RFC 2136 §3.4.2.2). PostgreSQL already keeps a CNAME alone at its name, so a CNAME
 * add clears its name first, and other adds require that no CNAME is there: a server that has
 * drifted then fails loudly (YXRRSET) instead of dropping the change. Both stay idempotent.
 */
export function updateOf(changes: readonly RecordChange[]): { prerequisites: Prerequisite[]; changes: Change[] } {
  const cnameDeleted = new Set(changes.filter((c) => c.op === 'delete' && c.record.type === 'CNAME').map((c) => c.record.name));
  const guarded = new Set<string>();
  const out: Change[] = [];
  for (const change of changes) {
    const record = resourceRecord(change.record);
    if (change.op === 'delete') {
      out.push({ op: 'deleteRecord', record });
      continue;
    }
    if (record.type === 'CNAME') out.push({ op: 'deleteName', name: record.name });
    else if (!cnameDeleted.has(record.name)) guarded.add(record.name);
    out.push({ op: 'add', record });
  }
  const cnameNames = new Set(changes.filter((c) => c.op === 'add' && c.record.type === 'CNAME').map((c) => c.record.name));
  const prerequisites: Prerequisite[] = [...guarded]
    .filter((name) => !cnameNames.has(name))
    .map((name) => ({ require: 'rrsetDoesNotExist', name, type: 'CNAME' }));
  return { prerequisites, changes: out };
}
