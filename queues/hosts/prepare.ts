import { Type } from 'typebox';
import { defineOperation } from '../operation.ts';
import { HOST_RETRY, HostTarget, PACKAGE_NAME_PATTERN } from './common.ts';

/** The directories `up` keeps on every host it manages, with their modes (the lock directory among them). */
export const UP_DIRECTORIES: Readonly<Record<string, string>> = { '/etc/up': '0750', '/var/lib/up': '0750', '/var/lock/up': '0755' };

const Packages = Type.Array(Type.String({ pattern: PACKAGE_NAME_PATTERN }));

export const hostPrepare = defineOperation({
  name: 'host.prepare',
  summary: "Install the packages of the host's roles that are missing and create the directories up uses; reports what changed.",
  // Version 2: the gateway sends the packages (each role's domain declares its own), and a
  // role's set-up (BIND for `dns`) is a job of that domain, planned once this one succeeded.
  version: 2,
  payload: Type.Object(
    { host: HostTarget, packages: Type.Array(Type.String({ pattern: PACKAGE_NAME_PATTERN }), { maxItems: 100, uniqueItems: true }) },
    { additionalProperties: false, $id: 'HostPreparePayload' },
  ),
  result: Type.Object(
    {
      changed: Type.Boolean({ description: 'false when the host already had everything' }),
      packages: Type.Object({ installed: Packages, present: Packages }),
      directories: Type.Object({ created: Type.Array(Type.String()), present: Type.Array(Type.String()) }),
    },
    { additionalProperties: false, $id: 'HostPrepareResult' },
  ),
  retry: HOST_RETRY,
  // apt on a slow mirror; still well under the broker's 30-minute consumer timeout.
  timeoutMs: 20 * 60_000,
});
