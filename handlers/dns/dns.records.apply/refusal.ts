/**
 * What can be known about an UPDATE the server refused although it accepted the key: which of
 * the changes its integrity checks refuse. BIND checks one thing at UPDATE time (check_mx): an
 * added MX whose in-zone target has no A/AAAA or is a CNAME. So the server is asked (unsigned
 * queries of public data) about the target of every in-zone MX that is added.
 */
import { exchangeUdp, type DnsServer } from '../../../lib/dns/transport.ts';
import { CLASS_IN, HEADER_BYTES, decodeMessage, encodeName, randomId, u16 } from '../../../lib/dns/wire.ts';
import type { RecordChange } from '../../../queues/dns/ops.ts';

const TYPE_A = 1;
const TYPE_CNAME = 5;
const TYPE_AAAA = 28;

/** The RR types the server answers for `name` (authoritative data only; none on NXDOMAIN). */
async function answeredTypes(server: DnsServer, name: string, type: number, timeoutMs: number): Promise<string[]> {
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt16BE(randomId(), 0);
  header.writeUInt16BE(1, 4);
  const reply = decodeMessage(await exchangeUdp(server, Buffer.concat([header, encodeName(name), u16(type), u16(CLASS_IN)]), timeoutMs));
  return (reply.answers ?? []).map((answer) => answer.type);
}

/** One line per added record whose in-zone target has no address on the server, or is a CNAME; empty if none (or if asking failed). */
export async function explainRefusal(
  server: DnsServer,
  zone: string,
  changes: readonly RecordChange[],
  timeoutMs = 3_000,
): Promise<string[]> {
  const findings: string[] = [];
  try {
    for (const { op, record } of changes) {
      if (op !== 'add' || record.type !== 'MX') continue;
      const target = record.exchange;
      if (!target || !(target === zone || target.endsWith(`.${zone}`))) continue;
      // Added in the same update, an address would have been there for the check.
      if (changes.some((c) => c.op === 'add' && c.record.name === target && (c.record.type === 'A' || c.record.type === 'AAAA'))) continue;
      const what = `${record.name} ${record.type} → ${target}`;
      if ((await answeredTypes(server, target, TYPE_CNAME, timeoutMs)).includes('CNAME')) findings.push(`${what}: the target is a CNAME`);
      else if (
        !(await answeredTypes(server, target, TYPE_A, timeoutMs)).includes('A') &&
        !(await answeredTypes(server, target, TYPE_AAAA, timeoutMs)).includes('AAAA')
      )
        findings.push(`${what}: the target has no A or AAAA record`);
    }
  } catch {
    // The explanation is a courtesy: the refusal itself is what the job reports.
  }
  return findings;
}
