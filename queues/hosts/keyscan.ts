import { Type } from 'typebox';
import { ADDRESS_PATTERN, HostRef } from '../host-ref.ts';
import { defineOperation } from '../operation.ts';
import { HOST_RETRY } from './common.ts';

const { name, address, port, user, hostKeySha256 } = HostRef.properties;

/** Fetches the key a host offers, so that an admin can pin it when adding the host. */
export const hostKeyscan = defineOperation({
  name: 'host.keyscan',
  summary: 'Fetch the SSH host key fingerprint a host offers (directly or through a jump host), without logging in.',
  payload: Type.Object(
    {
      address: Type.String({ pattern: ADDRESS_PATTERN, maxLength: 253 }),
      port: Type.Integer({ minimum: 1, maximum: 65535 }),
      jump: Type.Optional(Type.Object({ name, address, port, user, hostKeySha256 }, { additionalProperties: false })),
    },
    { additionalProperties: false, $id: 'HostKeyscanPayload' },
  ),
  result: Type.Object(
    { hostKeySha256: Type.String({ pattern: '^SHA256:[A-Za-z0-9+/]{43}$' }) },
    { additionalProperties: false, $id: 'HostKeyscanResult' },
  ),
  retry: HOST_RETRY,
  timeoutMs: 30_000,
});
