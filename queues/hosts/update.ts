import { Type } from 'typebox';
import { defineOperation } from '../operation.ts';
import { HOST_RETRY, HostTarget, PACKAGE_NAME_PATTERN } from './common.ts';

export const PendingUpdate = Type.Object(
  {
    name: Type.String({ pattern: PACKAGE_NAME_PATTERN }),
    from: Type.Union([Type.String(), Type.Null()], { description: 'the installed version' }),
    to: Type.String({ description: 'the candidate version' }),
    origin: Type.String({ description: 'the archive(s) the candidate comes from, e.g. bookworm-security' }),
    security: Type.Boolean(),
  },
  { additionalProperties: false },
);

export const hostUpdate = defineOperation({
  name: 'host.update',
  summary: 'List pending package updates (security ones marked) and, with apply, install them; reports what was upgraded.',
  payload: Type.Object(
    {
      host: HostTarget,
      apply: Type.Boolean({ description: 'install the pending updates (apt-get upgrade)' }),
      refresh: Type.Optional(Type.Boolean({ description: 'run apt-get update first' })),
    },
    { additionalProperties: false, $id: 'HostUpdatePayload' },
  ),
  result: Type.Object(
    {
      pending: Type.Array(PendingUpdate, { description: 'updates pending before this run' }),
      applied: Type.Boolean(),
      upgraded: Type.Array(PendingUpdate, { description: 'what this run upgraded (empty unless applied)' }),
    },
    { additionalProperties: false, $id: 'HostUpdateResult' },
  ),
  retry: HOST_RETRY,
  timeoutMs: 20 * 60_000,
});
