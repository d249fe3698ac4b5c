import type { Operation } from './operation.ts';
import { hostKeyscan } from './ops/host-keyscan.ts';
import { hostPrepare } from './ops/host-prepare.ts';
import { hostProbe } from './ops/host-probe.ts';
import { hostUpdate } from './ops/host-update.ts';
import { systemPing } from './ops/system-ping.ts';
import { healthCheckHost } from './ops/health.ts';
import { healthWebOperations } from './ops/health-web.ts';
import { healthCheckDnsZone } from './ops/health-dns.ts';
import { healthCheckSecurity, healthRepairSecurity } from './ops/health-security.ts';
import { dnsOperations } from './ops/dns.ts';
import { tenantDeprovision, tenantProvision } from './ops/tenant.ts';
import { proxyApply } from './ops/proxy.ts';
import { websiteApply, websiteDelete, websiteDeploy } from './ops/website.ts';
import { certIssue, certRenew } from './ops/cert.ts';
import { healthCheckCertificate } from './ops/health-cert.ts';

/** Every operation `up` knows. Adding one here adds its queues, its validation and its docs. */
export const operations: readonly Operation[] = [systemPing, hostKeyscan, hostProbe, hostPrepare, hostUpdate, ...dnsOperations, tenantProvision, tenantDeprovision, proxyApply, websiteApply, websiteDelete, websiteDeploy, certIssue, certRenew, healthCheckHost, ...healthWebOperations, healthCheckSecurity, healthRepairSecurity, healthCheckDnsZone, healthCheckCertificate];

const byName = new Map(operations.map((op) => [op.name, op]));

export function findOperation(name: string): Operation | undefined {
  return byName.get(name);
}

export function getOperation(name: string): Operation {
  const op = byName.get(name);
  if (!op) throw new Error(`unknown operation "${name}"`);
  return op;
}

/** Expand names and globs (`system.*`, `*`) into catalogue entries; unknown names are an error. */
export function selectOperations(patterns: readonly string[]): Operation[] {
  const chosen = new Set<Operation>();
  for (const pattern of patterns) {
    const re = new RegExp(`^${pattern.split('*').map(escapeRegExp).join('.*')}$`);
    const matched = operations.filter((op) => re.test(op.name));
    if (matched.length === 0) throw new Error(`no operation matches "${pattern}" (known: ${operations.map((o) => o.name).join(', ')})`);
    matched.forEach((op) => chosen.add(op));
  }
  return [...chosen];
}

const escapeRegExp = (s: string) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
