import { Type } from 'typebox';
import { defineOperation } from '../operation.ts';
import { dnsZoneVerify } from './ops.ts';
import { CheckedResource, defineCheck } from '../health/checks.ts';

const { zone, server, expected } = dnsZoneVerify.payload.properties;

/** dns.zone.verify's comparison as a check (no repair: that is dns.zone.verify with `repair`, a job). */
export const healthCheckDnsZone = defineCheck({
  name: 'health.check.dns-zone',
  summary: 'Does the server serve the zone as PostgreSQL has it (signed AXFR compared with its records)?',
  payload: Type.Object(
    { resource: CheckedResource, zone, server, expected },
    { additionalProperties: false, $id: 'HealthCheckDnsZonePayload' },
  ),
  timeoutMs: 60_000,
  concurrency: 16,
});
