/** The record types `up` manages: validated input shapes, their RDATA encoding, and dig-style presentation. */
import { isIPv4, isIPv6 } from 'node:net';
import { PermanentError } from '../errors.ts';
import { encodeName, encodeRdata, splitName } from './wire.ts';

export type RecordType = 'A' | 'AAAA' | 'CNAME' | 'MX' | 'TXT' | 'SRV' | 'CAA' | 'NS' | 'PTR';

export type RecordData =
  | { type: 'A' | 'AAAA'; address: string }
  | { type: 'CNAME' | 'NS' | 'PTR'; target: string }
  | { type: 'MX'; preference: number; exchange: string }
  /** Any length: split into ≤255-byte character-strings on the wire; resolvers hand the pieces back concatenated. */
  | { type: 'TXT'; text: string }
  | { type: 'SRV'; priority: number; weight: number; port: number; target: string }
  | { type: 'CAA'; flags: number; tag: string; value: string };

export type ResourceRecord = RecordData & { name: string; ttl: number };

export const TYPE_CODES: Record<RecordType, number> = {
  A: 1,
  NS: 2,
  CNAME: 5,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  CAA: 257,
};

export function typeCode(type: RecordType): number {
  const code = TYPE_CODES[type];
  if (code === undefined) throw invalid(`unsupported record type "${type}"`);
  return code;
}

/** RDLENGTH + RDATA for one record, after validating it. */
export function encodeRecordData(data: RecordData): Buffer {
  switch (data.type) {
    case 'A':
      if (!isIPv4(data.address)) throw invalid(`A record needs an IPv4 address, got "${data.address}"`);
      return encodeRdata('A', data.address);
    case 'AAAA':
      if (!isIPv6(data.address)) throw invalid(`AAAA record needs an IPv6 address, got "${data.address}"`);
      return encodeRdata('AAAA', data.address);
    case 'CNAME':
    case 'NS':
    case 'PTR':
      encodeName(data.target);
      return encodeRdata(data.type, data.target);
    case 'MX':
      encodeName(data.exchange);
      return encodeRdata('MX', { preference: uint(data.preference, 16, 'MX preference'), exchange: data.exchange });
    case 'TXT': {
      const rdata = encodeRdata('TXT', splitCharacterStrings(data.text));
      if (rdata.length > 0xffff) throw invalid('TXT record longer than 65535 bytes');
      return rdata;
    }
    case 'SRV':
      encodeName(data.target);
      return encodeRdata('SRV', {
        priority: uint(data.priority, 16, 'SRV priority'),
        weight: uint(data.weight, 16, 'SRV weight'),
        port: uint(data.port, 16, 'SRV port'),
        target: data.target,
      });
    case 'CAA':
      if (!/^[A-Za-z0-9]{1,255}$/.test(data.tag)) throw invalid(`invalid CAA tag "${data.tag}"`);
      return encodeRdata('CAA', { flags: uint(data.flags, 8, 'CAA flags'), tag: data.tag, value: data.value });
    default:
      throw invalid(`unsupported record type "${(data as { type: string }).type}"`);
  }
}

export function splitCharacterStrings(text: string): Buffer[] {
  const bytes = Buffer.from(text, 'utf8');
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += 255) chunks.push(bytes.subarray(offset, offset + 255));
  return chunks.length > 0 ? chunks : [Buffer.alloc(0)];
}

export function validateTtl(ttl: number): number {
  return uint(ttl, 31, 'TTL');
}

/** A decoded record (dns-packet's shape) in the presentation format `dig` prints, e.g. `10 mx.example.test.`. */
export function presentRdata(type: string, data: unknown): string {
  switch (type) {
    case 'A':
    case 'AAAA':
      return String(data);
    case 'CNAME':
    case 'NS':
    case 'PTR':
      return fqdn(String(data));
    case 'MX': {
      const mx = data as { preference: number; exchange: string };
      return `${mx.preference} ${fqdn(mx.exchange)}`;
    }
    case 'TXT':
      return (data as Buffer[]).map(quote).join(' ');
    case 'SRV': {
      const srv = data as { priority: number; weight: number; port: number; target: string };
      return `${srv.priority} ${srv.weight} ${srv.port} ${fqdn(srv.target)}`;
    }
    case 'CAA': {
      const caa = data as { flags: number; tag: string; value: string };
      return `${caa.flags} ${caa.tag} ${quote(Buffer.from(caa.value))}`;
    }
    case 'SOA': {
      const soa = data as { mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number };
      return `${fqdn(soa.mname)} ${fqdn(soa.rname)} ${soa.serial} ${soa.refresh} ${soa.retry} ${soa.expire} ${soa.minimum}`;
    }
    default: {
      const raw = Buffer.isBuffer(data) ? data : Buffer.alloc(0);
      return `\\# ${raw.length}${raw.length ? ` ${raw.toString('hex').toUpperCase()}` : ''}`;
    }
  }
}

export function fqdn(name: string): string {
  return splitName(name).length === 0 ? '.' : `${splitName(name).join('.')}.`;
}

function quote(bytes: Buffer): string {
  let out = '"';
  for (const byte of bytes) {
    if (byte === 0x22 || byte === 0x5c) out += `\\${String.fromCharCode(byte)}`;
    else if (byte < 0x20 || byte > 0x7e) out += `\\${String(byte).padStart(3, '0')}`;
    else out += String.fromCharCode(byte);
  }
  return `${out}"`;
}

function uint(value: number, bits: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** bits)
    throw invalid(`${what} must be an integer in 0..${2 ** bits - 1}, got ${value}`);
  return value;
}

function invalid(message: string): PermanentError {
  return new PermanentError(`invalid DNS record: ${message}`, { code: 'INVALID_RECORD' });
}
