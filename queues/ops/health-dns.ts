import { Type } from 'typebox';
import { defineOperation } from '../operation.ts';
import { dnsZoneVerify } from './dns.ts';
import { CheckedResource, CheckResult, checkQueue } from './health.ts';

const { zone, server, expected } = dnsZoneVerify.payload.properties;

/** dns.zone.verify's comparison as a check (no repair: that is dns.zone.verify with `repair`, a job). */
export const healthCheckDnsZone = defineOperation({
  name: 'health.check.dns-zone',
  summary: 'Does the server serve the zone as PostgreSQL has it (signed AXFR compared with its records)?',
  payload: Type.Object({ resource: CheckedResource, zone, server, expected }, { additionalProperties: false, $id: 'HealthCheckDnsZonePayload' }),
  result: CheckResult,
  retry: { maxAttempts: 1, tiersMs: [1_000] },
  timeoutMs: 60_000,
  concurrency: 16,
  queue: checkQueue,
});
