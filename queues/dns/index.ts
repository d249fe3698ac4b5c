import type { Operation } from '../operation.ts';
import { dnsServerSetup, dnsZoneCreate, dnsZoneDelete, dnsRecordsApply, dnsZoneVerify } from './ops.ts';
import { healthCheckDnsZone } from './health.ts';

/** The operations of the dns domain. */
export const dnsOperations: readonly Operation[] = [
  dnsZoneCreate,
  dnsZoneDelete,
  dnsRecordsApply,
  dnsZoneVerify,
  healthCheckDnsZone,
  dnsServerSetup,
];
