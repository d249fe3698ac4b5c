import { Type } from 'typebox';
import { HostRef } from '../host-ref.ts';
import { defineOperation } from '../operation.ts';
import { CheckedResource, defineCheck } from '../health/checks.ts';
import { NginxLayout, proxyApply } from './ops.ts';

export const healthCheckProxy = defineCheck({
  name: 'health.check.proxy',
  summary: "Is up's nginx on this member running, its configuration valid, and at the group's generation?",
  payload: Type.Object(
    { resource: CheckedResource, host: HostRef, layout: NginxLayout, generation: Type.Integer({ minimum: 1 }) },
    { additionalProperties: false, $id: 'HealthCheckProxyPayload' },
  ),
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
