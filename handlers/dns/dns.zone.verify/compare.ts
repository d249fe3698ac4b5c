/** What the server serves next to what PostgreSQL says, and the UPDATE changes that converge them. */
import type { ZoneRecord } from '../../../lib/dns/client.ts';
import type { Change } from '../../../lib/dns/update.ts';
import { RECORD_TYPES, presentValue, recordKey } from '../../../lib/dns/validate.ts';
import type { RecordSpec } from '../../../lib/dns/validate.ts';
import type { Difference, RecordSpecMessage } from '../../../queues/dns/ops.ts';
import { normalizeName } from '../../../lib/dns/wire.ts';
import { resourceRecord } from '../dns.records.apply/changes.ts';

export interface Comparison {
  missing: Difference[];
  unexpected: Difference[];
  changes: Change[];
}

/** The SOA, the apex NS and the nameserver's address belong to the zone's creation, not to its records. */
function managedByZone(record: { name: string; type: string }, zone: string, nameserver: string): boolean {
  if (record.type === 'SOA') return true;
  if (record.type === 'NS' && record.name === zone) return true;
  return (record.type === 'A' || record.type === 'AAAA') && record.name === nameserver;
}

export function compareZone(
  zone: string,
  nameserver: string,
  actual: readonly ZoneRecord[],
  expected: readonly RecordSpecMessage[],
): Comparison {
  const served = new Map<string, Difference>();
  for (const record of actual) {
    const diff = { name: normalizeName(record.name), ttl: record.ttl, type: record.type, value: record.text };
    // Types up does not manage (DNSSEC, ...) are the server's business.
    if (managedByZone(diff, zone, nameserver) || !(RECORD_TYPES as readonly string[]).includes(diff.type)) continue;
    served.set(recordKey(diff, diff.value), diff);
  }
  const wanted = new Map<string, { diff: Difference; spec: RecordSpecMessage }>();
  for (const spec of expected) {
    const diff = { name: spec.name, ttl: spec.ttl, type: spec.type, value: presentValue(spec as RecordSpec) };
    wanted.set(recordKey(diff, diff.value), { diff, spec });
  }
  const missing = [...wanted].filter(([key]) => !served.has(key)).map(([, w]) => w.diff);
  const unexpected = [...served].filter(([key]) => !wanted.has(key)).map(([, diff]) => diff);

  // An RRset with anything wrong is replaced as a whole: deleting exactly the stray RR would need
  // its RDATA byte for byte (a TXT split differently by another client would not match).
  const rrsets = new Set([...missing, ...unexpected].map((d) => `${d.name} ${d.type}`));
  const changes: Change[] = [];
  for (const rrset of rrsets) {
    const [name, type] = rrset.split(' ');
    if (unexpected.some((d) => d.name === name && d.type === type))
      changes.push({ op: 'deleteRRset', name, type: type as RecordSpec['type'] });
  }
  for (const rrset of rrsets) {
    const [name, type] = rrset.split(' ');
    for (const { spec } of wanted.values())
      if (spec.name === name && spec.type === type) changes.push({ op: 'add', record: resourceRecord(spec) });
  }
  return { missing, unexpected, changes };
}
