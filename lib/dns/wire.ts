/**
 * DNS wire-format helpers shared by the DNS modules, and the narrow slice of dns-packet's
 * internals we rely on (its published types omit the per-record codecs and the name codec).
 */
import { randomInt } from 'node:crypto';
import dnsPacket from 'dns-packet';
import type { DecodedPacket } from 'dns-packet';
import { PermanentError } from '../errors.ts';

interface RdataCodec {
  /** Returns RDLENGTH (2 bytes) followed by the RDATA. */
  encode(data: unknown): Buffer;
}
interface NameCodec {
  decode: ((buf: Buffer, offset?: number) => string) & { bytes: number };
}
interface DnsPacketInternals {
  record(type: string): RdataCodec;
  name: NameCodec;
}
const internals = dnsPacket as unknown as DnsPacketInternals;

/** dns-packet decodes these header fields but its types leave them out. */
export interface DecodedMessage extends DecodedPacket {
  opcode: string;
  rcode: string;
}

export const HEADER_BYTES = 12;
export const FLAG_QR = 0x8000;
export const FLAG_TC = 0x0200;
export const OPCODE_UPDATE = 5;
export const CLASS_IN = 1;
export const CLASS_NONE = 254;
export const CLASS_ANY = 255;
export const TYPE_SOA = 6;
export const TYPE_TSIG = 250;
export const TYPE_AXFR = 252;
export const TYPE_ANY = 255;

export const RCODE_NAMES = [
  'NOERROR',
  'FORMERR',
  'SERVFAIL',
  'NXDOMAIN',
  'NOTIMP',
  'REFUSED',
  'YXDOMAIN',
  'YXRRSET',
  'NXRRSET',
  'NOTAUTH',
  'NOTZONE',
] as const;

export function rcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? `RCODE${rcode}`;
}

export function encodeRdata(type: string, data: unknown): Buffer {
  return internals.record(type).encode(data);
}

export function decodeMessage(message: Buffer): DecodedMessage {
  try {
    return dnsPacket.decode(message) as DecodedMessage;
  } catch (error) {
    throw malformed(error);
  }
}

/** Hostname-style labels plus `_` (SRV, ACME) and a leading `*` wildcard; nothing that needs escaping. */
const LABEL = /^(\*|[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)$/;

/** Uncompressed wire form of a fully qualified name, validated; `canonical` lowercases it (TSIG, RFC 8945 §4.3.3). */
export function encodeName(name: string, { canonical = false } = {}): Buffer {
  const labels = splitName(name);
  const parts: Buffer[] = [];
  labels.forEach((label, index) => {
    if (!LABEL.test(label) || (label === '*' && index !== 0)) {
      throw new PermanentError(`invalid DNS name "${name}": bad label "${label}"`, { code: 'INVALID_NAME' });
    }
    const bytes = Buffer.from(canonical ? label.toLowerCase() : label, 'ascii');
    parts.push(Buffer.from([bytes.length]), bytes);
  });
  parts.push(Buffer.from([0]));
  const wire = Buffer.concat(parts);
  if (wire.length > 255) throw new PermanentError(`invalid DNS name "${name}": longer than 255 bytes`, { code: 'INVALID_NAME' });
  return wire;
}

export function splitName(name: string): string[] {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  if (trimmed === '') return [];
  return trimmed.split('.');
}

/** Lowercase, no trailing dot: the form to compare names in. */
export function normalizeName(name: string): string {
  return splitName(name).join('.').toLowerCase();
}

/** Reads a possibly compressed name; `end` is the offset just past it in the record. */
export function readName(message: Buffer, offset: number): { name: string; end: number } {
  try {
    const name = internals.name.decode(message, offset);
    return { name, end: offset + internals.name.decode.bytes };
  } catch (error) {
    throw malformed(error);
  }
}

/** Offsets of every resource record (answer, authority, additional), in order, without decoding them. */
export function recordOffsets(message: Buffer): number[] {
  if (message.length < HEADER_BYTES) throw malformed('shorter than a header');
  const questions = message.readUInt16BE(4);
  const records = message.readUInt16BE(6) + message.readUInt16BE(8) + message.readUInt16BE(10);
  let offset = HEADER_BYTES;
  for (let i = 0; i < questions; i++) offset = readName(message, offset).end + 4;
  const offsets: number[] = [];
  for (let i = 0; i < records; i++) {
    offsets.push(offset);
    const fixed = readName(message, offset).end;
    if (fixed + 10 > message.length) throw malformed('record header past the end');
    offset = fixed + 10 + message.readUInt16BE(fixed + 8);
  }
  if (offset > message.length) throw malformed('record data past the end');
  return offsets;
}

export function u16(value: number): Buffer {
  const buf = Buffer.alloc(2);
  buf.writeUInt16BE(value);
  return buf;
}

/** Unpredictable, so an off-path attacker cannot easily match a forged reply to our query. */
export function randomId(): number {
  return randomInt(0x10000);
}

function malformed(cause: unknown): PermanentError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new PermanentError(`malformed DNS message: ${detail}`, { code: 'FORMERR', cause });
}
