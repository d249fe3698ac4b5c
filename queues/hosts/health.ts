import { Type } from 'typebox';
import { HostRef } from '../host-ref.ts';
import { CheckedResource, defineCheck } from '../health/checks.ts';

export const healthCheckHost = defineCheck({
  name: 'health.check.host',
  summary: 'Is the host reachable over SSH, and are disk, memory and load under their thresholds?',
  payload: Type.Object(
    {
      resource: CheckedResource,
      host: HostRef,
      thresholds: Type.Object(
        {
          diskPercent: Type.Number({ minimum: 1, maximum: 100 }),
          memoryPercent: Type.Number({ minimum: 1, maximum: 100 }),
          loadPerCpu: Type.Number({ minimum: 0.1, maximum: 1000 }),
        },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false, $id: 'HealthCheckHostPayload' },
  ),
});
