import { Type } from 'typebox';
import { HostRef } from '../host-ref.ts';
import { defineOperation } from '../operation.ts';
import { CheckedResource, defineCheck } from '../health/checks.ts';

const ABSOLUTE_PATH = '^/[A-Za-z0-9._/-]{0,250}$';

/** Where a host's tenants keep files: homes named `up-<tenant>` under `homes`, and site document roots. */
export const ScannedDirs = Type.Object(
  {
    homes: Type.String({ pattern: ABSOLUTE_PATH, description: 'the directory holding the tenant homes (up-*)' }),
    docRoots: Type.Array(Type.String({ pattern: ABSOLUTE_PATH }), { maxItems: 50, description: "proxy base dirs' www directories" }),
  },
  { additionalProperties: false },
);

export const healthCheckSecurity = defineCheck({
  name: 'health.check.security',
  summary:
    'Failed SSH logins per source, failed mail logins per account, unexplained listening ports, unsafe files of tenants, pending security updates: one round trip.',
  payload: Type.Object(
    {
      resource: CheckedResource,
      host: HostRef,
      authLog: Type.Union([Type.String({ pattern: ABSOLUTE_PATH }), Type.Null()], {
        description: 'a file; null: the journal, else /var/log/auth.log',
      }),
      windowMinutes: Type.Integer({ minimum: 1, maximum: 10_080 }),
      failedLogins: Type.Integer({
        minimum: 1,
        maximum: 1_000_000,
        description: 'failed logins from one source within the window that raise the problem',
      }),
      mailAuth: Type.Optional(
        Type.Union(
          [
            Type.Object(
              {
                log: Type.String({ pattern: ABSOLUTE_PATH, description: "dovecot's log (its auth_verbose lines)" }),
                windowMinutes: Type.Integer({ minimum: 1, maximum: 10_080 }),
                failedLogins: Type.Integer({
                  minimum: 1,
                  maximum: 1_000_000,
                  description: 'failed logins (IMAP or SMTP AUTH) of one mail account within the window that raise the problem',
                }),
              },
              { additionalProperties: false },
            ),
            Type.Null(),
          ],
          { description: 'a mail host: failed logins per mail account; null or absent: not a mail host' },
        ),
      ),
      allowedPorts: Type.Array(Type.Integer({ minimum: 1, maximum: 65535 }), { maxItems: 1000 }),
      dirs: ScannedDirs,
      securityUpdates: Type.Union([Type.Integer({ minimum: 0, maximum: 100_000 }), Type.Null()], {
        description: 'pending security updates above this are a problem; null: not checked',
      }),
    },
    { additionalProperties: false, $id: 'HealthCheckSecurityPayload' },
  ),
  timeoutMs: 60_000,
  concurrency: 16,
});

export const healthRepairSecurity = defineOperation({
  name: 'health.repair.security',
  summary: 'Take the write bit for others off every file in tenant homes and document roots.',
  payload: Type.Object({ host: HostRef, dirs: ScannedDirs }, { additionalProperties: false, $id: 'HealthRepairSecurityPayload' }),
  result: Type.Object(
    { host: Type.String(), fixed: Type.Integer({ description: 'files whose mode changed' }) },
    { additionalProperties: false, $id: 'HealthRepairSecurityResult' },
  ),
  retry: { maxAttempts: 2, tiersMs: [2_000] },
  timeoutMs: 120_000,
});
