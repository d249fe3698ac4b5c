/** API shapes of the DNS routes; the value fields are the messages' own (queues/ops/dns.ts). */
import { Type } from 'typebox';
import {
  FQDN_PATTERN,
  HostPath,
  IpAddress,
  KeyName,
  RecordTypeSchema,
  RecordValueFields,
  TsigAlgorithmSchema,
  Ttl,
} from '../../queues/dns/ops.ts';
import { RECORD_NAME_PATTERN, ZONE_PATTERN } from '../../lib/dns/validate.ts';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);
export const SERVER_NAME_PATTERN = '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$';

export const DnsServerInput = Type.Object(
  {
    name: Type.String({ pattern: SERVER_NAME_PATTERN, description: 'what zones and the CLI call it' }),
    primary: Type.String({
      pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$',
      description: 'the host (by name) that runs the primary; rndc runs there',
    }),
    address: IpAddress,
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 53, description: 'where it takes UPDATE and AXFR' }),
    rndcConf: Type.String({ ...HostPath, default: '/etc/bind/rndc.conf', description: 'rndc.conf on the primary' }),
    zoneDir: Type.String({ ...HostPath, default: '/var/lib/bind', description: 'where zone files go on the primary (writable by named)' }),
    keyName: KeyName,
    algorithm: Type.Optional(TsigAlgorithmSchema),
    nameserver: Type.Optional(
      Type.String({
        pattern: `^(${FQDN_PATTERN.slice(1, -1)})\\.?$`,
        maxLength: 254,
        description: 'the NS of every zone; default ns1.<zone>, with this address',
      }),
    ),
    secondaries: Type.Array(IpAddress, { maxItems: 16, default: [], description: 'informational for now' }),
  },
  {
    additionalProperties: false,
    examples: [
      {
        name: 'ns',
        primary: 'dns1',
        address: '192.0.2.53',
        keyName: 'up-update',
        algorithm: 'hmac-sha256',
        nameserver: 'ns1.example.net',
        secondaries: ['198.51.100.53'],
      },
    ],
  },
);

export const DnsServer = Type.Object(
  {
    name: Type.String(),
    primary: Type.String(),
    address: Type.String(),
    port: Type.Integer(),
    rndcConf: Type.String(),
    zoneDir: Type.String(),
    keyName: Type.String(),
    algorithm: Type.String(),
    nameserver: Nullable(Type.String()),
    secondaries: Type.Array(Type.String()),
    createdAt: Type.String({ format: 'date-time' }),
  },
  {
    examples: [
      {
        name: 'ns',
        primary: 'dns1',
        address: '192.0.2.53',
        port: 53,
        rndcConf: '/etc/bind/rndc.conf',
        zoneDir: '/var/lib/bind',
        keyName: 'up-update',
        algorithm: 'hmac-sha256',
        nameserver: 'ns1.example.net',
        secondaries: ['198.51.100.53'],
        createdAt: '2026-12-01T09:00:00.000Z',
      },
    ],
  },
);

export const ZoneStatusSchema = Type.Union([
  Type.Literal('pending'),
  Type.Literal('active'),
  Type.Literal('error'),
  Type.Literal('deleting'),
]);

export const DnsZone = Type.Object(
  {
    name: Type.String(),
    server: Type.String(),
    ownerId: Type.String(),
    status: ZoneStatusSchema,
    statusMessage: Nullable(Type.String()),
    serial: Type.Union([Type.Integer(), Type.Null()]),
    appliedAt: Nullable(Type.String({ format: 'date-time' })),
    verifiedAt: Nullable(Type.String({ format: 'date-time' })),
    lastJobId: Nullable(Type.String()),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  {
    examples: [
      {
        name: 'example.net',
        server: 'ns',
        ownerId: '0193a5c0-1f2e-7a3b-8c4d-5e6f7a8b9c0d',
        status: 'active',
        statusMessage: null,
        serial: 2026120501,
        appliedAt: '2026-12-05T10:00:00.000Z',
        verifiedAt: '2026-12-05T10:05:00.000Z',
        lastJobId: '0193a5c3-4b5c-7d6e-8f70-8192a3b4c5d6',
        createdAt: '2026-12-01T09:00:00.000Z',
        updatedAt: '2026-12-05T10:00:00.000Z',
      },
    ],
  },
);

/** Route parameter: ASCII (the CLI converts IDN), any case, optional trailing dot. */
export const ZoneParam = Type.String({ pattern: ZONE_PATTERN, maxLength: 253, description: 'zone name, lower-case (IDN as punycode)' });

export const RecordName = Type.String({
  pattern: RECORD_NAME_PATTERN,
  maxLength: 254,
  description: '`@` for the apex, relative (`www`) or absolute with a trailing dot',
});

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
  {
    additionalProperties: false,
    examples: [
      {
        records: [
          { name: 'www', type: 'A', address: '192.0.2.10' },
          { name: '@', type: 'MX', preference: 10, exchange: 'mail.example.net.' },
          { name: '@', type: 'TXT', text: 'v=spf1 mx -all' },
        ],
      },
    ],
  },
);

export const DnsRecordPatch = Type.Object(
  { ttl: Type.Optional(Ttl), ...RecordValueFields },
  { additionalProperties: false, examples: [{ ttl: 300, address: '192.0.2.11' }] },
);

export const DnsRecord = Type.Object(
  {
    id: Type.String(),
    zone: Type.String(),
    name: Type.String(),
    fqdn: Type.String(),
    type: Type.String(),
    ttl: Type.Integer(),
    rdata: Type.String({ description: 'the data as dig prints it' }),
    address: Type.Optional(Type.String()),
    target: Type.Optional(Type.String()),
    preference: Type.Optional(Type.Integer()),
    exchange: Type.Optional(Type.String()),
    text: Type.Optional(Type.String()),
    priority: Type.Optional(Type.Integer()),
    weight: Type.Optional(Type.Integer()),
    port: Type.Optional(Type.Integer()),
    flags: Type.Optional(Type.Integer()),
    tag: Type.Optional(Type.String()),
    value: Type.Optional(Type.String()),
    managedBy: Type.Union(
      [
        Type.Object({
          kind: Type.String({
            description: 'the kind of resource that keeps the record (website, proxy, …: each domain declares its own)',
          }),
          name: Type.String(),
        }),
        Type.Null(),
      ],
      { description: 'the website or proxy group this record follows (change that, not the record); null: your own record' },
    ),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  {
    examples: [
      {
        id: '0193a5c4-5c6d-7e7f-8091-a2b3c4d5e6f7',
        zone: 'example.net',
        name: 'www',
        fqdn: 'www.example.net.',
        type: 'A',
        ttl: 3600,
        rdata: '192.0.2.10',
        address: '192.0.2.10',
        managedBy: { kind: 'website', name: 'www' },
        createdAt: '2026-12-01T09:00:00.000Z',
        updatedAt: '2026-12-05T10:00:00.000Z',
      },
    ],
  },
);

/** Zones are owned: lists and creates are scoped to the caller, item routes 404 on another user's zone. */
export const OWNED_ZONES = { kind: 'dnsZones', table: 'dns_zones' };
export const OWNED_ZONE = { ...OWNED_ZONES, idParam: 'zone', idColumn: 'name' };
