/**
 * API-level DNS validation: zone and record names inside their zone, per-type values (RFC 1035,
 * 1123, 2782, 8659), RRset rules (CNAME exclusive, one TTL per RRset). Every error names the
 * field it is about, so the gateway can answer 400 with it; values leave here canonical, in the
 * form the server will hand them back in a zone transfer.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { domainToASCII } from 'node:url';
import dnsPacket from 'dns-packet';
import { encodeRecordData, presentRdata } from './records.ts';
import type { RecordType } from './records.ts';
import { InputError } from '../errors.ts';

export const RECORD_TYPES = ['A', 'AAAA', 'CNAME', 'MX', 'TXT', 'SRV', 'CAA', 'NS', 'PTR'] as const satisfies readonly RecordType[];
export const TTL_MIN = 60;
export const TTL_MAX = 604_800;
export const TXT_MAX_BYTES = 4000;

const LABEL = '[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?';
const HOST_LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
/** A record name as users type it: `@`, relative (`www`, `_sip._tcp`, `*.dev`) or absolute (`www.example.test.`). */
export const RECORD_NAME_PATTERN = `^(@|\\*|(\\*\\.)?(${LABEL}\\.)*${LABEL}\\.?)$`;
/** A target host name (CNAME, MX, NS, PTR, SRV): absolute, the trailing dot optional; `@` is the zone apex. */
export const TARGET_PATTERN = `^(@|(${LABEL}\\.)*${LABEL}\\.?)$`;
/** A zone name after normalisation: lower-case ASCII (IDN as punycode), at least two labels. */
export const ZONE_PATTERN = `^(?=.{1,253}$)(${HOST_LABEL}\\.)+${HOST_LABEL}$`;
export const ADDRESS_PATTERN = '^[0-9A-Fa-f:.]{2,45}$';
/** Printable text: TXT and CAA values never reach a shell or a file, but control characters have no business there. */
export const TEXT_PATTERN = '^[^\\u0000-\\u001f\\u007f]*$';
export const CAA_TAG_PATTERN = '^[A-Za-z0-9]{1,15}$';

/** The record as `up` stores it and sends it: absolute lower-case name, canonical data. */
export interface RecordSpec {
  name: string;
  type: RecordType;
  ttl: number;
  address?: string;
  target?: string;
  preference?: number;
  exchange?: string;
  text?: string;
  priority?: number;
  weight?: number;
  port?: number;
  flags?: number;
  tag?: string;
  value?: string;
}

export type RecordInput = Partial<Omit<RecordSpec, 'type'>> & { name: string; type: string };

/** Lower-case ASCII, IDN to punycode, no trailing dot; at least two labels. */
export function normaliseZoneName(input: string, field = 'name'): string {
  const trimmed = input.trim().replace(/\.$/, '');
  if (/[\s;{}"'`$\\/\u0000-\u001f]/.test(trimmed) || trimmed.includes('..')) throw new InputError(field, 'is not a domain name');
  const ascii = domainToASCII(trimmed).toLowerCase();
  if (!ascii || !new RegExp(ZONE_PATTERN).test(ascii)) {
    throw new InputError(field, 'must be a domain name of at least two labels (letters, digits, hyphens; IDN allowed)');
  }
  return ascii;
}

/** `@` → the apex, `www` → `www.<zone>`, `www.<zone>.` stays; the result must lie inside the zone. */
export function absoluteName(input: string, zone: string, field: string): string {
  if (!new RegExp(RECORD_NAME_PATTERN).test(input)) throw new InputError(field, 'is not a valid record name');
  const name = input === '@' ? zone : input.endsWith('.') ? input.slice(0, -1).toLowerCase() : `${input.toLowerCase()}.${zone}`;
  if (name !== zone && !name.endsWith(`.${zone}`)) throw new InputError(field, `lies outside the zone ${zone}`);
  checkLength(name, field);
  return name;
}

/** The name as users read it in the zone: `@` for the apex, else the part before the zone. */
export function relativeName(name: string, zone: string): string {
  return name === zone ? '@' : name.slice(0, -(zone.length + 1));
}

function targetName(input: string | undefined, zone: string, field: string): string {
  if (input === undefined) throw new InputError(field, 'is required for this record type');
  if (!new RegExp(TARGET_PATTERN).test(input)) throw new InputError(field, 'is not a valid host name');
  const name = input === '@' ? zone : input.replace(/\.$/, '').toLowerCase();
  checkLength(name, field);
  return name;
}

function checkLength(name: string, field: string): void {
  if (name.length > 253) throw new InputError(field, 'is longer than 253 characters');
}

function integer(value: number | undefined, field: string, max: number): number {
  if (value === undefined) throw new InputError(field, 'is required for this record type');
  if (!Number.isInteger(value) || value < 0 || value > max) throw new InputError(field, `must be an integer in 0..${max}`);
  return value;
}

function printable(value: string | undefined, field: string, maxBytes: number): string {
  if (value === undefined) throw new InputError(field, 'is required for this record type');
  if (!new RegExp(TEXT_PATTERN, 'u').test(value)) throw new InputError(field, 'must not contain control characters');
  if (Buffer.byteLength(value, 'utf8') > maxBytes) throw new InputError(field, `is longer than ${maxBytes} bytes`);
  return value;
}

/** Validates one record of `zone`; `field` is where it sits in the request (`body`, `body/records/2`). */
export function validateRecord(input: RecordInput, zone: string, field: string, defaultTtl = 3600): RecordSpec {
  const type = input.type as RecordType;
  if (!(RECORD_TYPES as readonly string[]).includes(type))
    throw new InputError(`${field}/type`, `must be one of ${RECORD_TYPES.join(', ')}`);
  const name = absoluteName(input.name, zone, `${field}/name`);
  const ttl = input.ttl ?? defaultTtl;
  if (!Number.isInteger(ttl) || ttl < TTL_MIN || ttl > TTL_MAX)
    throw new InputError(`${field}/ttl`, `must be an integer in ${TTL_MIN}..${TTL_MAX}`);
  const spec: RecordSpec = { name, type, ttl };
  const at = (key: string) => `${field}/${key}`;
  switch (type) {
    case 'A':
    case 'AAAA': {
      const address = input.address ?? '';
      if (!(type === 'A' ? isIPv4(address) : isIPv6(address)))
        throw new InputError(at('address'), `must be an IPv${type === 'A' ? 4 : 6} address`);
      spec.address = canonicalAddress(type, address);
      break;
    }
    case 'CNAME':
    case 'NS':
    case 'PTR':
      spec.target = targetName(input.target, zone, at('target'));
      if (type === 'CNAME' && name === zone) throw new InputError(at('name'), 'a CNAME cannot be at the zone apex', 422);
      if (type === 'NS' && name === zone)
        throw new InputError(at('name'), 'the apex NS records are managed with the zone; NS records here delegate subdomains', 422);
      break;
    case 'MX':
      spec.preference = integer(input.preference, at('preference'), 65535);
      spec.exchange = targetName(input.exchange, zone, at('exchange'));
      break;
    case 'TXT':
      spec.text = printable(input.text, at('text'), TXT_MAX_BYTES);
      break;
    case 'SRV':
      spec.priority = integer(input.priority, at('priority'), 65535);
      spec.weight = integer(input.weight, at('weight'), 65535);
      spec.port = integer(input.port, at('port'), 65535);
      spec.target = targetName(input.target, zone, at('target'));
      break;
    case 'CAA':
      spec.flags = integer(input.flags, at('flags'), 255);
      if (spec.flags !== 0 && spec.flags !== 128) throw new InputError(at('flags'), 'must be 0 or 128 (issuer critical)');
      if (!input.tag || !new RegExp(CAA_TAG_PATTERN).test(input.tag))
        throw new InputError(at('tag'), 'must be 1 to 15 letters or digits (issue, issuewild, iodef)');
      spec.tag = input.tag.toLowerCase();
      spec.value = printable(input.value, at('value'), 1024);
      break;
  }
  try {
    encodeRecordData(spec as never);
  } catch (error) {
    throw new InputError(field, (error as Error).message);
  }
  return spec;
}

function canonicalAddress(type: 'A' | 'AAAA', address: string): string {
  const codec = (dnsPacket as unknown as Record<string, { decode(b: Buffer): string }>)[type.toLowerCase()];
  return codec.decode(encodeRecordData({ type, address }));
}

/** The record's data in the presentation format `dig` prints (and a zone transfer yields). */
export function presentValue(spec: RecordSpec): string {
  const data = encodeRecordData(spec as never);
  const decoded = (dnsPacket as unknown as { record(t: string): { decode(b: Buffer): unknown } }).record(spec.type).decode(data);
  return presentRdata(spec.type, decoded);
}

/** The identity of one RR inside its zone: name, TTL, type and data. */
export function recordKey(spec: { name: string; ttl: number; type: string }, value: string): string {
  return `${spec.name} ${spec.ttl} ${spec.type} ${value}`;
}

/**
 * RRset rules for `adding` next to `existing` records of the zone (RFC 1034 §3.6.2, RFC 2181 §5.2,
 * §10.1): a CNAME is alone at its name, and the records of one RRset share one TTL.
 */
export function checkRRsetRules(existing: readonly RecordSpec[], adding: readonly { spec: RecordSpec; field: string }[]): void {
  const all = [...existing.map((spec) => ({ spec, field: '' })), ...adding];
  for (const { spec, field } of adding) {
    for (const other of all) {
      if (other.spec === spec || other.spec.name !== spec.name) continue;
      if ((spec.type === 'CNAME') !== (other.spec.type === 'CNAME')) {
        throw new InputError(
          `${field}/type`,
          `${spec.name} already has ${other.spec.type === 'CNAME' ? 'a CNAME' : 'other records'}; a CNAME must be alone at its name`,
          409,
        );
      }
      if (spec.type === 'CNAME' && other.spec.type === 'CNAME')
        throw new InputError(`${field}/type`, `${spec.name} already has a CNAME`, 409);
      if (other.spec.type === spec.type && other.spec.ttl !== spec.ttl) {
        throw new InputError(
          `${field}/ttl`,
          `the ${spec.type} records of ${spec.name} have TTL ${other.spec.ttl}; records of one RRset share one TTL`,
          422,
        );
      }
    }
  }
}
