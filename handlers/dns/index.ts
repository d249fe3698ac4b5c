import type { Handler } from '../runtime/define.ts';
import healthCheckDnsZone from './health.check.dns-zone/handler.ts';
import dnsRecordsApply from './dns.records.apply/handler.ts';
import dnsZoneCreate from './dns.zone.create/handler.ts';
import dnsZoneDelete from './dns.zone.delete/handler.ts';
import dnsZoneVerify from './dns.zone.verify/handler.ts';
import dnsServerSetup from './dns.server.setup/handler.ts';

/** The handlers of the dns domain, one per operation. */
export const dnsHandlers: readonly Handler[] = [
  healthCheckDnsZone,
  dnsRecordsApply,
  dnsZoneCreate,
  dnsZoneDelete,
  dnsZoneVerify,
  dnsServerSetup,
];
