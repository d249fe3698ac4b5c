import type { Handler } from './define.ts';
import hostKeyscan from './host.keyscan/handler.ts';
import hostPrepare from './host.prepare/handler.ts';
import hostProbe from './host.probe/handler.ts';
import hostUpdate from './host.update/handler.ts';
import systemPing from './system.ping/handler.ts';
import healthCheckHost from './health.check.host/handler.ts';
import healthCheckProxy from './health.check.proxy/handler.ts';
import healthRepairProxy from './health.repair.proxy/handler.ts';
import healthCheckWebsite from './health.check.website/handler.ts';
import healthRepairWebsite from './health.repair.website/handler.ts';
import healthCheckSecurity from './health.check.security/handler.ts';
import healthRepairSecurity from './health.repair.security/handler.ts';
import healthCheckDnsZone from './health.check.dns-zone/handler.ts';
import dnsRecordsApply from './dns.records.apply/handler.ts';
import dnsZoneCreate from './dns.zone.create/handler.ts';
import dnsZoneDelete from './dns.zone.delete/handler.ts';
import dnsZoneVerify from './dns.zone.verify/handler.ts';
import tenantDeprovision from './tenant.deprovision/handler.ts';
import tenantProvision from './tenant.provision/handler.ts';
import proxyApply from './proxy.apply/handler.ts';
import websiteApply from './website.apply/handler.ts';
import websiteDelete from './website.delete/handler.ts';
import websiteDeploy from './website.deploy/handler.ts';
import certIssue from './cert.issue/handler.ts';
import certRenew from './cert.renew/handler.ts';
import healthCheckCertificate from './health.check.certificate/handler.ts';

/** One handler per operation; `up handler <ops...>` picks from here. */
export const handlers: readonly Handler[] = [systemPing as Handler, hostKeyscan as Handler, hostProbe as Handler, hostPrepare as Handler, hostUpdate as Handler,
  dnsZoneCreate as Handler, dnsZoneDelete as Handler, dnsRecordsApply as Handler, dnsZoneVerify as Handler,
  tenantProvision as Handler, tenantDeprovision as Handler,
  proxyApply as Handler, websiteApply as Handler, websiteDelete as Handler, websiteDeploy as Handler,
  certIssue as Handler, certRenew as Handler,
  healthCheckHost as Handler, healthCheckProxy as Handler, healthRepairProxy as Handler, healthCheckWebsite as Handler, healthRepairWebsite as Handler,
  healthCheckSecurity as Handler, healthRepairSecurity as Handler, healthCheckDnsZone as Handler, healthCheckCertificate as Handler];

export const handlerFor = (op: string): Handler | undefined => handlers.find((h) => h.op.name === op);
