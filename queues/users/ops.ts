import { Type } from 'typebox';
import { defineOperation } from '../operation.ts';
import { HostRef } from '../host-ref.ts';
import { hostName } from '../tenant-view.ts';

/** The tenant's name; on hosts it is the Unix user and group `up-<name>`. Same pattern as the API's user names. */
export const TENANT_NAME_PATTERN = '^[a-z][a-z0-9]{1,30}$';

const SubidRange = Type.Object(
  {
    start: Type.Integer({ minimum: 100_000, maximum: 4_294_901_759, description: 'first subordinate uid/gid' }),
    count: Type.Literal(65536),
  },
  { additionalProperties: false },
);

const TenantOnHost = {
  host: HostRef,
  tenant: Type.String({ pattern: TENANT_NAME_PATTERN, description: 'the user name; the Unix user is up-<tenant>' }),
};

export const tenantProvision = defineOperation({
  name: 'tenant.provision',
  summary: "Create the tenant's Unix user up-<name> on a host: locked password, own group, home 0750, subordinate uid/gid range.",
  payload: Type.Object({ ...TenantOnHost, uidRange: Type.Optional(SubidRange) }, { additionalProperties: false }),
  result: Type.Object(
    {
      user: Type.String(),
      uid: Type.Integer(),
      gid: Type.Integer(),
      home: Type.String(),
      subuid: Type.Object({ start: Type.Integer(), count: Type.Integer() }),
      subgid: Type.Object({ start: Type.Integer(), count: Type.Integer() }),
      changed: Type.Boolean({ description: 'false when the host already matched' }),
    },
    { additionalProperties: false, $id: 'TenantProvisionResult' },
  ),
  retry: { maxAttempts: 5, tiersMs: [1_000, 5_000, 30_000] },
  timeoutMs: 60_000,
  tenantView: ({ host, tenant }) => ({ host: hostName(host), tenant }),
});

export const tenantDeprovision = defineOperation({
  name: 'tenant.deprovision',
  summary: "Remove the tenant's Unix user, group, home and subordinate ranges from a host (its processes are stopped).",
  payload: Type.Object(TenantOnHost, { additionalProperties: false }),
  result: Type.Object({ user: Type.String(), changed: Type.Boolean() }, { additionalProperties: false, $id: 'TenantDeprovisionResult' }),
  retry: { maxAttempts: 5, tiersMs: [1_000, 5_000, 30_000] },
  timeoutMs: 60_000,
  tenantView: ({ host, tenant }) => ({ host: hostName(host), tenant }),
});

export const unixUserOf = (tenant: string) => `up-${tenant}`;
