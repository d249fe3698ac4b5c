import { Type, type Static } from 'typebox';
import { defineOperation } from '../operation.ts';
import { HOST_RETRY, HostRoleSchema, HostTarget, PACKAGE_NAME_PATTERN } from './host-common.ts';
import { HostPath, IpAddress, KeyName, TsigAlgorithmSchema } from './dns.ts';

/** The directories `up` keeps on every host it manages, with their modes (the lock directory among them). */
export const UP_DIRECTORIES: Readonly<Record<string, string>> = { '/etc/up': '0750', '/var/lib/up': '0750', '/var/lock/up': '0755' };

const Packages = Type.Array(Type.String({ pattern: PACKAGE_NAME_PATTERN }));

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

export const hostPrepare = defineOperation({
  name: 'host.prepare',
  summary: 'Install the packages of the host\'s roles that are missing and create the directories up uses; reports what changed.',
  payload: Type.Object(
    { host: HostTarget, roles: Type.Array(HostRoleSchema, { maxItems: 8, uniqueItems: true }), bind: Type.Optional(BindSetup) },
    { additionalProperties: false, $id: 'HostPreparePayload' },
  ),
  result: Type.Object(
    {
      changed: Type.Boolean({ description: 'false when the host already had everything' }),
      packages: Type.Object({ installed: Packages, present: Packages }),
      directories: Type.Object({ created: Type.Array(Type.String()), present: Type.Array(Type.String()) }),
      bind: Type.Optional(Type.Object({
        configDir: Type.String(),
        changed: Type.Array(Type.String(), { description: 'what this run changed: files, the zone directory, named started or reconfigured' }),
      })),
    },
    { additionalProperties: false, $id: 'HostPrepareResult' },
  ),
  retry: HOST_RETRY,
  // apt on a slow mirror; still well under the broker's 30-minute consumer timeout.
  timeoutMs: 20 * 60_000,
});
