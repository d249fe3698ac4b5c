import { Type, type Static } from 'typebox';
import type { HostRow } from './store.ts';
import { ADDRESS_PATTERN, HOST_NAME_PATTERN } from '../../queues/host-ref.ts';
import { HOST_ROLE_PATTERN } from '../../queues/hosts/common.ts';
import { HostFacts } from '../../queues/hosts/probe.ts';

export const FINGERPRINT_PATTERN = '^SHA256:[A-Za-z0-9+/]{43}$';
const LABEL_KEY = '^[a-z0-9]([a-z0-9._/-]{0,61}[a-z0-9])?$';
// `/` and `,` for paths and lists (health.auth-log, health.allowed-ports); values are data, never shell.
const LABEL_VALUE = '^[A-Za-z0-9._/,-]{0,63}$';
export const LabelKey = Type.String({ pattern: LABEL_KEY });

export const HostName = Type.String({
  pattern: HOST_NAME_PATTERN,
  maxLength: 63,
  description: 'lowercase letters, digits and inner hyphens',
});
export const HostAddress = Type.String({ pattern: ADDRESS_PATTERN, maxLength: 253, description: 'an IPv4/IPv6 address or a DNS name' });
export const SshPort = Type.Integer({ minimum: 1, maximum: 65535 });
export const SSH_USER_PATTERN = '^[a-z_][a-z0-9_-]{0,31}$';
export const Fingerprint = Type.String({
  pattern: FINGERPRINT_PATTERN,
  description: 'the host key fingerprint, as `ssh-keygen -lf` prints it',
});
/** Roles come from the domains (each declares its own); the routes check them against that list. */
export const Roles = Type.Array(Type.String({ pattern: HOST_ROLE_PATTERN }), {
  maxItems: 8,
  uniqueItems: true,
  description: 'what the host is for: each role brings the packages host.prepare installs and its set-up',
});
export const Labels = Type.Record(Type.String({ pattern: LABEL_KEY }), Type.String({ pattern: LABEL_VALUE }), {
  additionalProperties: false,
  maxProperties: 64,
  description: `keys ${LABEL_KEY}, values ${LABEL_VALUE}`,
});
export const Capacity = Type.Object(
  {
    cpu: Type.Optional(Type.Integer({ minimum: 1, maximum: 4096 })),
    memoryMb: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 * 1024 * 1024 })),
    diskGb: Type.Optional(Type.Integer({ minimum: 1, maximum: 1024 * 1024 })),
  },
  { additionalProperties: false },
);

export const Host = Type.Object(
  {
    name: Type.String(),
    address: Type.String(),
    port: Type.Integer(),
    user: Type.String(),
    hostKeySha256: Type.String(),
    jumpHost: Type.Union([Type.String(), Type.Null()]),
    local: Type.Boolean(),
    roles: Type.Array(Type.String()),
    labels: Type.Record(Type.String(), Type.String()),
    capacity: Type.Object({
      cpu: Type.Optional(Type.Integer()),
      memoryMb: Type.Optional(Type.Integer()),
      diskGb: Type.Optional(Type.Integer()),
    }),
    maintenance: Type.Boolean(),
    facts: Type.Union([Type.Ref('HostFacts'), Type.Null()], { description: 'what the last successful host.probe found' }),
    factsAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  {
    $id: 'Host',
    examples: [
      {
        name: 'web1',
        address: '192.0.2.10',
        port: 22,
        user: 'root',
        hostKeySha256: 'SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8',
        jumpHost: null,
        local: false,
        roles: ['web'],
        labels: { site: 'ams1' },
        capacity: { cpu: 4, memoryMb: 8192, diskGb: 160 },
        maintenance: false,
        facts: null,
        factsAt: null,
        createdAt: '2026-12-01T09:00:00.000Z',
        updatedAt: '2026-12-05T10:00:00.000Z',
      },
    ],
  },
);

/**
 * The body of createHost. Inline, not a component: generated clients make a component's fields
 * with a default required (openapi-typescript's defaultNonNullable), and port and user have one.
 */
export const HostCreate = Type.Object(
  {
    name: HostName,
    address: HostAddress,
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 22 }),
    user: Type.String({ pattern: SSH_USER_PATTERN, default: 'root' }),
    hostKeySha256: Fingerprint,
    roles: Type.Optional(Roles),
    labels: Type.Optional(Labels),
    capacity: Type.Optional(Capacity),
    jumpHost: Type.Optional(HostName),
  },
  {
    additionalProperties: false,
    examples: [
      {
        name: 'web1',
        address: '192.0.2.10',
        hostKeySha256: 'SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8',
        roles: ['web'],
        labels: { site: 'ams1' },
      },
    ],
  },
);

/** API components the host routes refer to by name; the gateway registers them. */
export const hostSchemas = [HostFacts, Host];

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());
const json = <T>(value: T | string): T => (typeof value === 'string' ? (JSON.parse(value) as T) : value);

/** A host row as the API shows it. */
export function hostView(host: HostRow) {
  return {
    name: host.name,
    address: host.address,
    port: host.port,
    user: host.ssh_user,
    hostKeySha256: host.host_key_sha256,
    jumpHost: host.jump_host,
    local: host.local,
    roles: host.roles,
    labels: json<Record<string, string>>(host.labels),
    capacity: json<Record<string, number>>(host.capacity),
    maintenance: host.maintenance,
    facts: host.facts === null ? null : json(host.facts as unknown as Static<typeof HostFacts>),
    factsAt: iso(host.facts_at),
    createdAt: iso(host.created_at)!,
    updatedAt: iso(host.updated_at)!,
  };
}
