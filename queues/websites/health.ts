import { Type } from 'typebox';
import { HostRef } from '../host-ref.ts';
import { defineOperation } from '../operation.ts';
import { CheckedResource, defineCheck } from '../health/checks.ts';
import { NginxLayout } from '../proxies/ops.ts';
import { websiteApply, websiteDeploy, SITE_KEY } from './ops.ts';
import { UUID_PATTERN } from '../../lib/ids.ts';

export const healthCheckWebsite = defineCheck({
  name: 'health.check.website',
  summary: "Does this host hold the site's current vhost, and does the site answer through its nginx?",
  payload: Type.Object(
    {
      resource: CheckedResource,
      host: HostRef,
      layout: NginxLayout,
      site: Type.Object(
        {
          id: Type.String({ pattern: UUID_PATTERN }),
          key: Type.String({ pattern: SITE_KEY }),
          generation: Type.Integer({ minimum: 1 }),
          tempDomain: Type.String({ pattern: '^[a-z0-9.-]{1,253}$' }),
          content: Type.Optional(
            Type.Boolean({ description: 'content was deployed: an empty document root is a finding (content-missing)' }),
          ),
          app: Type.Optional(
            Type.Boolean({
              description: "the site is an app's: its 502 is the app's replicas not answering (app-down, the app's to alarm)",
            }),
          ),
        },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false, $id: 'HealthCheckWebsitePayload' },
  ),
});

/**
 * website.apply's message: re-apply the vhost, then give the document root back its owner and
 * mode; with `archive` (the check found the content missing), deploy the site's current archive first.
 */
export const healthRepairWebsite = defineOperation({
  name: 'health.repair.website',
  summary:
    "Re-apply a website's vhost on one host, deploy its current content again when the check found it missing, and restore its document root's owner and mode.",
  payload: Type.Object(
    { ...websiteApply.payload.properties, archive: Type.Optional(websiteDeploy.payload.properties.archive) },
    { additionalProperties: false, $id: 'HealthRepairWebsitePayload' },
  ),
  result: Type.Object(websiteApply.result.properties, { additionalProperties: false, $id: 'HealthRepairWebsiteResult' }),
  retry: { maxAttempts: 2, tiersMs: [2_000] },
  timeoutMs: 300_000,
  tenantView: websiteApply.tenantView,
});
