import { Type } from 'typebox';
import { HostRef } from '../host-ref.ts';
import { defineOperation } from '../operation.ts';
import { CheckedResource, defineCheck } from '../health/checks.ts';
import { hostName } from '../tenant-view.ts';
import { MailLayout, mailApply } from './ops.ts';

/** More mail waiting than this on a host is a problem (it is not leaving, or being refused). */
export const MAIL_QUEUE_MAX = 500;

export const healthCheckMailHost = defineCheck({
  name: 'health.check.mail-host',
  summary:
    "Are postfix, dovecot and opendkim running, do 25, 587 and 993 answer with TLS and the installed certificate, does the host's probe mailbox log in over IMAPS, is the queue short, are the maps those up wrote at the current generation?",
  payload: Type.Object(
    {
      resource: CheckedResource,
      host: HostRef,
      layout: MailLayout,
      generation: Type.Integer({ minimum: 1 }),
      queueMax: Type.Integer({ minimum: 1 }),
    },
    { additionalProperties: false, $id: 'HealthCheckMailHostPayload' },
  ),
});

/** The same message as mail.apply: the repair re-renders everything and starts what is stopped. */
export const healthRepairMailHost = defineOperation({
  name: 'health.repair.mail-host',
  summary: "Re-apply a mail host's configuration and maps from PostgreSQL, starting postfix, dovecot and opendkim if they are stopped.",
  payload: Type.Object(mailApply.payload.properties, { additionalProperties: false, $id: 'HealthRepairMailHostPayload' }),
  result: Type.Object(mailApply.result.properties, { additionalProperties: false, $id: 'HealthRepairMailHostResult' }),
  retry: { maxAttempts: 2, tiersMs: [2_000] },
  timeoutMs: 120_000,
  tenantView: ({ host, generation }) => ({ host: hostName(host), generation }),
});
