/** DNS: servers (admin), zones and records kept in PostgreSQL and applied with RFC 2136. */
import { defineDomain } from '../domain.ts';
import { zoneChecks } from './health.ts';
import { bindSetupOf } from './plans.ts';
import { dnsObservers } from './observers.ts';
import { dnsReplanners } from './retry.ts';
import { OWNED_ZONE_KIND } from './zones.ts';

export default defineDomain({
  name: 'dns',
  description: 'DNS servers (admin), zones and records, applied with RFC 2136.',
  names: { ops: ['health.check.dns-zone'], why: 'health checks are named health.check.<resource type> across domains' },
  routes: async () => {
    const [{ dnsRoutes }, { dnsRecordRoutes }, { dnsAssignRoutes }] = await Promise.all([
      import('./routes.ts'),
      import('./records.ts'),
      import('./assign.ts'),
    ]);
    return [dnsRoutes, dnsRecordRoutes, dnsAssignRoutes];
  },
  observers: dnsObservers,
  unobserved: { 'dns.server.setup': 'BIND is set up; the zone jobs that follow need nothing stored' },
  checks: [zoneChecks],
  owned: [OWNED_ZONE_KIND],
  retries: dnsReplanners,
  // BIND on the primary host of a DNS server, once its packages are installed.
  roles: [{ role: 'dns', packages: ['bind9', 'bind9-dnsutils'], ports: [53], setup: bindSetupOf }],
});
