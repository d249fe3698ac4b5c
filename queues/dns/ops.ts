import { Type, type Static } from 'typebox';
import {
  ADDRESS_PATTERN,
  CAA_TAG_PATTERN,
  RECORD_TYPES,
  TEXT_PATTERN,
  TTL_MAX,
  TTL_MIN,
  TXT_MAX_BYTES,
  ZONE_PATTERN,
} from '../../lib/dns/validate.ts';
import { HostRef } from '../host-ref.ts';
import { HOST_RETRY, HostTarget } from '../hosts/common.ts';
import { defineOperation } from '../operation.ts';

const LABEL = '[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?';
/** An absolute name without the trailing dot, as stored and sent. */
export const FQDN_PATTERN = `^(\\*\\.)?(${LABEL}\\.)*${LABEL}$`;
export const KEY_NAME_PATTERN = '^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$';
/** Absolute; no segment starts with a dot, so no `..` and no hidden files. */
export const HOST_PATH_PATTERN = '^(/[A-Za-z0-9_][A-Za-z0-9._-]{0,63}){1,16}$';
export const TSIG_ALGORITHMS = ['hmac-sha256', 'hmac-sha512', 'hmac-sha384', 'hmac-sha224', 'hmac-sha1', 'hmac-md5'] as const;

export const ZoneName = Type.String({ pattern: ZONE_PATTERN, maxLength: 253, description: 'the zone, lower-case ASCII (IDN as punycode)' });
export const TsigAlgorithmSchema = Type.Enum([...TSIG_ALGORITHMS], { description: 'TSIG HMAC algorithm' });
export const IpAddress = Type.String({ pattern: ADDRESS_PATTERN, description: 'an IPv4 or IPv6 address' });
export const KeyName = Type.String({
  pattern: KEY_NAME_PATTERN,
  maxLength: 253,
  description: 'TSIG key name; its secret is the file of that name in UP_TSIG_KEYS_DIR',
});
export const HostPath = Type.String({ pattern: HOST_PATH_PATTERN, maxLength: 1024 });
const u16 = (description: string) => Type.Integer({ minimum: 0, maximum: 65535, description });

/** The per-type value fields: shared by the API's record input and the messages. */
export const RecordValueFields = {
  address: Type.Optional(Type.String({ pattern: ADDRESS_PATTERN, maxLength: 45, description: 'A, AAAA' })),
  target: Type.Optional(
    Type.String({
      pattern: `^(@|(${LABEL}\\.)*${LABEL}\\.?)$`,
      maxLength: 254,
      description: 'CNAME, NS, PTR, SRV: an absolute host name (`@` is the apex)',
    }),
  ),
  preference: Type.Optional(u16('MX preference')),
  exchange: Type.Optional(Type.String({ pattern: `^(@|(${LABEL}\\.)*${LABEL}\\.?)$`, maxLength: 254, description: 'MX: the mail host' })),
  text: Type.Optional(
    Type.String({
      pattern: TEXT_PATTERN,
      maxLength: TXT_MAX_BYTES,
      description: `TXT: any UTF-8 text up to ${TXT_MAX_BYTES} bytes (split into 255-byte strings on the wire)`,
    }),
  ),
  priority: Type.Optional(u16('SRV priority')),
  weight: Type.Optional(u16('SRV weight')),
  port: Type.Optional(u16('SRV port')),
  flags: Type.Optional(Type.Integer({ minimum: 0, maximum: 255, description: 'CAA flags: 0, or 128 (critical)' })),
  tag: Type.Optional(Type.String({ pattern: CAA_TAG_PATTERN, description: 'CAA tag: issue, issuewild, iodef' })),
  value: Type.Optional(Type.String({ pattern: TEXT_PATTERN, maxLength: 1024, description: 'CAA value' })),
};

export const RecordTypeSchema = Type.Enum([...RECORD_TYPES]);
export const Ttl = Type.Integer({ minimum: TTL_MIN, maximum: TTL_MAX, description: 'seconds' });

export const RecordSpecSchema = Type.Object(
  { name: Type.String({ pattern: FQDN_PATTERN, maxLength: 253 }), type: RecordTypeSchema, ttl: Ttl, ...RecordValueFields },
  { additionalProperties: false },
);
export type RecordSpecMessage = Static<typeof RecordSpecSchema>;

/** Where UPDATE and AXFR go, and which key signs them. */
const EndpointFields = {
  address: IpAddress,
  port: Type.Integer({ minimum: 1, maximum: 65535 }),
  keyName: KeyName,
  algorithm: TsigAlgorithmSchema,
};
const DnsEndpoint = Type.Object(EndpointFields, { additionalProperties: false });
export type DnsEndpoint = Static<typeof DnsEndpoint>;

/** A copy of HostRef without its `$id` (a payload is a schema component of its own). */
const PrimaryHost = Type.Object({ ...HostRef.properties }, { additionalProperties: false });

const ZoneServer = Type.Object(
  {
    ...EndpointFields,
    name: Type.String({ pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' }),
    primary: PrimaryHost,
    rndcConf: HostPath,
    zoneDir: HostPath,
    nameserver: Type.String({ pattern: FQDN_PATTERN, maxLength: 253, description: 'the NS of the zone' }),
  },
  { additionalProperties: false },
);
export type ZoneServer = Static<typeof ZoneServer>;

const DNS_RETRY = { maxAttempts: 5, tiersMs: [1_000, 5_000, 30_000] };

export const dnsZoneCreate = defineOperation({
  name: 'dns.zone.create',
  summary: 'Add a zone to its primary (rndc addzone) with a default SOA and NS, updatable with the TSIG key only.',
  payload: Type.Object(
    {
      zone: ZoneName,
      server: ZoneServer,
      records: Type.Optional(
        Type.Array(RecordSpecSchema, {
          maxItems: 2000,
          description: 'A/AAAA records the zone starts with: those kept for websites and proxy groups already there',
        }),
      ),
    },
    { additionalProperties: false, $id: 'DnsZoneCreatePayload' },
  ),
  result: Type.Object(
    { zone: Type.String(), created: Type.Boolean(), serial: Type.Integer() },
    { additionalProperties: false, $id: 'DnsZoneCreateResult' },
  ),
  retry: DNS_RETRY,
  tenantView: ({ zone, records }) => ({ zone, ...(records ? { records } : {}) }),
});

export const dnsZoneDelete = defineOperation({
  name: 'dns.zone.delete',
  summary: 'Remove a zone from its primary (rndc delzone -clean).',
  payload: Type.Object({ zone: ZoneName, server: ZoneServer }, { additionalProperties: false, $id: 'DnsZoneDeletePayload' }),
  result: Type.Object({ zone: Type.String(), deleted: Type.Boolean() }, { additionalProperties: false, $id: 'DnsZoneDeleteResult' }),
  retry: DNS_RETRY,
  tenantView: ({ zone }) => ({ zone }),
});

export const RecordChange = Type.Object(
  { op: Type.Union([Type.Literal('add'), Type.Literal('delete')]), record: RecordSpecSchema },
  { additionalProperties: false },
);
export type RecordChange = Static<typeof RecordChange>;

export const dnsRecordsApply = defineOperation({
  name: 'dns.records.apply',
  summary: 'Apply record changes to a zone in one TSIG-signed RFC 2136 UPDATE.',
  payload: Type.Object(
    { zone: ZoneName, server: DnsEndpoint, changes: Type.Array(RecordChange, { minItems: 1, maxItems: 1000 }) },
    { additionalProperties: false, $id: 'DnsRecordsApplyPayload' },
  ),
  result: Type.Object(
    { zone: Type.String(), changes: Type.Integer(), serial: Type.Integer(), transport: Type.String() },
    { additionalProperties: false, $id: 'DnsRecordsApplyResult' },
  ),
  retry: DNS_RETRY,
  tenantView: ({ zone, changes }) => ({ zone, changes }),
});

const Difference = Type.Object(
  { name: Type.String(), ttl: Type.Integer(), type: Type.String(), value: Type.String() },
  { additionalProperties: false },
);
export type Difference = Static<typeof Difference>;

export const dnsZoneVerify = defineOperation({
  name: 'dns.zone.verify',
  summary: 'Transfer the zone (signed AXFR), compare it with the expected records, and repair the differences on request.',
  payload: Type.Object(
    {
      zone: ZoneName,
      server: Type.Object(
        { ...EndpointFields, nameserver: Type.String({ pattern: FQDN_PATTERN, maxLength: 253 }) },
        { additionalProperties: false },
      ),
      expected: Type.Array(RecordSpecSchema, { maxItems: 20_000 }),
      repair: Type.Boolean(),
    },
    { additionalProperties: false, $id: 'DnsZoneVerifyPayload' },
  ),
  result: Type.Object(
    {
      zone: Type.String(),
      serial: Type.Integer(),
      missing: Type.Array(Difference),
      unexpected: Type.Array(Difference),
      repaired: Type.Boolean({ description: 'changes were applied (all of them unless `refused` says otherwise)' }),
      refused: Type.Optional(
        Type.Array(Difference, {
          description:
            "records of the repair the server refused (an integrity check): the rest was applied; PostgreSQL keeps them, the zone's status names them",
        }),
      ),
    },
    { additionalProperties: false, $id: 'DnsZoneVerifyResult' },
  ),
  retry: DNS_RETRY,
  tenantView: ({ zone, expected, repair }) => ({ zone, expected, repair }),
});

/**
 * BIND for dynamic zones on a `dns` host, from the DNS server that names the host its primary:
 * up's named.conf in `configDir` (the directory of `rndcConf`), the TSIG key, rndc, the zone directory.
 */
export const BindSetup = Type.Object(
  {
    configDir: HostPath,
    rndcConf: HostPath,
    zoneDir: HostPath,
    keyName: KeyName,
    algorithm: TsigAlgorithmSchema,
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    secondaries: Type.Array(IpAddress, { maxItems: 16 }),
  },
  { additionalProperties: false },
);
export type BindSetup = Static<typeof BindSetup>;

export const dnsServerSetup = defineOperation({
  name: 'dns.server.setup',
  summary:
    "Set BIND up on a DNS server's primary host (up's named.conf, TSIG and rndc keys, zone directory, named running); reports what changed.",
  payload: Type.Object({ host: HostTarget, bind: BindSetup }, { additionalProperties: false, $id: 'DnsServerSetupPayload' }),
  result: Type.Object(
    {
      configDir: Type.String(),
      changed: Type.Array(Type.String(), {
        description: 'what this run changed: files, the zone directory, named started or reconfigured',
      }),
    },
    { additionalProperties: false, $id: 'DnsServerSetupResult' },
  ),
  retry: HOST_RETRY,
});
