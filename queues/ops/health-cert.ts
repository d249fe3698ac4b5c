import { Type } from 'typebox';
import { ASCII_DOMAIN } from '../../lib/validate/web.ts';
import { HostRef } from '../host-ref.ts';
import { defineOperation } from '../operation.ts';
import { CERT_NAME } from './cert.ts';
import { CheckedResource, CheckResult, checkQueue } from './health.ts';
import { NginxLayout } from './proxy.ts';

const UUID = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

/** The repair is cert.renew, started by the health daemon through the renew route's planner. */
export const healthCheckCertificate = defineOperation({
  name: 'health.check.certificate',
  summary: "Is the member's certificate file valid now, the one recorded, served by its nginx, and not due for renewal?",
  payload: Type.Object(
    {
      resource: CheckedResource,
      host: HostRef,
      layout: NginxLayout,
      certificate: Type.Object(
        {
          id: Type.String({ pattern: UUID }),
          name: Type.String({ pattern: CERT_NAME }),
          /** The SNI name asked for (a wildcard certificate is asked for by its bare domain). */
          serverName: Type.String({ pattern: ASCII_DOMAIN, maxLength: 253 }),
          serial: Type.String({ pattern: '^[0-9a-f]{1,128}$' }),
          fingerprint: Type.String({ pattern: '^[0-9A-F]{2}(:[0-9A-F]{2}){31}$', description: 'SHA-256, as recorded' }),
          /** The row's version (updated_at, ms) these came from, echoed in the result's measurements. */
          recordedAt: Type.Integer({ minimum: 0 }),
        },
        { additionalProperties: false },
      ),
      renewBeforeDays: Type.Integer({ minimum: 0, maximum: 365 }),
    },
    { additionalProperties: false, $id: 'HealthCheckCertificatePayload' },
  ),
  result: CheckResult,
  retry: { maxAttempts: 1, tiersMs: [1_000] },
  timeoutMs: 30_000,
  concurrency: 32,
  queue: checkQueue,
});
