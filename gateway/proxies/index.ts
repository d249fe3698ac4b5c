/** Proxy groups: nginx reverse proxies (admin) with a wildcard domain, whose members serve every site of the group. */
import { wantedProxyRecords } from '../dns/managed.ts';
import { defineDomain } from '../domain.ts';
import { proxyChecks } from './health.ts';
import { proxyObservers } from './observers.ts';

export default defineDomain({
  name: 'proxies',
  description: 'Proxy groups: nginx hosts serving a wildcard domain (admin).',
  names: {
    ops: ['proxy.apply', 'health.check.proxy', 'health.repair.proxy'],
    why: 'operations are resource.verb in the singular; health operations are named health.<verb>.<resource type>',
  },
  routes: async () => [(await import('./routes.ts')).proxyRoutes],
  observers: proxyObservers,
  checks: [proxyChecks],
  // certbot runs on the members: HTTP-01 through their nginx, DNS-01 through RFC 2136.
  // The wildcard domain (and *.wildcard) in an admin's zone points at the group.
  recordManagers: [{ kind: 'proxy', table: 'proxy_groups', label: 'proxy group', change: 'the proxy group', wanted: wantedProxyRecords }],
  roles: [{ role: 'proxy', packages: ['nginx', 'certbot', 'python3-certbot-dns-rfc2136'], ports: [80, 443] }],
});
