import { Type } from 'typebox';
import { ASCII_DOMAIN } from '../../lib/validate/web.ts';
import { HostRef } from '../host-ref.ts';
import { defineOperation } from '../operation.ts';
import { CERT_NAME } from './ops.ts';
import { CheckedResource, defineCheck } from '../health/checks.ts';
import { NginxLayout } from '../proxies/ops.ts';
import { UUID_PATTERN } from '../../lib/ids.ts';

/** The repair is cert.renew, started by the health daemon through the renew route's planner. */
export const healthCheckCertificate = defineCheck({
  name: 'health.check.certificate',
  summary: "Is the member's certificate file valid now, the one recorded, served by its nginx, and not due for renewal?",
  payload: Type.Object(
    {
      resource: CheckedResource,
      host: HostRef,
      layout: NginxLayout,
      certificate: Type.Object(
        {
          id: Type.String({ pattern: UUID_PATTERN }),
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
});
