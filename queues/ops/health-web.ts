import { Type } from 'typebox';
import { HostRef } from '../host-ref.ts';
import { defineOperation } from '../operation.ts';
import { CheckedResource, CheckResult, checkQueue } from './health.ts';
import { proxyApply, NginxLayout } from './proxy.ts';
import { websiteApply, SITE_KEY } from './website.ts';

const UUID = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

export const healthCheckProxy = defineOperation({
  name: 'health.check.proxy',
  summary: "Is up's nginx on this member running, its configuration valid, and at the group's generation?",
  payload: Type.Object(
    { resource: CheckedResource, host: HostRef, layout: NginxLayout, generation: Type.Integer({ minimum: 1 }) },
    { additionalProperties: false, $id: 'HealthCheckProxyPayload' },
  ),
  result: CheckResult,
  retry: { maxAttempts: 1, tiersMs: [1_000] },
  timeoutMs: 30_000,
  concurrency: 32,
  queue: checkQueue,
});

/** The same message as proxy.apply: the repair is the apply, started by the health daemon. */
export const healthRepairProxy = defineOperation({
  name: 'health.repair.proxy',
  summary: "Re-apply a proxy group's base configuration on one member (starting nginx if it is stopped).",
  payload: Type.Object(proxyApply.payload.properties, { additionalProperties: false, $id: 'HealthRepairProxyPayload' }),
  result: Type.Object(proxyApply.result.properties, { additionalProperties: false, $id: 'HealthRepairProxyResult' }),
  retry: { maxAttempts: 2, tiersMs: [2_000] },
  timeoutMs: 120_000,
});

export const healthCheckWebsite = defineOperation({
  name: 'health.check.website',
  summary: "Does this host hold the site's current vhost, and does the site answer through its nginx?",
  payload: Type.Object(
    {
      resource: CheckedResource,
      host: HostRef,
      layout: NginxLayout,
      site: Type.Object(
        { id: Type.String({ pattern: UUID }), key: Type.String({ pattern: SITE_KEY }), generation: Type.Integer({ minimum: 1 }), tempDomain: Type.String({ pattern: '^[a-z0-9.-]{1,253}$' }) },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false, $id: 'HealthCheckWebsitePayload' },
  ),
  result: CheckResult,
  retry: { maxAttempts: 1, tiersMs: [1_000] },
  timeoutMs: 30_000,
  concurrency: 32,
  queue: checkQueue,
});

/** website.apply's message: re-apply the vhost, then give the document root back its owner and mode. */
export const healthRepairWebsite = defineOperation({
  name: 'health.repair.website',
  summary: "Re-apply a website's vhost on one host and restore its document root's owner and mode.",
  payload: Type.Object(websiteApply.payload.properties, { additionalProperties: false, $id: 'HealthRepairWebsitePayload' }),
  result: Type.Object(websiteApply.result.properties, { additionalProperties: false, $id: 'HealthRepairWebsiteResult' }),
  retry: { maxAttempts: 2, tiersMs: [2_000] },
  timeoutMs: 120_000,
});

export const healthWebOperations = [healthCheckProxy, healthRepairProxy, healthCheckWebsite, healthRepairWebsite];
