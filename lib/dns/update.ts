/**
 * RFC 2136 UPDATE messages: one zone, optional prerequisites, and any number of changes applied
 * atomically by the server. Records are framed here rather than by dns-packet because dns-packet
 * cannot encode class NONE (254), which "delete one RR" and the "not in use / does not exist"
 * prerequisites require; the RDATA itself still comes from dns-packet's codecs.
 */
import { PermanentError } from '../errors.ts';
import { encodeRecordData, typeCode, validateTtl } from './records.ts';
import type { RecordData, RecordType, ResourceRecord } from './records.ts';
import { CLASS_ANY, CLASS_IN, CLASS_NONE, HEADER_BYTES, OPCODE_UPDATE, TYPE_ANY, TYPE_SOA, encodeName, randomId, u16 } from './wire.ts';

export type Prerequisite =
  | { require: 'nameInUse'; name: string }
  | { require: 'nameNotInUse'; name: string }
  | { require: 'rrsetExists'; name: string; type: RecordType }
  | { require: 'rrsetDoesNotExist'; name: string; type: RecordType };

export type Change =
  | { op: 'add'; record: ResourceRecord }
  /** Removes the one record with exactly this data; the rest of the RRset stays. */
  | { op: 'deleteRecord'; record: RecordData & { name: string } }
  | { op: 'deleteRRset'; name: string; type: RecordType }
  /** Removes every RRset at the name (the server keeps the zone apex SOA and NS). */
  | { op: 'deleteName'; name: string };

export interface UpdateRequest {
  zone: string;
  prerequisites?: Prerequisite[];
  changes: Change[];
  /** Defaults to a random message ID. */
  id?: number;
}

const EMPTY_RDATA = u16(0);
const MAX_MESSAGE_BYTES = 0xffff;

export function buildUpdate(request: UpdateRequest): Buffer {
  const prerequisites = request.prerequisites ?? [];
  if (request.changes.length === 0) throw new PermanentError('a DNS update needs at least one change', { code: 'INVALID_UPDATE' });
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt16BE(request.id ?? randomId(), 0);
  header.writeUInt16BE(OPCODE_UPDATE << 11, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(prerequisites.length, 6);
  header.writeUInt16BE(request.changes.length, 8);
  const zone = Buffer.concat([encodeName(request.zone), u16(TYPE_SOA), u16(CLASS_IN)]);
  const message = Buffer.concat([header, zone, ...prerequisites.map(encodePrerequisite), ...request.changes.map(encodeChange)]);
  if (message.length > MAX_MESSAGE_BYTES) {
    throw new PermanentError(`DNS update of ${message.length} bytes exceeds 65535; split it into several updates`, {
      code: 'INVALID_UPDATE',
    });
  }
  return message;
}

function encodePrerequisite(prerequisite: Prerequisite): Buffer {
  switch (prerequisite.require) {
    case 'nameInUse':
      return encodeRecord(prerequisite.name, TYPE_ANY, CLASS_ANY, 0, EMPTY_RDATA);
    case 'nameNotInUse':
      return encodeRecord(prerequisite.name, TYPE_ANY, CLASS_NONE, 0, EMPTY_RDATA);
    case 'rrsetExists':
      return encodeRecord(prerequisite.name, typeCode(prerequisite.type), CLASS_ANY, 0, EMPTY_RDATA);
    case 'rrsetDoesNotExist':
      return encodeRecord(prerequisite.name, typeCode(prerequisite.type), CLASS_NONE, 0, EMPTY_RDATA);
    default:
      throw new PermanentError(`unknown prerequisite ${JSON.stringify(prerequisite)}`, { code: 'INVALID_UPDATE' });
  }
}

function encodeChange(change: Change): Buffer {
  switch (change.op) {
    case 'add': {
      const { record } = change;
      return encodeRecord(record.name, typeCode(record.type), CLASS_IN, validateTtl(record.ttl), encodeRecordData(record));
    }
    case 'deleteRecord': {
      const { record } = change;
      return encodeRecord(record.name, typeCode(record.type), CLASS_NONE, 0, encodeRecordData(record));
    }
    case 'deleteRRset':
      return encodeRecord(change.name, typeCode(change.type), CLASS_ANY, 0, EMPTY_RDATA);
    case 'deleteName':
      return encodeRecord(change.name, TYPE_ANY, CLASS_ANY, 0, EMPTY_RDATA);
    default:
      throw new PermanentError(`unknown change ${JSON.stringify(change)}`, { code: 'INVALID_UPDATE' });
  }
}

/** `rdata` already starts with its RDLENGTH, as dns-packet's codecs produce it. */
function encodeRecord(name: string, type: number, klass: number, ttl: number, rdata: Buffer): Buffer {
  const fixed = Buffer.alloc(8);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(klass, 2);
  fixed.writeUInt32BE(ttl, 4);
  return Buffer.concat([encodeName(name), fixed, rdata]);
}
