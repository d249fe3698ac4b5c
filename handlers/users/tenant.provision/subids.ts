/** Parsing and allocating /etc/subuid and /etc/subgid ranges (pure, so tested without a host). */

export interface SubidEntry {
  owner: string;
  start: number;
  count: number;
}

export function parseSubids(text: string): SubidEntry[] {
  return text
    .split('\n')
    .map((line) => line.trim().split(':'))
    .filter((f) => f.length === 3 && /^\d+$/.test(f[1]) && /^\d+$/.test(f[2]))
    .map(([owner, start, count]) => ({ owner, start: Number(start), count: Number(count) }));
}

const overlaps = (a: { start: number; count: number }, b: { start: number; count: number }) =>
  a.start < b.start + b.count && b.start < a.start + a.count;

/** The entries of other owners that a range would collide with. */
export const collisions = (entries: readonly SubidEntry[], owner: string, range: { start: number; count: number }) =>
  entries.filter((e) => e.owner !== owner && overlaps(e, range));

/**
 * The lowest free range of `count` ids at or above `floor`, free in every file given (so
 * that the uid and gid ranges can be the same numbers).
 */
export function firstFreeRange(files: readonly SubidEntry[][], floor: number, count: number): { start: number; count: number } {
  const taken = files.flat().sort((a, b) => a.start - b.start);
  let start = floor;
  for (const e of taken) {
    if (overlaps(e, { start, count })) start = Math.max(start, e.start + e.count);
  }
  return { start, count };
}
