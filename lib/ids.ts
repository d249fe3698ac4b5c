import { randomFillSync } from 'node:crypto';
import { v7 } from 'uuid';

/**
 * Random bytes drawn 4 KiB at a time: every id would otherwise cost a getrandom() call, and on
 * a sandboxed kernel that system call was a visible share of the gateway's time per request.
 */
const pool = Buffer.alloc(4096);
let offset = pool.length;

function random16(): Uint8Array {
  if (offset + 16 > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  offset += 16;
  // A copy: uuid keeps no reference, but the pool is rewritten on the next refill.
  return Uint8Array.prototype.slice.call(pool, offset - 16, offset);
}

/** The millisecond and counter of the last id: ids from one process stay strictly ordered. */
let lastMs = -Infinity;
let sequence = 0;

/** Ids are UUIDv7: unique without coordination and sortable by creation time. */
export function newId(): string {
  const random = random16();
  const now = Date.now();
  if (now > lastMs) {
    lastMs = now;
    // A random start within the millisecond (31 bits), as uuid itself does.
    sequence = ((random[6] & 0x7f) << 24) | (random[7] << 16) | (random[8] << 8) | random[9];
  } else if (++sequence > 0x7fffffff) {
    lastMs += 1;
    sequence = 0;
  }
  return v7({ random, msecs: lastMs, seq: sequence });
}

/** Job ids are ids; the name says what they identify. */
export const newJobId = newId;

/** The one spelling of a UUID (any version) that schemas, messages and routes accept. */
export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
const UUID = new RegExp(UUID_PATTERN);
export const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID.test(value);

/** When an id made by newId() was made (ms since the epoch); null for an id that is not UUIDv7. */
export function timeOfId(id: string): number | null {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-7/i.test(id)) return null;
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}
