/** API shapes of the DNS routes; the value fields are the messages' own (queues/ops/dns.ts). */
import { Type } from 'typebox';
import {
  FQDN_PATTERN, HostPath, IpAddress, KeyName, RecordTypeSchema, RecordValueFields, TsigAlgorithmSchema, Ttl,
} from '../../queues/ops/dns.ts';
import { RECORD_NAME_PATTERN, ZONE_PATTERN } from '../../lib/dns/validate.ts';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);
export const SERVER_NAME_PATTERN = '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$';

export const DnsServerInput = Type.Object(
  {
    name: Type.String({ pattern: SERVER_NAME_PATTERN, description: 'what zones and the CLI call it' }),
    primary: Type.String({ pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$', description: 'the host (by name) that runs the primary; rndc runs there' }),
    address: IpAddress,
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 53, description: 'where it takes UPDATE and AXFR' }),
    rndcConf: Type.String({ ...HostPath, default: '/etc/bind/rndc.conf', description: 'rndc.conf on the primary' }),
    zoneDir: Type.String({ ...HostPath, default: '/var/lib/bind', description: 'where zone files go on the primary (writable by named)' }),
    keyName: KeyName,
    algorithm: Type.Optional(TsigAlgorithmSchema),
    nameserver: Type.Optional(Type.String({ pattern: `^(${FQDN_PATTERN.slice(1, -1)})\\.?$`, maxLength: 254, description: 'the NS of every zone; default ns1.<zone>, with this address' })),
    secondaries: Type.Array(IpAddress, { maxItems: 16, default: [], description: 'informational for now' }),
  },
  { additionalProperties: false },
);

export const DnsServer = Type.Object({
  name: Type.String(), primary: Type.String(), address: Type.String(), port: Type.Integer(), rndcConf: Type.String(), zoneDir: Type.String(),
  keyName: Type.String(), algorithm: Type.String(), nameserver: Nullable(Type.String()), secondaries: Type.Array(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
});

export const ZoneStatusSchema = Type.Union([Type.Literal('pending'), Type.Literal('active'), Type.Literal('error'), Type.Literal('deleting')]);

export const DnsZone = Type.Object({
  name: Type.String(), server: Type.String(), ownerId: Type.String(), status: ZoneStatusSchema, statusMessage: Nullable(Type.String()),
  serial: Type.Union([Type.Integer(), Type.Null()]), appliedAt: Nullable(Type.String({ format: 'date-time' })),
  verifiedAt: Nullable(Type.String({ format: 'date-time' })), lastJobId: Nullable(Type.String()),
  createdAt: Type.String({ format: 'date-time' }), updatedAt: Type.String({ format: 'date-time' }),
});

/** Route parameter: ASCII (the CLI converts IDN), any case, optional trailing dot. */
export const ZoneParam = Type.String({ pattern: ZONE_PATTERN, maxLength: 253, description: 'zone name, lower-case (IDN as punycode)' });

export const RecordName = Type.String({ pattern: RECORD_NAME_PATTERN, maxLength: 254, description: '`@` for the apex, relative (`www`) or absolute with a trailing dot' });

export const DnsRecordInput = Type.Object(
  { name: RecordName, type: RecordTypeSchema, ttl: Type.Optional(Ttl), ...RecordValueFields },
  { additionalProperties: false },
);

/** One record (its fields at the top level) or a batch in `records`: one job, one UPDATE. */
export const DnsRecordsBody = Type.Object(
  {
    records: Type.Optional(Type.Array(DnsRecordInput, { minItems: 1, maxItems: 500 })),
    name: Type.Optional(RecordName),
    type: Type.Optional(RecordTypeSchema),
    ttl: Type.Optional(Ttl),
    ...RecordValueFields,
  },
  { additionalProperties: false },
);

export const DnsRecordPatch = Type.Object({ ttl: Type.Optional(Ttl), ...RecordValueFields }, { additionalProperties: false });

export const DnsRecord = Type.Object({
  id: Type.String(), zone: Type.String(), name: Type.String(), fqdn: Type.String(), type: Type.String(), ttl: Type.Integer(),
  rdata: Type.String({ description: 'the data as dig prints it' }),
  address: Type.Optional(Type.String()), target: Type.Optional(Type.String()), preference: Type.Optional(Type.Integer()),
  exchange: Type.Optional(Type.String()), text: Type.Optional(Type.String()), priority: Type.Optional(Type.Integer()),
  weight: Type.Optional(Type.Integer()), port: Type.Optional(Type.Integer()), flags: Type.Optional(Type.Integer()),
  tag: Type.Optional(Type.String()), value: Type.Optional(Type.String()),
  managedBy: Type.Union([
    Type.Object({ kind: Type.Union([Type.Literal('website'), Type.Literal('proxy')]), name: Type.String() }),
    Type.Null(),
  ], { description: 'the website or proxy group this record follows (change that, not the record); null: your own record' }),
  createdAt: Type.String({ format: 'date-time' }), updatedAt: Type.String({ format: 'date-time' }),
});

/** Zones are owned: lists and creates are scoped to the caller, item routes 404 on another user's zone. */
export const OWNED_ZONES = { kind: 'dnsZones', table: 'dns_zones' };
export const OWNED_ZONE = { ...OWNED_ZONES, idParam: 'zone', idColumn: 'name' };
