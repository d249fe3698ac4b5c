/**
 * A repair sent as one UPDATE is all or nothing: one record the server refuses (an MX whose
 * in-zone target has no address) would keep every other difference of the zone unrepaired.
 * So when the whole is refused, the repair goes RRset by RRset, in rounds (an MX is accepted
 * once its target's address is in), then record by record within the RRsets still refused;
 * what the server refuses to the end is returned, to be reported by name.
 */
import type { Change } from '../../../lib/dns/update.ts';

export interface PartsOutcome {
  /** The changes the server refused (adds, in practice). */
  refused: Change[];
  /** How many UPDATEs the server accepted. */
  applied: number;
}

const rrsetOf = (change: Change): string =>
  change.op === 'add' ? `${change.record.name} ${change.record.type}` : change.op === 'deleteRRset' ? `${change.name} ${change.type}` : '';

/** `send` applies some changes in one UPDATE; it throws (code REFUSED) when the server refuses them. */
export async function applyInParts(changes: readonly Change[], send: (changes: Change[]) => Promise<void>): Promise<PartsOutcome> {
  const groups = new Map<string, Change[]>();
  for (const change of changes) groups.set(rrsetOf(change), [...(groups.get(rrsetOf(change)) ?? []), change]);
  let applied = 0;
  /** Sends each part, again and again while any gets in; returns the parts refused to the end. */
  const rounds = async (parts: Change[][]): Promise<Change[][]> => {
    let pending = parts;
    for (let progress = true; progress && pending.length > 0; ) {
      progress = false;
      const refused: Change[][] = [];
      for (const part of pending) {
        try {
          await send(part);
          applied += 1;
          progress = true;
        } catch (error) {
          if ((error as { code?: string }).code !== 'REFUSED') throw error;
          refused.push(part);
        }
      }
      pending = refused;
    }
    return pending;
  };
  const refusedSets = await rounds([...groups.values()]);
  // Within a refused RRset, its deletion (first) and the records the server takes still go in.
  const refused = await rounds(refusedSets.flatMap((set) => set.map((change) => [change])));
  return { refused: refused.flat(), applied };
}
