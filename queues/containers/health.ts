import { Type } from 'typebox';
import { UUID_PATTERN } from '../../lib/ids.ts';
import { CONTAINER_KEY } from '../../lib/validate/containers.ts';
import { CheckedResource, defineCheck } from '../health/checks.ts';
import { HostRef } from '../host-ref.ts';
import { defineOperation } from '../operation.ts';
import { containerApply, ContainerSpec } from './ops.ts';

export const healthCheckContainer = defineCheck({
  name: 'health.check.container',
  summary: 'Is the container there at its generation, in the state it should be, its healthcheck passing and its restarts not climbing?',
  payload: Type.Object(
    {
      resource: CheckedResource,
      host: HostRef,
      container: Type.Object(
        {
          id: Type.String({ pattern: UUID_PATTERN }),
          key: Type.String({ pattern: CONTAINER_KEY }),
          generation: Type.Integer({ minimum: 1 }),
          running: Type.Boolean(),
          healthcheck: Type.Boolean({ description: 'the spec has a healthcheck to run' }),
          restarts: Type.Integer({ minimum: 0, description: 'the restart count the last round saw: more now is a finding' }),
        },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false, $id: 'HealthCheckContainerPayload' },
  ),
});

/** Restart the container in place; when that does not bring it back, recreate it from its spec. */
export const healthRepairContainer = defineOperation({
  name: 'health.repair.container',
  summary: 'Restart a failing container; when it still is not running (or is missing or stale), recreate it from its stored spec.',
  payload: Type.Object({ host: HostRef, container: ContainerSpec }, { additionalProperties: false, $id: 'HealthRepairContainerPayload' }),
  result: Type.Object(
    {
      ...containerApply.result.properties,
      repair: Type.Union([Type.Literal('restarted'), Type.Literal('recreated'), Type.Literal('none')]),
    },
    { additionalProperties: false, $id: 'HealthRepairContainerResult' },
  ),
  retry: { maxAttempts: 2, tiersMs: [2_000] },
  timeoutMs: 300_000,
  tenantView: containerApply.tenantView,
});
