import { Type, type Static } from 'typebox';

const HOST_NAME = '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$';
/** An IPv4/IPv6 address or a DNS name: validated before it reaches any connection. */
const ADDRESS =
  '^([0-9]{1,3}(\\.[0-9]{1,3}){3}|[0-9a-fA-F:]{2,39}|[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*)$';

const HopFields = {
  name: Type.String({ pattern: HOST_NAME, maxLength: 63 }),
  address: Type.String({ pattern: ADDRESS, maxLength: 253 }),
  port: Type.Integer({ minimum: 1, maximum: 65535 }),
  user: Type.String({ pattern: '^[a-z_][a-z0-9_-]{0,31}$' }),
  hostKeySha256: Type.String({ pattern: '^SHA256:[A-Za-z0-9+/]{43}=?$', description: 'the pinned host key fingerprint' }),
};

/**
 * How a handler reaches a host: a snapshot taken by the gateway when the job is accepted,
 * so handlers never read the inventory. The private key is the handler's own (UP_SSH_KEY_FILE).
 * `local: true` is "this machine", run without SSH (the embedded default's first host).
 */
export const HostRef = Type.Object(
  {
    ...HopFields,
    local: Type.Optional(Type.Boolean()),
    jump: Type.Optional(Type.Object(HopFields, { additionalProperties: false })),
  },
  { additionalProperties: false, $id: 'HostRef' },
);
export type HostRef = Static<typeof HostRef>;

export const HOST_NAME_PATTERN = HOST_NAME;
export const ADDRESS_PATTERN = ADDRESS;
